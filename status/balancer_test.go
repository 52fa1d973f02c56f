package status

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

func TestWatchConforms(t *testing.T) {
	lbtest.Run(t, func(t *testing.T) lb.Balancer {
		b, err := NewBoard(Options{Logger: logLines(&bytes.Buffer{})})
		if err != nil {
			t.Fatal(err)
		}
		w := b.Watch(lbtest.NewMemory())
		t.Cleanup(func() { _ = lb.Close(w) })
		return w
	})
}

// bare hides Memory's optional interfaces.
type bare struct{ lb.Balancer }

type onlyConns struct {
	lb.Balancer
	lb.ConnCounter
}

type onlyWeights struct {
	lb.Balancer
	lb.Weighter
}

type onlyResume struct {
	lb.Balancer
	lb.Resumer
}

type connsResume struct {
	lb.Balancer
	lb.ConnCounter
	lb.Resumer
}

func TestWatchKeepsOptionalInterfaces(t *testing.T) {
	m := lbtest.NewMemory()
	tests := []struct {
		name                  string
		bal                   lb.Balancer
		conns, weight, resume bool
	}{
		{"none", bare{m}, false, false, false},
		{"conn counter only", onlyConns{m, m}, true, false, false},
		{"weighter only", onlyWeights{m, m}, false, true, false},
		{"resumer only", onlyResume{m, m}, false, false, true},
		{"conn counter and resumer", connsResume{m, m, m}, true, false, true},
		{"all three", m, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t, newClock())
			w := b.Watch(tc.bal)
			if _, ok := w.(lb.ConnCounter); ok != tc.conns {
				t.Errorf("Watch(%T) implements lb.ConnCounter = %v, want %v", tc.bal, ok, tc.conns)
			}
			if _, ok := w.(lb.Weighter); ok != tc.weight {
				t.Errorf("Watch(%T) implements lb.Weighter = %v, want %v", tc.bal, ok, tc.weight)
			}
			if _, ok := w.(lb.Resumer); ok != tc.resume {
				t.Errorf("Watch(%T) implements lb.Resumer = %v, want %v", tc.bal, ok, tc.resume)
			}
		})
	}
}

