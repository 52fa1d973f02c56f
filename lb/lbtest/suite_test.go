package lbtest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

func TestMemoryConforms(t *testing.T) {
	lbtest.Run(t, func(t *testing.T) lb.Balancer {
		m := lbtest.NewMemory()
		t.Cleanup(func() { _ = m.Close() })
		return m
	})
}

// server is what the self-test's traffic needs: Memory's Serve, which
// the broken balancers below promote or override.
type server interface{ Serve(n uint64) int }

// serve7 is Config.Traffic for Memory and the broken balancers built on
// it: 7 requests through b.
func serve7(_ context.Context, b lb.Balancer) (int, error) {
	s, ok := b.(server)
	if !ok {
		return 0, fmt.Errorf("%T cannot Serve", b)
	}
	s.Serve(7)
	return 7, nil
}

func TestMemoryConformsWithTraffic(t *testing.T) {
	lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
		return lbtest.NewMemory()
	}, lbtest.Config{Traffic: serve7})
}

// serve7Errors is Config.Traffic for Memory where the first ready
// backend answers 3 of the 7 requests with a 5xx, so that the suite's
// counter rules see Errors move.
func serve7Errors(ctx context.Context, b lb.Balancer) (int, error) {
	m := b.(*lbtest.Memory)
	pool, err := m.Backends(ctx)
	if err != nil {
		return 0, err
	}
	for _, be := range pool {
		if m.ServeErrors(be.ID, 3) {
			m.Serve(4)
			return 7, nil
		}
	}
	m.Serve(7)
	return 7, nil
}

// TestMemoryConformsWithErrors: Memory's Errors (from ServeErrors) keep
// the counter rules: they never go down and never exceed Requests.
func TestMemoryConformsWithErrors(t *testing.T) {
	lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
		return lbtest.NewMemory()
	}, lbtest.Config{Traffic: serve7Errors})
}

// lagging counts what it serves only after delay, as a balancer whose
// counters trail the traffic does.
type lagging struct {
	*lbtest.Memory
	delay time.Duration
}

func (b lagging) Serve(n uint64) int {
	time.AfterFunc(b.delay, func() { b.Memory.Serve(n) })
	return 0
}

// TestLag: counters that trail the traffic pass within Config.Lag and
// fail the traffic check without it.
func TestLag(t *testing.T) {
	newLagging := func() (lb.Balancer, error) { return lagging{lbtest.NewMemory(), 50 * time.Millisecond}, nil }
	if err := lbtest.Check(context.Background(), newLagging, lbtest.Config{Traffic: serve7, Lag: 2 * time.Second}); err != nil {
		t.Errorf("counters 50ms behind with Config.Lag 2s: %v", err)
	}
	err := lbtest.Check(context.Background(), newLagging, lbtest.Config{Traffic: serve7})
	if err == nil || !strings.Contains(err.Error(), "TrafficCounted: ") {
		t.Errorf("counters 50ms behind with no Config.Lag: Check = %v, want a TrafficCounted failure", err)
	}
}

// TestTrafficMustSend: a Traffic that sends nothing cannot prove
// anything, and the suite says so.
func TestTrafficMustSend(t *testing.T) {
	err := lbtest.Check(context.Background(), func() (lb.Balancer, error) { return lbtest.NewMemory(), nil },
		lbtest.Config{Traffic: func(context.Context, lb.Balancer) (int, error) { return 0, nil }})
	if err == nil || !strings.Contains(err.Error(), "TrafficCounted: Config.Traffic returned 0 requests sent") {
		t.Errorf("Check with a Traffic that sends nothing = %v, want TrafficCounted to say so", err)
	}
}

