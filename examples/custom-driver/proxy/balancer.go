package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Config configures a [Balancer]. The zero Config is valid.
type Config struct {
	// Transport carries requests to the backends. If nil, a clone of
	// http.DefaultTransport keeping up to 64 idle connections per backend.
	Transport http.RoundTripper
	// Logger receives one line per proxy error. If nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock for Stats.At. If nil, time.Now.
	Now func() time.Time
}

// Balancer is an in-process HTTP reverse proxy whose pool webfarm manages.
type Balancer struct {
	transport http.RoundTripper
	log       *slog.Logger
	now       func() time.Time
	proxy     *httputil.ReverseProxy

	requests atomic.Uint64 // accepted by ServeHTTP
	active   atomic.Int64  // in flight in ServeHTTP

	mu     sync.Mutex
	pool   map[string]*backend
	order  []*backend // insertion order, for a stable rotation
	closed bool
}

// backend is one pool member. Its counters are atomics so a request in
// flight can update them after the backend has left the pool.
type backend struct {
	b       lb.Backend
	state   lb.State
	weight  int
	current int // smooth weighted round robin state

	served atomic.Uint64
	active atomic.Int64
}

var (
	_ lb.Balancer    = (*Balancer)(nil)
	_ lb.ConnCounter = (*Balancer)(nil)
	_ lb.Weighter    = (*Balancer)(nil)
	_ io.Closer      = (*Balancer)(nil)
	_ http.Handler   = (*Balancer)(nil)
)

// defaultWeight is a new backend's weight.
const defaultWeight = 1

// ctxKey carries the chosen backend from ServeHTTP to the proxy's Rewrite.
type ctxKey struct{}

// New returns a Balancer with an empty pool. It does no I/O; ctx is
// checked so that New fits the constructor shape drivers share.
func New(ctx context.Context, cfg Config) (*Balancer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("proxy: new: %w", err)
	}
	b := &Balancer{transport: cfg.Transport, log: cfg.Logger, now: cfg.Now, pool: make(map[string]*backend)}
	if b.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		t.MaxIdleConns = 1024
		b.transport = t
	}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.now == nil {
		b.now = time.Now
	}
	b.proxy = &httputil.ReverseProxy{
		Transport: b.transport,
		Rewrite: func(r *httputil.ProxyRequest) {
			be := r.In.Context().Value(ctxKey{}).(*backend)
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = be.b.Addr.String()
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			be := r.Context().Value(ctxKey{}).(*backend)
			if r.Context().Err() == nil {
				b.log.Warn("proxy: backend failed", "backend", be.b.String(), "err", err)
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return b, nil
}

// ServeHTTP sends the request to the next ready backend.
func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	b.active.Add(1)
	defer b.active.Add(-1)
	be, err := b.pick()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	be.served.Add(1)
	defer be.active.Add(-1) // pick counted it in flight
	b.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, be)))
}

// pick chooses a ready backend by smooth weighted round robin (as nginx
// does) and counts a request in flight on it.
func (b *Balancer) pick() (*backend, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("proxy: %w", lb.ErrClosed)
	}
	var best *backend
	total := 0
	for _, be := range b.order {
		if be.state != lb.StateReady || be.weight == 0 {
			continue
		}
		be.current += be.weight
		total += be.weight
		if best == nil || be.current > best.current {
			best = be
		}
	}
	if best == nil {
		return nil, errors.New("proxy: no ready backend")
	}
	best.current -= total
	best.active.Add(1)
	return best, nil
}

// lock checks ctx and takes the pool lock; it fails on a closed balancer.
func (b *Balancer) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("proxy: %s: %w", op, err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("proxy: %s: %w", op, lb.ErrClosed)
	}
	return nil
}

// Close empties the pool; afterwards every method fails with lb.ErrClosed
// and ServeHTTP answers 503. Requests in flight finish. Close is
// idempotent.
func (b *Balancer) Close() error {
	b.mu.Lock()
	b.closed = true
	b.pool, b.order = map[string]*backend{}, nil
	b.mu.Unlock()
	if t, ok := b.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}