func TestWatchMembershipTimeline(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	var logs bytes.Buffer
	b := newBoardLog(t, c, logLines(&logs))
	m := lbtest.NewMemory()
	w := b.Watch(m)
	be := lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("127.0.0.1:31001")}
	be2 := lb.Backend{ID: "web-2", Addr: netip.MustParseAddrPort("127.0.0.1:31002")}

	for _, x := range []lb.Backend{be, be, be2} { // the second Add is idempotent: no new line
		if err := w.Add(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	m.Serve(10)
	if _, err := w.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	s := b.Snapshot()
	if len(s.Pool) != 2 || s.Pool[0].ID != "web-1" || s.Pool[0].Addr != "127.0.0.1:31001" || s.Pool[0].State != "ready" {
		t.Fatalf("pool = %+v, want web-1 and web-2 ready with their addresses", s.Pool)
	}
	if s.Pool[0].Requests+s.Pool[1].Requests != 10 {
		t.Errorf("pool requests = %d + %d, want 10 served", s.Pool[0].Requests, s.Pool[1].Requests)
	}

	if err := w.Drain(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(ctx, be.ID); err != nil { // idempotent: the drain clock is not restarted
		t.Fatal(err)
	}
	c.Advance(1500 * time.Millisecond)
	if _, err := w.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().Pool[0].State; got != "draining" {
		t.Errorf("web-1 state after Drain = %q, want draining", got)
	}
	if err := w.Remove(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Remove(ctx, be.ID); err != nil { // idempotent: no second line
		t.Fatal(err)
	}
	if err := w.Drain(ctx, "nope"); !errors.Is(err, lb.ErrNotFound) {
		t.Errorf("Drain(unknown) through Watch = %v, want lb.ErrNotFound passed through", err)
	}

	out := logs.String()
	for _, want := range []struct {
		sub string
		n   int
	}{
		{`msg="pool: backend added" backend=web-1 addr=127.0.0.1:31001`, 1},
		{`msg="pool: backend added" backend=web-2`, 1},
		{`msg="pool: backend draining" backend=web-1`, 1},
		{`msg="pool: backend removed" backend=web-1 drained_for=1.5s`, 1},
		{`pool: backend`, 4},
	} {
		if got := countLines(out, want.sub); got != want.n {
			t.Errorf("log has %d lines with %q, want %d; log:\n%s", got, want.sub, want.n, out)
		}
	}
	if got := value(t, b.m.drain); got != 1 {
		t.Errorf("drain histogram count = %v, want 1", got)
	}
	if got := b.Snapshot().Counts; got.Adds != 2 || got.Drains != 1 || got.Removes != 1 {
		t.Errorf("counts = %+v, want 2 adds, 1 drain, 1 remove", got)
	}
	if got := value(t, b.m.membership.WithLabelValues("add")); got != 2 {
		t.Errorf("membership_changes_total{op=add} = %v, want 2", got)
	}
	if pool := b.Snapshot().Pool; len(pool) != 1 || pool[0].ID != "web-2" {
		t.Errorf("pool after removing web-1 = %+v, want only web-2", pool)
	}
}

func TestWatchStatsErrors(t *testing.T) {
	ctx := context.Background()
	b := newBoard(t, newClock())
	m := lbtest.NewMemory()
	w := b.Watch(m)
	m.FailStats(errors.New("socket gone"))
	if _, err := w.Stats(ctx); err == nil {
		t.Fatal("Stats through Watch with a failing balancer: got nil error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = w.Stats(cctx) // a cancelled poll is not a balancer error
	if got := value(t, b.m.statsErrors); got != 1 {
		t.Errorf("balancer_stats_errors_total = %v, want 1", got)
	}
	if got := b.Snapshot().Counts.StatsErrors; got != 1 {
		t.Errorf("Counts.StatsErrors = %d, want 1", got)
	}
}

func TestWatchAdoptedBackend(t *testing.T) {
	ctx := context.Background()
	m := lbtest.NewMemory()
	be := lb.Backend{ID: "old", Addr: netip.MustParseAddrPort("127.0.0.1:31009")}
	if err := m.Add(ctx, be); err != nil { // in the balancer before the board watched it
		t.Fatal(err)
	}
	b := newBoard(t, newClock())
	w := b.Watch(m)
	if _, err := w.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Backends(ctx); err != nil {
		t.Fatal(err)
	}
	if pool := b.Snapshot().Pool; len(pool) != 1 || pool[0].Addr != "127.0.0.1:31009" {
		t.Errorf("pool = %+v, want the adopted backend with its address", pool)
	}
}

func TestWatchResume(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	var logs bytes.Buffer
	b := newBoardLog(t, c, logLines(&logs))
	w := b.Watch(lbtest.NewMemory())
	be := lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("127.0.0.1:31001")}
	if err := w.Add(ctx, be); err != nil {
		t.Fatal(err)
	}
	if err := w.Drain(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	if err := lb.Resume(ctx, w, be.ID); err != nil {
		t.Fatalf("Resume through Watch: %v", err)
	}
	if err := lb.Resume(ctx, w, be.ID); err != nil { // resuming a ready backend: no change, no line
		t.Fatalf("second Resume through Watch: %v", err)
	}
	if err := lb.Resume(ctx, w, "nope"); !errors.Is(err, lb.ErrNotFound) {
		t.Errorf("Resume(unknown) through Watch = %v, want lb.ErrNotFound passed through", err)
	}
	if _, err := w.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Snapshot().Pool[0].State; got != "ready" {
		t.Errorf("web-1 state after Resume = %q, want ready", got)
	}
	// A second drain after the resume starts the drain clock again.
	if err := w.Drain(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	c.Advance(700 * time.Millisecond)
	if err := w.Remove(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []struct {
		sub string
		n   int
	}{
		{`msg="pool: backend resumed" backend=web-1`, 1},
		{`msg="pool: backend draining" backend=web-1`, 2},
		{`msg="pool: backend removed" backend=web-1 drained_for=700ms`, 1},
	} {
		if got := countLines(out, want.sub); got != want.n {
			t.Errorf("log has %d lines with %q, want %d; log:\n%s", got, want.sub, want.n, out)
		}
	}
}
