package lbtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

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

func TestMemoryConformsWithTraffic(t *testing.T) {
	var m *lbtest.Memory
	lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
		m = lbtest.NewMemory()
		return m
	}, lbtest.Config{Traffic: func(context.Context) error { m.Serve(7); return nil }})
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
)

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

func (b overwritesAdd) Add(ctx context.Context, be lb.Backend) error {
	_ = b.Memory.Remove(ctx, be.ID)
	return b.Memory.Add(ctx, be)
}

func TestSuiteCatchesFaults(t *testing.T) {
	tests := []struct {
		name     string
		new      func() lb.Balancer
		wantCase string
	}{
		{"second Add fails", func() lb.Balancer { return addNotIdempotent{lbtest.NewMemory()} }, "AddIdempotent"},
		{"Remove of absent fails", func() lb.Balancer { return removeStrict{lbtest.NewMemory()} }, "RemoveIdempotent"},
		{"Drain of unknown succeeds", func() lb.Balancer { return drainUnknownOK{lbtest.NewMemory()} }, "UnknownID"},
		{"context ignored", func() lb.Balancer { return ignoresContext{lbtest.NewMemory()} }, "ContextCancelled"},
		{"removed backend still listed", func() lb.Balancer { return &leaksAfterRemove{Memory: lbtest.NewMemory()} }, "DrainThenRemove"},
		{"counter goes backwards", func() lb.Balancer { return &countersBackwards{Memory: lbtest.NewMemory()} }, "CountersMonotonic"},
		{"sentinel lost by %v", func() lb.Balancer { return plainErrors{lbtest.NewMemory()} }, "UnknownID"},
		{"conflicting Add overwrites", func() lb.Balancer { return overwritesAdd{lbtest.NewMemory()} }, "AddConflict"},
		{"Resume leaves it draining", func() lb.Balancer { return resumeNoop{lbtest.NewMemory()} }, "OptionalInterfaces"},
		{"Resume of unknown succeeds", func() lb.Balancer { return resumeUnknown{lbtest.NewMemory()} }, "UnknownID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := lbtest.Check(context.Background(), func() (lb.Balancer, error) { return tc.new(), nil }, lbtest.Config{})
			if err == nil {
				t.Fatalf("Check passed a balancer whose fault is %q", tc.name)
			}
			if !strings.Contains(err.Error(), tc.wantCase+": ") {
				t.Errorf("Check error does not name case %s:\n%v", tc.wantCase, err)
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
	if s, _ := m.Stats(ctx); s.Requests != 0 || s.Backends["a"].Requests != 0 {
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
