package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webfarm/webfarm/examples/custom-driver/load"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// servers starts n loopback HTTP backends that answer with their index and
// count what they served.
func servers(t testing.TB, n int, delay time.Duration) ([]netip.AddrPort, []*atomic.Int64) {
	t.Helper()
	addrs := make([]netip.AddrPort, n)
	counts := make([]*atomic.Int64, n)
	for i := range n {
		c := new(atomic.Int64)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.Add(1)
			if delay > 0 {
				time.Sleep(delay) // a backend's service time, not a test assertion
			}
			fmt.Fprintf(w, "backend %d\n", i)
		}))
		t.Cleanup(srv.Close)
		addrs[i] = netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
		counts[i] = c
	}
	return addrs, counts
}

// front serves b on loopback and returns its URL.
func front(t testing.TB, b *Balancer) string {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func newBalancer(t *testing.T) *Balancer {
	t.Helper()
	b, err := New(context.Background(), Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConformance runs webfarm's driver conformance suite against the proxy,
// with real backends behind it and real traffic between Stats readings.
func TestConformance(t *testing.T) {
	addrs, _ := servers(t, 4, 0)
	var urls sync.Map // lb.Balancer → the URL it serves on
	lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
		b := newBalancer(t)
		urls.Store(lb.Balancer(b), front(t, b))
		return b
	}, lbtest.Config{
		Addr: func(i int) netip.AddrPort { return addrs[i%len(addrs)] },
		Traffic: func(ctx context.Context, b lb.Balancer) (int, error) {
			url, ok := urls.Load(b)
			if !ok {
				return 0, fmt.Errorf("no front for %T %p", b, b)
			}
			const n = 5
			for i := range n {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url.(string), nil)
				if err != nil {
					return i, err
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return i, err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			return n, nil
		},
		// Lag zero: the proxy counts a request before it forwards it.
	})
}

func TestWeightedRoundRobin(t *testing.T) {
	ctx := context.Background()
	addrs, counts := servers(t, 2, 0)
	b := newBalancer(t)
	url := front(t, b)
	for i, a := range addrs {
		if err := b.Add(ctx, lb.Backend{ID: fmt.Sprintf("web-%d", i), Addr: a}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.SetWeight(ctx, "web-1", 3); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if code, _ := get(t, url); code != 200 {
			t.Fatalf("GET = %d, want 200", code)
		}
	}
	if a, c := counts[0].Load(), counts[1].Load(); a != 10 || c != 30 {
		t.Errorf("weights 1:3 over 40 requests served %d:%d, want 10:30", a, c)
	}
	if err := b.SetWeight(ctx, "web-1", 0); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		get(t, url)
	}
	if got := counts[1].Load(); got != 30 {
		t.Errorf("weight 0 backend served %d more requests, want none", got-30)
	}
	s, _ := b.Stats(ctx)
	if st := s.Backends["web-1"].State; st != lb.StateDraining {
		t.Errorf("Stats state of a weight-0 backend = %s, want draining", st)
	}
}

func TestErrorsAnswered(t *testing.T) {
	ctx := context.Background()
	b := newBalancer(t)
	url := front(t, b)
	if code, body := get(t, url); code != http.StatusServiceUnavailable || !strings.Contains(body, "no ready backend") {
		t.Errorf("empty pool: GET = %d %q, want 503 no ready backend", code, body)
	}
	// A backend nobody listens on: 502, and the failure is counted on it.
	dead := netip.MustParseAddrPort("127.0.0.1:1")
	if err := b.Add(ctx, lb.Backend{ID: "dead", Addr: dead}); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, url); code != http.StatusBadGateway {
		t.Errorf("unreachable backend: GET = %d, want 502", code)
	}
	s, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 2 || s.Backends["dead"].Requests != 1 || s.Active != 0 {
		t.Errorf("Stats = %+v, want 2 requests accepted, 1 sent to dead, none active", s)
	}
}

func TestDrainLetsRequestsInFlightFinish(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "slow done")
	}))
	defer slow.Close()
	fast, _ := servers(t, 1, 0)
	b := newBalancer(t)
	url := front(t, b)
	if err := b.Add(ctx, lb.Backend{ID: "slow", Addr: netip.MustParseAddrPort(strings.TrimPrefix(slow.URL, "http://"))}); err != nil {
		t.Fatal(err)
	}

	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			done <- result{0, err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(body)}
	}()
	<-started
	if err := b.Add(ctx, lb.Backend{ID: "fast", Addr: fast[0]}); err != nil {
		t.Fatal(err)
	}
	if err := b.Drain(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.ActiveConns(ctx, "slow"); n != 1 || err != nil {
		t.Errorf("ActiveConns(slow) while its request is in flight = %d, %v, want 1", n, err)
	}
	for range 5 { // new requests avoid the draining backend
		if code, body := get(t, url); code != 200 || body != "backend 0\n" {
			t.Errorf("GET while slow drains = %d %q, want the fast backend", code, body)
		}
	}
	close(release)
	if r := <-done; r.code != 200 || r.body != "slow done" {
		t.Errorf("request in flight on the drained backend = %d %q, want 200 slow done", r.code, r.body)
	}
	if n, err := b.ActiveConns(ctx, "slow"); n != 0 || err != nil {
		t.Errorf("ActiveConns(slow) after its request = %d, %v, want 0", n, err)
	}
}