// Each broken balancer breaks one rule of the contract; the suite must
// catch it and name the rule.
type (
	addNotIdempotent struct{ *lbtest.Memory }
	removeStrict     struct{ *lbtest.Memory }
	drainUnknownOK   struct{ *lbtest.Memory }
	ignoresContext   struct{ *lbtest.Memory }
	leaksAfterRemove struct {
		*lbtest.Memory
		mu      sync.Mutex
		removed []lb.Backend
	}
	countersBackwards struct {
		*lbtest.Memory
		mu sync.Mutex
		n  uint64
	}
	plainErrors   struct{ *lbtest.Memory }
	overwritesAdd struct{ *lbtest.Memory }
	resumeNoop    struct{ *lbtest.Memory }
	resumeUnknown struct{ *lbtest.Memory }

	frozenCounters  struct{ *lbtest.Memory }
	frozenBackends  struct{ *lbtest.Memory }
	undercounts     struct{ *lbtest.Memory }
	noSplit         struct{ *lbtest.Memory }
	phantomBackend  struct{ *lbtest.Memory }
	drainedReady    struct{ *lbtest.Memory }
	zeroAt          struct{ *lbtest.Memory }
	errorsOverReqs  struct{ *lbtest.Memory }
	queueMissed     struct{ *lbtest.Memory }
	errorsBackwards struct {
		*lbtest.Memory
		mu sync.Mutex
		n  int
	}
	drainStillServe struct {
		*lbtest.Memory
		mu      sync.Mutex
		drained map[string]bool
	}
)

// Stats never moves: the scaler would see no load.
func (b frozenCounters) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := frozenBackends(b).Stats(ctx)
	s.Requests = 0
	return s, err
}

// Stats.Requests moves, the per-backend counters do not.
func (b frozenBackends) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	for id, bs := range s.Backends {
		bs.Requests = 0
		s.Backends[id] = bs
	}
	return s, err
}

// Stats counts half of what was served.
func (b undercounts) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	s.Requests /= 2
	return s, err
}

// Stats puts every request on the first backend, as a driver that reads
// one server's counter for all would.
func (b noSplit) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	ids := slices.Sorted(maps.Keys(s.Backends))
	for i, id := range ids {
		bs := s.Backends[id]
		bs.Requests = 0
		if i == 0 {
			bs.Requests = s.Requests
		}
		s.Backends[id] = bs
	}
	return s, err
}

// Stats reports a backend nobody added.
func (b phantomBackend) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	if s.Backends != nil {
		s.Backends["lbtest-ghost"] = lb.BackendStats{State: lb.StateReady}
	}
	return s, err
}

// Stats reports drained backends as ready.
func (b drainedReady) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	for id, bs := range s.Backends {
		if bs.State == lb.StateDraining {
			bs.State = lb.StateReady
			s.Backends[id] = bs
		}
	}
	return s, err
}

// Stats.At is never set.
func (b zeroAt) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	s.At = time.Time{}
	return s, err
}

// Drain reports the backend draining but it keeps getting new requests.
func (b *drainStillServe) Drain(ctx context.Context, id string) error {
	if _, err := b.Memory.ActiveConns(ctx, id); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drained == nil {
		b.drained = map[string]bool{}
	}
	b.drained[id] = true
	return nil
}

func (b *drainStillServe) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, bs := range s.Backends {
		if b.drained[id] {
			bs.State = lb.StateDraining
			s.Backends[id] = bs
		}
	}
	return s, err
}

func (b *drainStillServe) Remove(ctx context.Context, id string) error {
	b.mu.Lock()
	delete(b.drained, id)
	b.mu.Unlock()
	return b.Memory.Remove(ctx, id)
}

// Resume claims success and leaves the backend draining.
func (b resumeNoop) Resume(ctx context.Context, id string) error {
	_, err := b.Memory.ActiveConns(ctx, id)
	return err
}

// Resume of an unknown ID succeeds.
func (b resumeUnknown) Resume(ctx context.Context, id string) error {
	if err := b.Memory.Resume(ctx, id); errors.Is(err, lb.ErrNotFound) {
		return nil
	} else {
		return err
	}
}

func (b addNotIdempotent) Add(ctx context.Context, be lb.Backend) error {
	if bs, _ := b.Memory.Backends(ctx); len(bs) > 0 {
		for _, x := range bs {
			if x.ID == be.ID {
				return errors.New("already there")
			}
		}
	}
	return b.Memory.Add(ctx, be)
}

func (b removeStrict) Remove(ctx context.Context, id string) error {
	bs, _ := b.Memory.Backends(ctx)
	for _, x := range bs {
		if x.ID == id {
			return b.Memory.Remove(ctx, id)
		}
	}
	return lb.ErrNotFound
}

func (b drainUnknownOK) Drain(ctx context.Context, id string) error {
	if err := b.Memory.Drain(ctx, id); errors.Is(err, lb.ErrNotFound) {
		return nil
	} else {
		return err
	}
}

