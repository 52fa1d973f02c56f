package haproxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/testenv"
)

// needHAProxy skips tests that start haproxy under -short or when it is
// missing (make test installs it).
func needHAProxy(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts haproxy; skipped with -short")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
}

// quiet is a logger for tests: warnings and errors only.
func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// webFarm is a set of local HTTP backends that count what they serve.
type webFarm struct {
	servers []*httptest.Server
	hits    []atomic.Int64
	// cut counts requests whose connection closed while the backend was
	// still serving them. A client may not see these (Go's transport
	// silently retries a GET whose reused connection closed), so tests
	// check this counter too.
	cut atomic.Int64
	// conns counts the connections the backends accepted (HAProxy's
	// server-side connections).
	conns atomic.Int64
}

func newWebFarm(t testing.TB, n int) *webFarm { return newSlowFarm(t, n, 0) }

// newSlowFarm is newWebFarm whose backends take delay to answer (service
// time, so that requests are in flight when the pool changes).
func newSlowFarm(t testing.TB, n int, delay time.Duration) *webFarm {
	t.Helper()
	f := &webFarm{hits: make([]atomic.Int64, n)}
	for i := range n {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.hits[i].Add(1)
			if delay > 0 {
				t := time.NewTimer(delay)
				defer t.Stop()
				select {
				case <-t.C:
				case <-r.Context().Done():
					f.cut.Add(1)
					return
				}
			}
			_, _ = io.WriteString(w, "ok\n")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				f.conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		f.servers = append(f.servers, srv)
	}
	return f
}

func (f *webFarm) addr(i int) netip.AddrPort {
	return netip.MustParseAddrPort(strings.TrimPrefix(f.servers[i%len(f.servers)].URL, "http://"))
}

// startProc starts a haproxy for t with quiet logging.
func startProc(t testing.TB, cfg haproxyproc.Config) *haproxyproc.Proc {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	return haproxyproc.StartTest(t, cfg)
}

// connect connects a Balancer to p and closes it in t.Cleanup.
func connect(t testing.TB, p *haproxyproc.Proc, cfg Config) *Balancer {
	t.Helper()
	if cfg.Socket == "" {
		cfg.Socket = p.Socket()
	}
	if cfg.Backend == "" {
		cfg.Backend = p.Backend()
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// get sends n requests through url on one keep-alive client and returns
// how many answered 200.
func get(ctx context.Context, url string, n int) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	ok := 0
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return ok, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return ok, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			ok++
		}
	}
	return ok, nil
}