func TestClose(t *testing.T) {
	ctx := context.Background()
	b := newBalancer(t)
	url := front(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	be := lb.Backend{ID: "x", Addr: netip.MustParseAddrPort("127.0.0.1:2")}
	calls := map[string]error{
		"Add":    b.Add(ctx, be),
		"Drain":  b.Drain(ctx, "x"),
		"Remove": b.Remove(ctx, "x"),
	}
	_, calls["Stats"] = b.Stats(ctx)
	_, calls["Backends"] = b.Backends(ctx)
	for name, err := range calls {
		if !errors.Is(err, lb.ErrClosed) {
			t.Errorf("%s after Close = %v, want lb.ErrClosed", name, err)
		}
	}
	if code, _ := get(t, url); code != http.StatusServiceUnavailable {
		t.Errorf("GET after Close = %d, want 503", code)
	}
}

// TestPoolChangesUnderLoad grows and shrinks the pool 24 times through the
// driver (add; drain, wait until idle, remove) while the load generator
// sends requests, and asserts that not one request failed.
func TestPoolChangesUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addrs, counts := servers(t, 4, time.Millisecond)
	b := newBalancer(t)
	url := front(t, b)
	id := func(i int) string { return fmt.Sprintf("web-%d", i) }
	if err := b.Add(ctx, lb.Backend{ID: id(0), Addr: addrs[0]}); err != nil {
		t.Fatal(err)
	}
	gen := load.Start(ctx, load.Config{URL: url, Workers: 8, Rate: func(time.Duration) float64 { return 400 }, Duration: 4 * time.Second, MaxRequests: 5000})

	var changes int
	var mu sync.Mutex
	in := map[int]bool{0: true}
	for round := 0; changes < 24; round++ {
		i := 1 + round%3
		mu.Lock()
		if !in[i] {
			if err := b.Add(ctx, lb.Backend{ID: id(i), Addr: addrs[i]}); err != nil {
				t.Fatal(err)
			}
			in[i] = true
		} else {
			if err := b.Drain(ctx, id(i)); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Second); ; {
				n, err := b.ActiveConns(ctx, id(i))
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still has %d requests in flight 5s after Drain", id(i), n)
				}
				time.Sleep(time.Millisecond)
			}
			if err := b.Remove(ctx, id(i)); err != nil {
				t.Fatal(err)
			}
			in[i] = false
		}
		changes++
		mu.Unlock()
		select {
		case <-time.After(100 * time.Millisecond):
		case <-gen.Done():
			t.Fatalf("load ended after %d pool changes, want 24 under load", changes)
		}
	}
	res, err := gen.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d pool changes under load: %s", changes, res)
	if res.Failed != 0 || res.OK < 500 {
		t.Errorf("load through the proxy during %d pool changes: %s; want 0 failed and ≥ 500 ok", changes, res)
	}
	for i := 1; i < 4; i++ {
		if counts[i].Load() == 0 {
			t.Errorf("backend %d served nothing while it was in the pool", i)
		}
	}
}
