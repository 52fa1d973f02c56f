package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// localTasks is a scaler.Runner that runs web servers in this process
// instead of Mesos tasks: SetDesired starts servers and adds them to the
// balancer, or drains the newest ones, waits until they are idle, removes
// them and stops them. It stands in for the Mesos scheduler so the example
// runs anywhere.
type localTasks struct {
	bal lb.Balancer
	log *slog.Logger

	mu      sync.Mutex // serialises SetDesired
	state   sync.Mutex // guards the fields below
	desired int
	live    []*localTask
	seq     int
	nchange int
}

type localTask struct {
	id  string
	srv *http.Server
}

var _ scaler.Runner = (*localTasks)(nil)

func newLocalTasks(bal lb.Balancer, log *slog.Logger) *localTasks {
	return &localTasks{bal: bal, log: log}
}

// Status implements scaler.Runner.
func (t *localTasks) Status(ctx context.Context) (scaler.Status, error) {
	if err := ctx.Err(); err != nil {
		return scaler.Status{}, err
	}
	t.state.Lock()
	defer t.state.Unlock()
	return scaler.Status{Desired: t.desired, Running: len(t.live)}, nil
}

func (t *localTasks) running() int {
	t.state.Lock()
	defer t.state.Unlock()
	return len(t.live)
}

func (t *localTasks) changes() int {
	t.state.Lock()
	defer t.state.Unlock()
	return t.nchange
}

// SetDesired implements scaler.Runner. It returns once the pool has the
// count: starting a server and draining one each take milliseconds here.
func (t *localTasks) SetDesired(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("local tasks: desired %d is negative: %w", n, lb.ErrInvalid)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.Lock()
	t.desired = n
	have := len(t.live)
	t.state.Unlock()
	for ; have < n; have++ {
		if err := t.start(ctx); err != nil {
			return err
		}
	}
	for ; have > n; have-- {
		if err := t.stopNewest(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *localTasks) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("local tasks: %w", err)
	}
	t.state.Lock()
	t.seq++
	id := fmt.Sprintf("web-%d", t.seq)
	t.state.Unlock()
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "served by %s\n", id)
	})}
	go func() { _ = srv.Serve(ln) }()
	be := lb.Backend{ID: id, Addr: ln.Addr().(*net.TCPAddr).AddrPort()}
	be.Addr = netip.AddrPortFrom(be.Addr.Addr().Unmap(), be.Addr.Port())
	if err := t.bal.Add(ctx, be); err != nil {
		_ = srv.Close()
		return fmt.Errorf("local tasks: %w", err)
	}
	t.state.Lock()
	t.live = append(t.live, &localTask{id: id, srv: srv})
	t.nchange++
	t.state.Unlock()
	t.log.Info("pool: backend added", "backend", id, "addr", be.Addr.String())
	return nil
}

// stopNewest drains the newest task, waits (up to 10 s) until the balancer
// reports it idle, then removes it and stops its server.
func (t *localTasks) stopNewest(ctx context.Context) error {
	t.state.Lock()
	if len(t.live) == 0 {
		t.state.Unlock()
		return nil
	}
	victim := t.live[len(t.live)-1]
	t.state.Unlock()
	if err := t.bal.Drain(ctx, victim.id); err != nil {
		return fmt.Errorf("local tasks: %w", err)
	}
	start := time.Now()
	for deadline := start.Add(10 * time.Second); time.Now().Before(deadline); {
		n, err := lb.ActiveConns(ctx, t.bal, victim.id)
		if err != nil || n == 0 {
			break // idle, or the balancer cannot tell: remove now
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := t.bal.Remove(ctx, victim.id); err != nil {
		return fmt.Errorf("local tasks: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = victim.srv.Shutdown(sctx)
	t.state.Lock()
	t.live = t.live[:len(t.live)-1]
	t.nchange++
	t.state.Unlock()
	t.log.Info("pool: backend removed", "backend", victim.id, "drained_for", time.Since(start).Round(time.Millisecond))
	return nil
}

// stopAll stops every server (at exit; the balancer is closed anyway).
func (t *localTasks) stopAll() {
	t.state.Lock()
	defer t.state.Unlock()
	for _, lt := range t.live {
		_ = lt.srv.Close()
	}
	t.live = nil
}
