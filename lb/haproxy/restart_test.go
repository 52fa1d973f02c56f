package haproxy

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// TestRestartsReal covers both restarts against a real haproxy: the
// driver's own (a new Balancer adopts the servers, under their IDs), and
// HAProxy's (the next reading says Restarted; with Restore the servers
// come back and serve).
func TestRestartsReal(t *testing.T) {
	needHAProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	farm := newWebFarm(t, 3)
	p := startProc(t, haproxyproc.Config{})
	b := connect(t, p, Config{Restore: true})
	pool := []lb.Backend{
		{ID: "web.1", Addr: farm.addr(0)},
		{ID: "mesos task/2 é", Addr: farm.addr(1)},                   // needs escapes
		{ID: strings.Repeat("long-task-id.", 8), Addr: farm.addr(2)}, // hashed name
	}
	for _, bk := range pool {
		if err := b.Add(ctx, bk); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Drain(ctx, pool[2].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := get(ctx, p.URL(), 10); err != nil {
		t.Fatal(err)
	}
	var err error
	// HAProxy counts a request when its stream ends, which can be just
	// after the client has read the answer: read until the 10 are in.
	var first Reading
	for deadline := time.Now().Add(2 * time.Second); ; {
		if first, err = b.Read(ctx); err != nil {
			t.Fatal(err)
		}
		if first.Requests >= 10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if first.Restarted || first.Requests < 10 || first.PID != p.WorkerPID() {
		t.Fatalf("first reading = %+v, want no restart, ≥ 10 requests, pid %d", first, p.WorkerPID())
	}

	t.Run("driver restart adopts", func(t *testing.T) {
		b2 := connect(t, p, Config{})
		got, err := b2.Backends(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The hashed name cannot be read back: it is listed by name until
		// an Add of its ID claims it.
		want := []lb.Backend{pool[0], pool[1], {ID: serverName(pool[2].ID), Addr: pool[2].Addr}}
		if !sameBackends(got, want) {
			t.Fatalf("Backends after the driver's restart = %v, want %v", got, want)
		}
		for _, bk := range pool {
			if err := b2.Add(ctx, bk); err != nil {
				t.Fatalf("Add(%s) of an adopted server = %v", bk, err)
			}
		}
		if got, _ := b2.Backends(ctx); !sameBackends(got, pool) {
			t.Errorf("Backends after re-adding = %v, want %v (no duplicates)", got, pool)
		}
		r, err := b2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Backends[pool[2].ID].State != lb.StateDraining {
			t.Errorf("adopted draining server: state %s, want draining", r.Backends[pool[2].ID].State)
		}
	})

	t.Run("haproxy restart detected and restored", func(t *testing.T) {
		if err := p.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Restarted || r.PID == first.PID {
			t.Fatalf("reading after restart: Restarted %v, pid %d (was %d); want a restart", r.Restarted, r.PID, first.PID)
		}
		if r.Restored != 2 {
			t.Errorf("Restored = %d, want the 2 servers that were not draining", r.Restored)
		}
		got, err := b.Backends(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sameBackends(got, pool[:2]) {
			t.Errorf("Backends after restore = %v, want %v", got, pool[:2])
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
		ok := 0
		for range 4 {
			resp, err := c.Get(p.URL())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
		if ok != 4 {
			t.Errorf("%d of 4 requests answered 200 after restore", ok)
		}
		r2, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Restarted {
			t.Error("the reading after the restart's reading says Restarted again")
		}
	})
}

func sameBackends(a, b []lb.Backend) bool {
	key := func(x lb.Backend) string { return x.ID + "@" + x.Addr.String() }
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i] = key(a[i])
	}
	for i := range b {
		kb[i] = key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}