func (b ignoresContext) Stats(context.Context) (lb.Stats, error) {
	return b.Memory.Stats(context.Background())
}

func (b *leaksAfterRemove) Remove(ctx context.Context, id string) error {
	bs, _ := b.Memory.Backends(ctx)
	for _, x := range bs {
		if x.ID == id {
			b.mu.Lock()
			b.removed = append(b.removed, x)
			b.mu.Unlock()
		}
	}
	return b.Memory.Remove(ctx, id)
}

func (b *leaksAfterRemove) Backends(ctx context.Context) ([]lb.Backend, error) {
	bs, err := b.Memory.Backends(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(bs, b.removed...), err
}

func (b *countersBackwards) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	s.Requests = 1000 - b.n
	return s, err
}

func (b plainErrors) Drain(ctx context.Context, id string) error {
	if err := b.Memory.Drain(ctx, id); err != nil {
		return fmt.Errorf("drain failed: %v", err) // %v loses the sentinel
	}
	return nil
}

// Each backend reports one more 5xx than the requests it served.
func (b errorsOverReqs) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	for id, bs := range s.Backends {
		bs.Errors = bs.Requests + 1
		s.Backends[id] = bs
	}
	return s, err
}

// The backends' own queues hold requests that Stats.Queued leaves out
// (as HAProxy's backend qcur alone would).
func (b queueMissed) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	for id, bs := range s.Backends {
		bs.Queued = 2
		s.Backends[id] = bs
	}
	return s, err
}

// Every other reading forgets the backends' 5xx counts.
func (b *errorsBackwards) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := b.Memory.Stats(ctx)
	b.mu.Lock()
	b.n++
	odd := b.n%2 == 1
	b.mu.Unlock()
	for id, bs := range s.Backends {
		if odd {
			bs.Errors = bs.Requests
		}
		s.Backends[id] = bs
	}
	return s, err
}

func (b overwritesAdd) Add(ctx context.Context, be lb.Backend) error {
	_ = b.Memory.Remove(ctx, be.ID)
	return b.Memory.Add(ctx, be)
}

func TestSuiteCatchesFaults(t *testing.T) {
	tests := []struct {
		name     string
		new      func() lb.Balancer
		wantCase string
		wantText string // what the failure must say, if set
	}{
		{"second Add fails", func() lb.Balancer { return addNotIdempotent{lbtest.NewMemory()} }, "AddIdempotent", ""},
		{"Remove of absent fails", func() lb.Balancer { return removeStrict{lbtest.NewMemory()} }, "RemoveIdempotent", ""},
		{"Drain of unknown succeeds", func() lb.Balancer { return drainUnknownOK{lbtest.NewMemory()} }, "UnknownID", ""},
		{"context ignored", func() lb.Balancer { return ignoresContext{lbtest.NewMemory()} }, "ContextCancelled", ""},
		{"removed backend still listed", func() lb.Balancer { return &leaksAfterRemove{Memory: lbtest.NewMemory()} }, "DrainThenRemove", ""},
		{"counter goes backwards", func() lb.Balancer { return &countersBackwards{Memory: lbtest.NewMemory()} }, "CountersMonotonic", ""},
		{"sentinel lost by %v", func() lb.Balancer { return plainErrors{lbtest.NewMemory()} }, "UnknownID", ""},
		{"conflicting Add overwrites", func() lb.Balancer { return overwritesAdd{lbtest.NewMemory()} }, "AddConflict", ""},
		{"Resume leaves it draining", func() lb.Balancer { return resumeNoop{lbtest.NewMemory()} }, "OptionalInterfaces", ""},
		{"Resume of unknown succeeds", func() lb.Balancer { return resumeUnknown{lbtest.NewMemory()} }, "UnknownID", ""},
		{"counters frozen", func() lb.Balancer { return frozenCounters{lbtest.NewMemory()} }, "TrafficCounted", "Stats().Requests rose by 0"},
		{"per-backend counters frozen", func() lb.Balancer { return frozenBackends{lbtest.NewMemory()} }, "TrafficCounted", "per-backend counters do not count the traffic"},
		{"total undercounts", func() lb.Balancer { return undercounts{lbtest.NewMemory()} }, "TrafficCounted", "Stats().Requests rose by 7 after Traffic sent 14"},
		{"counters do not split", func() lb.Balancer { return noSplit{lbtest.NewMemory()} }, "TrafficCounted", "must split across the ready backends"},
		{"phantom backend ID", func() lb.Balancer { return phantomBackend{lbtest.NewMemory()} }, "StatsBackends", "an ID never added"},
		{"drained reported ready", func() lb.Balancer { return drainedReady{lbtest.NewMemory()} }, "DrainIdempotent", "State = ready after Drain, want draining"},
		{"Stats.At zero", func() lb.Balancer { return zeroAt{lbtest.NewMemory()} }, "CountersMonotonic", "Stats().At is zero"},
		{"5xx count above requests", func() lb.Balancer { return errorsOverReqs{lbtest.NewMemory()} }, "CountersMonotonic", "more than its Requests"},
		{"backends' queues not in Queued", func() lb.Balancer { return queueMissed{lbtest.NewMemory()} }, "CountersMonotonic", "waiting in its Backends' own queues"},
		{"5xx count goes backwards", func() lb.Balancer { return &errorsBackwards{Memory: lbtest.NewMemory()} }, "CountersMonotonic", "Errors went from"},
		{"drained backend still served", func() lb.Balancer { return &drainStillServe{Memory: lbtest.NewMemory()} }, "TrafficCounted", "reached the drained backend"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := lbtest.Check(context.Background(), func() (lb.Balancer, error) { return tc.new(), nil }, lbtest.Config{Traffic: serve7})
			if err == nil {
				t.Fatalf("Check passed a balancer whose fault is %q", tc.name)
			}
			if !strings.Contains(err.Error(), tc.wantCase+": ") {
				t.Errorf("Check error does not name case %s:\n%v", tc.wantCase, err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Check error does not say %q:\n%v", tc.wantText, err)
			}
		})
	}
}

