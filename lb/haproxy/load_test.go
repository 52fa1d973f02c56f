package haproxy

import (
	"context"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
)

// TestPoolChangesUnderLoad sends requests through a real haproxy to local
// HTTP backends while the driver grows the pool from 2 to 6 servers and
// shrinks it back, 24 times; not one request may fail. Backends take 5 ms
// per request, so requests are in flight on the servers being removed.
func TestPoolChangesUnderLoad(t *testing.T) {
	needHAProxy(t)
	const events = 24
	farm := newSlowFarm(t, 6, 5*time.Millisecond) // requests are in flight at every change
	p := startProc(t, haproxyproc.Config{})
	b := connect(t, p, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	way := &driverWay{b: b, farm: farm}
	if err := way.setPool(ctx, 2); err != nil {
		t.Fatal(err)
	}
	res, done, err := scaleRun{url: p.URL(), way: way, events: events, every: 250 * time.Millisecond, limit: 40 * time.Second, concurrency: 8}.run(ctx)
	t.Logf("%d pool changes under load: %s", done, res)
	if err != nil {
		t.Fatal(err)
	}
	if done != events {
		t.Fatalf("only %d of %d pool changes happened while the load ran", done, events)
	}
	if res.Failed != 0 || res.OK == 0 {
		t.Errorf("load through haproxy: %d failed of %d (%v), want 0 failed", res.Failed, res.Requests, res.Errors)
	}
	if n := farm.cut.Load(); n != 0 {
		t.Errorf("%d requests were cut off while a backend served them, want 0", n)
	}
	// Every backend served: the dynamic servers really took traffic.
	for i := range farm.hits {
		if farm.hits[i].Load() == 0 {
			t.Errorf("backend %d served nothing", i)
		}
	}
	// HAProxy's counters agree with the load: every request was counted,
	// and the per-server counters are filled.
	r, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests < uint64(res.OK) {
		t.Errorf("Stats.Requests = %d, want ≥ %d requests served", r.Requests, res.OK)
	}
	if len(r.Backends) != 2 {
		t.Errorf("Stats.Backends = %v, want the 2 servers left", r.Backends)
	}
	for id, bs := range r.Backends {
		if bs.Requests == 0 {
			t.Errorf("Stats.Backends[%s].Requests = 0, want the server's req_tot", id)
		}
	}
}
