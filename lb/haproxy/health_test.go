package haproxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// TestHealthChecks adds a live and a dead server with health checks on: the
// dead one must be marked down and get no traffic, the live one must serve.
func TestHealthChecks(t *testing.T) {
	needHAProxy(t)
	farm := newWebFarm(t, 1)
	// A port nobody listens on: bind, note, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := netip.MustParseAddrPort(l.Addr().String())
	l.Close()

	// Checks every 50 ms, but each may take 5 s: a loaded machine must not
	// fail the live server.
	p := startProc(t, haproxyproc.Config{BackendLines: []string{"timeout check 5s"}})
	b := connect(t, p, Config{HealthCheck: true, ServerOptions: DefaultServerOptions + " check inter 50ms fall 1 rise 1"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	live := lb.Backend{ID: "live", Addr: farm.addr(0)}
	gone := lb.Backend{ID: "dead", Addr: dead}
	for _, bk := range []lb.Backend{live, gone} {
		if err := b.Add(ctx, bk); err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the first checks: bounded by ctx, polled.
	for {
		r, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Backends["dead"].State == lb.StateDown && r.Backends["live"].State == lb.StateReady {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("health checks never settled: %+v", r.Backends)
		case <-time.After(20 * time.Millisecond):
		}
	}
	ok, err := get(ctx, p.URL(), 20)
	if err != nil || ok != 20 {
		t.Errorf("%d of 20 requests answered 200 (%v): the dead server must get no traffic", ok, err)
	}
	if err := b.Remove(ctx, "dead"); err != nil {
		t.Errorf("Remove(dead) = %v", err)
	}
}