func TestCheckMemory(t *testing.T) {
	if err := lbtest.Check(context.Background(), func() (lb.Balancer, error) { return lbtest.NewMemory(), nil }, lbtest.Config{}); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryKnobs(t *testing.T) {
	ctx := context.Background()
	m := lbtest.NewMemory()
	a := lb.Backend{ID: "a", Addr: mustAddr("127.0.0.1:1")}
	b := lb.Backend{ID: "b", Addr: mustAddr("127.0.0.1:2")}
	for _, x := range []lb.Backend{a, b} {
		if err := m.Add(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Serve(10); n != 2 {
		t.Errorf("Serve over two ready backends reached %d", n)
	}
	_ = m.Drain(ctx, "b")
	m.Serve(4)
	s, _ := m.Stats(ctx)
	if s.Requests != 14 || s.Backends["a"].Requests != 9 || s.Backends["b"].Requests != 5 {
		t.Errorf("after Serve(10), drain b, Serve(4): %+v", s)
	}
	if !m.ServeErrors("a", 3) || m.ServeErrors("b", 2) || m.ServeErrors("zz", 1) {
		t.Error("ServeErrors counts only on a ready backend")
	}
	s, _ = m.Stats(ctx)
	if s.Requests != 17 || s.Backends["a"].Requests != 12 || s.Backends["a"].Errors != 3 || s.Backends["b"].Requests != 5 || s.Backends["b"].Errors != 0 {
		t.Errorf("after ServeErrors(a, 3) and ServeErrors(b draining, 2): %+v", s)
	}
	if err := m.Resume(ctx, "b"); err != nil || m.State("b") != lb.StateReady {
		t.Errorf("Resume(b) = %v, state %s, want nil, ready", err, m.State("b"))
	}
	_ = m.Drain(ctx, "b")
	if !m.SetActive("a", 3) || m.SetActive("zz", 1) {
		t.Error("SetActive reports the wrong presence")
	}
	if n, _ := m.ActiveConns(ctx, "a"); n != 3 {
		t.Errorf("ActiveConns(a) = %d, want 3", n)
	}
	m.Restart()
	if s, _ := m.Stats(ctx); s.Requests != 0 || s.Backends["a"].Requests != 0 || s.Backends["a"].Errors != 0 {
		t.Errorf("after Restart counters are %+v", s)
	}
	boom := errors.New("boom")
	m.FailStats(boom)
	if _, err := m.Stats(ctx); !errors.Is(err, boom) {
		t.Errorf("Stats with FailStats = %v", err)
	}
	_ = m.Close()
	if err := m.Add(ctx, a); !errors.Is(err, lb.ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
}
