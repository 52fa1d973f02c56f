// Package lbtest is the conformance suite for [lb.Balancer] drivers, and an
// in-memory balancer ([Memory]) for tests of code that uses one.
//
// A driver author runs the suite with one call from a test:
//
//	func TestConformance(t *testing.T) {
//		lbtest.Run(t, func(t *testing.T) lb.Balancer {
//			b, err := mydriver.New(ctx, cfg) // an empty pool, fresh for each case
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
// Each rule of the [lb.Balancer] contract is one subtest, run on a fresh
// balancer: Add and Remove are idempotent; Add of a known ID with another
// address fails with lb.ErrExists; Drain then Remove leaves no trace in
// Backends or Stats; a drained backend's Stats state is draining;
// Backends reflects Add and Remove; Stats.At is set and counters never go
// backwards (each backend's Errors, its 5xx answers, included, and never
// above its Requests); Stats.Backends covers the pool and names no ID that was never
// added; unknown IDs give lb.ErrNotFound; a cancelled context returns
// promptly with context.Canceled; optional interfaces ([lb.ConnCounter],
// [lb.Weighter], [lb.Resumer]) are checked only when present and must
// agree with the base methods (Drain then Resume is ready again in
// Stats); and all methods may be called concurrently. Run the suite under
// the race detector (go test -race).
//
// With [Config.Traffic], which sends requests through the balancer to
// servers at [Config.Addr], the suite also proves what the scaler reads
// (TrafficCounted): Stats.Requests and each backend's counter rise by at
// least the requests sent, within the driver's [Config.Lag]; the requests
// split across the ready backends; and none reaches a drained backend. A
// driver whose counters never move fails it. Drivers that can carry
// traffic in a test should set it:
//
//	lbtest.RunConfig(t, newBalancer, lbtest.Config{
//		Addr: func(i int) netip.AddrPort { return servers[i] }, // listening
//		Traffic: func(ctx context.Context, b lb.Balancer) (int, error) {
//			return 10, getN(ctx, frontendOf(b), 10) // 10 requests through b
//		},
//	})
//
// [Check] runs the same rules outside package testing and returns every
// misbehaviour joined into one error.
package lbtest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Config tunes the suite. The zero Config is valid.
type Config struct {
	// Addr returns the address of the i-th backend a case adds (i ≥ 0,
	// at most 3). Without Traffic nothing needs to listen there. With
	// Traffic, a server must listen at every Addr(i) and answer what
	// Traffic sends (an HTTP server for an HTTP balancer, any TCP
	// server that accepts for an L4 one): the traffic check counts what
	// reached each backend. If nil, 127.0.0.1:(20000+i) is used.
	Addr func(i int) netip.AddrPort
	// Timeout bounds each case, and is how long a call with a cancelled
	// context may take to return. If zero, 10s is used for a case and 2s
	// for a cancelled call.
	Timeout time.Duration
	// Traffic, if set, sends requests through b, the balancer under test
	// (to its frontend: the suite does not know where that listens, so
	// Traffic finds it from b), and returns how many it sent, in the
	// unit of b's counters: requests for an HTTP balancer, connections
	// for an L4 one (send each request on a new connection there). It
	// must send at least one; the suite calls it again until enough
	// went through to see them split across the ready backends.
	//
	// With Traffic set the suite calls it between Stats readings (so
	// that CountersMonotonic compares moving counters) and runs
	// TrafficCounted: Stats.Requests and the per-backend counters rise
	// by at least what Traffic sent, the requests split across the
	// ready backends, and none reaches a drained one. A driver whose
	// counters never move fails it. Without Traffic, TrafficCounted is
	// not run: a driver that can carry traffic in its tests should set it.
	Traffic func(ctx context.Context, b lb.Balancer) (sent int, err error)
	// Lag is how long after Traffic returns the driver's Stats may take
	// to show it (the driver documents it: for example a kernel that
	// folds counters in every two seconds, or a balancer that counts a
	// request when its stream closes just after the answer). The suite
	// polls Stats until the traffic shows or Lag has passed. If zero,
	// the first reading after Traffic returns must show it.
	Lag time.Duration
}

func (c Config) addr(i int) netip.AddrPort {
	if c.Addr != nil {
		return c.Addr(i)
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
}

type testCase struct {
	name string
	rule string
	run  func(tc *tester) error
	// traffic marks a case that runs only with Config.Traffic.
	traffic bool
}

// tester holds one case's balancer and config.
type tester struct {
	ctx context.Context
	b   lb.Balancer
	cfg Config
}

func (c Config) cancelTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 2 * time.Second
}

func (c Config) caseTimeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout * 5
	}
	return 10 * time.Second
}

// Run runs every rule as a subtest, each on a fresh balancer from
// newBalancer, which must return a balancer with an empty pool and arrange
// its own cleanup with t.Cleanup.
func Run(t *testing.T, newBalancer func(t *testing.T) lb.Balancer) {
	t.Helper()
	RunConfig(t, newBalancer, Config{})
}

// RunConfig is [Run] with a Config.
func RunConfig(t *testing.T, newBalancer func(t *testing.T) lb.Balancer, cfg Config) {
	t.Helper()
	for _, c := range cfg.cases() {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.caseTimeout())
			defer cancel()
			if err := runCase(ctx, c, newBalancer(t), cfg); err != nil {
				t.Error(err)
			}
		})
	}
}

// Check runs every rule on fresh balancers from newBalancer, outside package
// testing, and returns all failures joined (nil if the driver conforms).
// newBalancer must return a balancer with an empty pool; Check closes each
// one that implements io.Closer.
func Check(ctx context.Context, newBalancer func() (lb.Balancer, error), cfg Config) error {
	var errs []error
	for _, c := range cfg.cases() {
		b, err := newBalancer()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: newBalancer: %w", c.name, err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.caseTimeout())
		if err := runCase(cctx, c, b, cfg); err != nil {
			errs = append(errs, err)
		}
		cancel()
		_ = lb.Close(b)
	}
	return errors.Join(errs...)
}

// cases returns the cases to run: all of them, less those that need
// Traffic when it is not set.
func (c Config) cases() []testCase {
	var out []testCase
	for _, tc := range cases {
		if !tc.traffic || c.Traffic != nil {
			out = append(out, tc)
		}
	}
	return out
}

func runCase(ctx context.Context, c testCase, b lb.Balancer, cfg Config) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: panic: %v", c.name, p)
		}
	}()
	tc := &tester{ctx: ctx, b: b, cfg: cfg}
	if got, err := b.Backends(ctx); err != nil || len(got) != 0 {
		return fmt.Errorf("%s: Backends() on a fresh balancer = %v, %v, want an empty pool: newBalancer must return an empty pool", c.name, got, err)
	}
	if err := c.run(tc); err != nil {
		return fmt.Errorf("%s: %w: %s", c.name, err, c.rule)
	}
	return nil
}

var cases = []testCase{
	{"AddIdempotent", "adding a Backend already in the pool succeeds and changes nothing", (*tester).addIdempotent, false},
	{"AddConflict", "adding a known ID with another address fails with lb.ErrExists and changes nothing", (*tester).addConflict, false},
	{"AddInvalid", "adding an invalid Backend fails with lb.ErrInvalid", (*tester).addInvalid, false},
	{"BackendsReflectsPool", "Backends lists exactly what was added and not removed", (*tester).backendsReflect, false},
	{"DrainThenRemove", "Drain then Remove leaves no trace in Backends or Stats", (*tester).drainRemove, false},
	{"DrainIdempotent", "draining a draining backend succeeds, keeps it in the pool, and Stats reports it draining", (*tester).drainIdempotent, false},
	{"RemoveIdempotent", "removing an ID that is not in the pool succeeds", (*tester).removeIdempotent, false},
	{"UnknownID", "unknown IDs give errors matching lb.ErrNotFound", (*tester).unknownID, false},
	{"CountersMonotonic", "Stats.At is set and counters (Requests, per-backend Requests and Errors) never go backwards within one balancer life; a backend's Errors never exceed its Requests; gauges are ≥ 0 and Queued counts the backends' own queues", (*tester).countersMonotonic, false},
	{"StatsBackends", "Stats.Backends, when set, has an entry for every backend Backends lists and none for an ID never added", (*tester).statsBackends, false},
	{"TrafficCounted", "Stats.Requests and each backend's Requests rise by at least the requests sent (within Config.Lag), split across the ready backends, and a drained backend gets no new requests", (*tester).trafficCounted, true},
	{"ContextCancelled", "a cancelled context returns promptly with context.Canceled", (*tester).cancelled, false},
	{"OptionalInterfaces", "optional interfaces agree with the base methods", (*tester).optional, false},
	{"Concurrent", "all methods are safe for concurrent use", (*tester).concurrent, false},
}

func (tc *tester) backend(i int) lb.Backend {
	return lb.Backend{ID: fmt.Sprintf("lbtest-%d", i), Addr: tc.cfg.addr(i)}
}

// pool returns the IDs Backends lists, sorted.
func (tc *tester) pool() ([]string, error) {
	bs, err := tc.b.Backends(tc.ctx)
	if err != nil {
		return nil, fmt.Errorf("Backends() = %w", err)
	}
	ids := make([]string, 0, len(bs))
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

func (tc *tester) wantPool(after string, want ...string) error {
	got, err := tc.pool()
	if err != nil {
		return err
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("after %s: Backends() = %q, want %q", after, got, want)
	}
	return nil
}

func (tc *tester) add(b lb.Backend) error {
	if err := tc.b.Add(tc.ctx, b); err != nil {
		return fmt.Errorf("Add(%s) = %w, want nil", b, err)
	}
	return nil
}

func (tc *tester) addIdempotent() error {
	b := tc.backend(0)
	for range 2 {
		if err := tc.add(b); err != nil {
			return err
		}
	}
	if err := tc.wantPool("adding "+b.String()+" twice", b.ID); err != nil {
		return err
	}
	if err := tc.b.Drain(tc.ctx, b.ID); err != nil {
		return fmt.Errorf("Drain(%s) = %w", b.ID, err)
	}
	if err := tc.add(b); err != nil {
		return fmt.Errorf("on a draining backend: %w", err)
	}
	return tc.b.Remove(tc.ctx, b.ID)
}

func (tc *tester) addConflict() error {
	b, other := tc.backend(0), tc.backend(1)
	other.ID = b.ID
	if err := tc.add(b); err != nil {
		return err
	}
	if err := tc.b.Add(tc.ctx, other); !errors.Is(err, lb.ErrExists) {
		return fmt.Errorf("Add(%s) with %s in the pool = %v, want errors.Is(err, lb.ErrExists)", other, b, err)
	}
	bs, err := tc.b.Backends(tc.ctx)
	if err != nil {
		return fmt.Errorf("Backends() = %w", err)
	}
	if len(bs) != 1 || bs[0] != b {
		return fmt.Errorf("after a conflicting Add: Backends() = %v, want [%s]", bs, b)
	}
	return tc.b.Remove(tc.ctx, b.ID)
}

func (tc *tester) addInvalid() error {
	good := tc.backend(0)
	for _, bad := range []lb.Backend{{Addr: good.Addr}, {ID: good.ID}} {
		if err := tc.b.Add(tc.ctx, bad); !errors.Is(err, lb.ErrInvalid) {
			return fmt.Errorf("Add(%s) = %v, want errors.Is(err, lb.ErrInvalid)", bad, err)
		}
	}
	return tc.wantPool("invalid Adds")
}

func (tc *tester) backendsReflect() error {
	var ids []string
	for i := range 3 {
		b := tc.backend(i)
		if err := tc.add(b); err != nil {
			return err
		}
		ids = append(ids, b.ID)
		if err := tc.wantPool("Add("+b.String()+")", ids...); err != nil {
			return err
		}
	}
	bs, err := tc.b.Backends(tc.ctx)
	if err != nil {
		return fmt.Errorf("Backends() = %w", err)
	}
	for _, got := range bs {
		var i int
		if _, err := fmt.Sscanf(got.ID, "lbtest-%d", &i); err != nil || got != tc.backend(i) {
			return fmt.Errorf("Backends() has %s, want the backend as added (%s)", got, tc.backend(i))
		}
	}
	for len(ids) > 0 {
		id := ids[0]
		ids = ids[1:]
		if err := tc.b.Remove(tc.ctx, id); err != nil {
			return fmt.Errorf("Remove(%s) = %w", id, err)
		}
		if err := tc.wantPool("Remove("+id+")", ids...); err != nil {
			return err
		}
	}
	return nil
}

func (tc *tester) drainRemove() error {
	keep, gone := tc.backend(0), tc.backend(1)
	for _, b := range []lb.Backend{keep, gone} {
		if err := tc.add(b); err != nil {
			return err
		}
	}
	if err := tc.b.Drain(tc.ctx, gone.ID); err != nil {
		return fmt.Errorf("Drain(%s) = %w", gone.ID, err)
	}
	if err := tc.wantPool("Drain("+gone.ID+"), a draining backend stays listed", keep.ID, gone.ID); err != nil {
		return err
	}
	if err := tc.b.Remove(tc.ctx, gone.ID); err != nil {
		return fmt.Errorf("Remove(%s) = %w", gone.ID, err)
	}
	if err := tc.wantPool("Drain and Remove("+gone.ID+")", keep.ID); err != nil {
		return err
	}
	s, err := tc.b.Stats(tc.ctx)
	if err != nil {
		return fmt.Errorf("Stats() = %w", err)
	}
	if _, ok := s.Backends[gone.ID]; ok {
		return fmt.Errorf("Stats().Backends has %s after Drain and Remove", gone.ID)
	}
	return tc.b.Remove(tc.ctx, keep.ID)
}

func (tc *tester) drainIdempotent() error {
	b := tc.backend(0)
	if err := tc.add(b); err != nil {
		return err
	}
	for i := range 2 {
		if err := tc.b.Drain(tc.ctx, b.ID); err != nil {
			return fmt.Errorf("Drain(%s) #%d = %w, want nil", b.ID, i+1, err)
		}
	}
	if err := tc.wantPool("draining twice", b.ID); err != nil {
		return err
	}
	s, err := tc.b.Stats(tc.ctx)
	if err != nil {
		return fmt.Errorf("Stats() = %w", err)
	}
	if bs, ok := s.Backends[b.ID]; ok && bs.State != lb.StateDraining {
		return fmt.Errorf("Stats().Backends[%s].State = %s after Drain, want draining", b.ID, bs.State)
	}
	return tc.b.Remove(tc.ctx, b.ID)
}

func (tc *tester) removeIdempotent() error {
	if err := tc.b.Remove(tc.ctx, "lbtest-never-added"); err != nil {
		return fmt.Errorf("Remove(never added) = %w, want nil", err)
	}
	b := tc.backend(0)
	if err := tc.add(b); err != nil {
		return err
	}
	for i := range 2 {
		if err := tc.b.Remove(tc.ctx, b.ID); err != nil {
			return fmt.Errorf("Remove(%s) #%d = %w, want nil", b.ID, i+1, err)
		}
	}
	return tc.wantPool("removing twice")
}

func (tc *tester) unknownID() error {
	const id = "lbtest-unknown"
	if err := tc.b.Drain(tc.ctx, id); !errors.Is(err, lb.ErrNotFound) {
		return fmt.Errorf("Drain(%s) = %v, want errors.Is(err, lb.ErrNotFound)", id, err)
	}
	if _, ok := tc.b.(lb.ConnCounter); ok {
		if _, err := lb.ActiveConns(tc.ctx, tc.b, id); !errors.Is(err, lb.ErrNotFound) {
			return fmt.Errorf("ActiveConns(%s) = %v, want errors.Is(err, lb.ErrNotFound)", id, err)
		}
	}
	if _, ok := tc.b.(lb.Weighter); ok {
		if err := lb.SetWeight(tc.ctx, tc.b, id, 1); !errors.Is(err, lb.ErrNotFound) {
			return fmt.Errorf("SetWeight(%s) = %v, want errors.Is(err, lb.ErrNotFound)", id, err)
		}
	}
	if _, ok := tc.b.(lb.Resumer); ok {
		if err := lb.Resume(tc.ctx, tc.b, id); !errors.Is(err, lb.ErrNotFound) {
			return fmt.Errorf("Resume(%s) = %v, want errors.Is(err, lb.ErrNotFound)", id, err)
		}
	}
	return nil
}

func (tc *tester) stats() (lb.Stats, error) {
	if tc.cfg.Traffic != nil {
		if _, err := tc.cfg.Traffic(tc.ctx, tc.b); err != nil {
			return lb.Stats{}, fmt.Errorf("Config.Traffic: %w", err)
		}
	}
	s, err := tc.b.Stats(tc.ctx)
	if err != nil {
		return s, fmt.Errorf("Stats() = %w", err)
	}
	return s, nil
}

func (tc *tester) countersMonotonic() error {
	prev, err := tc.stats()
	if err != nil {
		return err
	}
	if prev.At.IsZero() {
		return errors.New("Stats().At is zero, want the instant the reading describes")
	}
	for i := range 4 {
		switch i {
		case 1:
			if err := tc.add(tc.backend(0)); err != nil {
				return err
			}
		case 2:
			if err := tc.add(tc.backend(1)); err != nil {
				return err
			}
		case 3:
			if err := tc.b.Drain(tc.ctx, tc.backend(0).ID); err != nil {
				return fmt.Errorf("Drain = %w", err)
			}
		}
		s, err := tc.stats()
		if err != nil {
			return err
		}
		if s.Requests < prev.Requests {
			return fmt.Errorf("Stats().Requests went from %d to %d", prev.Requests, s.Requests)
		}
		if s.At.Before(prev.At) {
			return fmt.Errorf("Stats().At went back from %s to %s", prev.At, s.At)
		}
		inBackends := 0
		for id, bs := range s.Backends {
			inBackends += bs.Queued
			if p, ok := prev.Backends[id]; ok && bs.Requests < p.Requests {
				return fmt.Errorf("Stats().Backends[%s].Requests went from %d to %d", id, p.Requests, bs.Requests)
			}
			if p, ok := prev.Backends[id]; ok && bs.Errors < p.Errors {
				return fmt.Errorf("Stats().Backends[%s].Errors went from %d to %d", id, p.Errors, bs.Errors)
			}
			if bs.Errors > bs.Requests {
				return fmt.Errorf("Stats().Backends[%s].Errors is %d, more than its Requests %d: a 5xx answer is a request the backend served", id, bs.Errors, bs.Requests)
			}
			if bs.Active < 0 || bs.Queued < 0 || bs.Limit < 0 {
				return fmt.Errorf("Stats().Backends[%s] has negative gauges: %+v", id, bs)
			}
		}
		if s.Active < 0 || s.Queued < 0 {
			return fmt.Errorf("Stats() has negative gauges: Active %d, Queued %d", s.Active, s.Queued)
		}
		if s.Queued < inBackends {
			return fmt.Errorf("Stats().Queued is %d, less than the %d waiting in its Backends' own queues: lb.Stats.Queued counts those too", s.Queued, inBackends)
		}
		prev = s
	}
	for i := range 2 {
		if err := tc.b.Remove(tc.ctx, tc.backend(i).ID); err != nil {
			return fmt.Errorf("Remove = %w", err)
		}
	}
	return nil
}

func (tc *tester) statsBackends() error {
	for i := range 2 {
		if err := tc.add(tc.backend(i)); err != nil {
			return err
		}
	}
	s, err := tc.b.Stats(tc.ctx)
	if err != nil {
		return fmt.Errorf("Stats() = %w", err)
	}
	if s.Backends != nil {
		for i := range 2 {
			if _, ok := s.Backends[tc.backend(i).ID]; !ok {
				return fmt.Errorf("Stats().Backends = %v lacks %s, which Backends lists", s.Backends, tc.backend(i).ID)
			}
		}
	}
	if err := tc.knownOnly(s, "Add of 2 backends", tc.backend(0).ID, tc.backend(1).ID); err != nil {
		return err
	}
	for i := range 2 {
		if err := tc.b.Remove(tc.ctx, tc.backend(i).ID); err != nil {
			return fmt.Errorf("Remove = %w", err)
		}
	}
	return nil
}

func (tc *tester) cancelled() error {
	b := tc.backend(0)
	if err := tc.add(b); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(tc.ctx)
	cancel()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Stats", func(ctx context.Context) error { _, err := tc.b.Stats(ctx); return err }},
		{"Backends", func(ctx context.Context) error { _, err := tc.b.Backends(ctx); return err }},
		{"Add", func(ctx context.Context) error { return tc.b.Add(ctx, tc.backend(1)) }},
		{"Drain", func(ctx context.Context) error { return tc.b.Drain(ctx, b.ID) }},
		{"Remove", func(ctx context.Context) error { return tc.b.Remove(ctx, b.ID) }},
	}
	if _, ok := tc.b.(lb.ConnCounter); ok {
		calls = append(calls, struct {
			name string
			call func(context.Context) error
		}{"ActiveConns", func(ctx context.Context) error { _, err := lb.ActiveConns(ctx, tc.b, b.ID); return err }})
	}
	if _, ok := tc.b.(lb.Resumer); ok {
		calls = append(calls, struct {
			name string
			call func(context.Context) error
		}{"Resume", func(ctx context.Context) error { return lb.Resume(ctx, tc.b, b.ID) }})
	}
	limit := tc.cfg.cancelTimeout()
	for _, c := range calls {
		done := make(chan error, 1)
		go func() { done <- c.call(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s(cancelled ctx) = %v, want errors.Is(err, context.Canceled)", c.name, err)
			}
		case <-time.After(limit):
			return fmt.Errorf("%s(cancelled ctx) did not return within %s", c.name, limit)
		}
	}
	// Nothing the cancelled calls were asked to do may have happened.
	if err := tc.wantPool("cancelled Add, Drain and Remove", b.ID); err != nil {
		return err
	}
	return tc.b.Remove(tc.ctx, b.ID)
}

func (tc *tester) optional() error {
	b := tc.backend(0)
	if err := tc.add(b); err != nil {
		return err
	}
	if _, ok := tc.b.(lb.ConnCounter); ok {
		n, err := lb.ActiveConns(tc.ctx, tc.b, b.ID)
		if err != nil || n < 0 {
			return fmt.Errorf("ActiveConns(%s) = %d, %v, want ≥ 0, nil", b.ID, n, err)
		}
	}
	if _, ok := tc.b.(lb.Weighter); ok {
		if err := lb.SetWeight(tc.ctx, tc.b, b.ID, 10); err != nil {
			return fmt.Errorf("SetWeight(%s, 10) = %w, want nil", b.ID, err)
		}
		for _, w := range []int{-1, 257} {
			if err := lb.SetWeight(tc.ctx, tc.b, b.ID, w); !errors.Is(err, lb.ErrInvalid) {
				return fmt.Errorf("SetWeight(%s, %d) = %v, want errors.Is(err, lb.ErrInvalid)", b.ID, w, err)
			}
		}
		if err := tc.wantPool("SetWeight", b.ID); err != nil {
			return err
		}
	}
	if _, ok := tc.b.(lb.Resumer); ok {
		if err := tc.resume(b); err != nil {
			return err
		}
	}
	return tc.b.Remove(tc.ctx, b.ID)
}

// resume checks [lb.Resumer] on b, which is in the pool and ready: resuming
// a ready backend succeeds; Drain then Resume makes it ready again in
// Stats (when Stats reports states), twice in a row, and keeps it listed.
func (tc *tester) resume(b lb.Backend) error {
	if err := lb.Resume(tc.ctx, tc.b, b.ID); err != nil {
		return fmt.Errorf("Resume(%s) of a ready backend = %w, want nil", b.ID, err)
	}
	if err := tc.wantState(b.ID, "Resume of a ready backend", lb.StateReady); err != nil {
		return err
	}
	for i := range 2 {
		if err := tc.b.Drain(tc.ctx, b.ID); err != nil {
			return fmt.Errorf("Drain(%s) = %w", b.ID, err)
		}
		if err := tc.wantState(b.ID, "Drain", lb.StateDraining); err != nil {
			return err
		}
		if err := lb.Resume(tc.ctx, tc.b, b.ID); err != nil {
			return fmt.Errorf("Resume(%s) of a draining backend #%d = %w, want nil", b.ID, i+1, err)
		}
		if err := tc.wantState(b.ID, "Drain then Resume", lb.StateReady); err != nil {
			return err
		}
	}
	return tc.wantPool("Drain then Resume", b.ID)
}

// wantState checks the backend's state in Stats, if Stats reports one.
func (tc *tester) wantState(id, after string, want lb.State) error {
	s, err := tc.b.Stats(tc.ctx)
	if err != nil {
		return fmt.Errorf("Stats() = %w", err)
	}
	if bs, ok := s.Backends[id]; ok && bs.State != want && (want == lb.StateDraining || bs.State != lb.StateUnknown) {
		if want == lb.StateDraining {
			return fmt.Errorf("after %s: Stats().Backends[%s].State = %s, want %s", after, id, bs.State, want)
		}
		return fmt.Errorf("after %s: Stats().Backends[%s].State = %s, want %s (or unknown)", after, id, bs.State, want)
	}
	return nil
}

func (tc *tester) concurrent() error {
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			b := tc.backend(w)
			for range 3 {
				if err := tc.b.Add(tc.ctx, b); err != nil {
					errs <- fmt.Errorf("concurrent Add(%s) = %w", b, err)
					return
				}
				if err := tc.b.Drain(tc.ctx, b.ID); err != nil {
					errs <- fmt.Errorf("concurrent Drain(%s) = %w", b.ID, err)
					return
				}
				if err := tc.b.Remove(tc.ctx, b.ID); err != nil {
					errs <- fmt.Errorf("concurrent Remove(%s) = %w", b.ID, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := tc.b.Stats(tc.ctx); err != nil {
					errs <- fmt.Errorf("concurrent Stats() = %w", err)
					return
				}
				if _, err := tc.b.Backends(tc.ctx); err != nil {
					errs <- fmt.Errorf("concurrent Backends() = %w", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := errors.Join(slices.Collect(func(yield func(error) bool) {
		for e := range errs {
			if !yield(e) {
				return
			}
		}
	})...); err != nil {
		return err
	}
	return tc.wantPool("concurrent Add, Drain and Remove of every backend")
}

// knownOnly checks that s.Backends names no ID outside pool.
func (tc *tester) knownOnly(s lb.Stats, after string, pool ...string) error {
	for id := range s.Backends {
		if !slices.Contains(pool, id) {
			return fmt.Errorf("after %s: Stats().Backends has %q, an ID never added (pool %q)", after, id, pool)
		}
	}
	return nil
}

// send calls Config.Traffic until it has sent at least want requests
// (at most 20 calls) and returns how many it sent.
func (tc *tester) send(want int) (int, error) {
	sent := 0
	for call := 0; sent < want; call++ {
		if call == 20 {
			return sent, fmt.Errorf("Config.Traffic sent %d requests in %d calls, want ≥ %d: it must send some each call", sent, call, want)
		}
		n, err := tc.cfg.Traffic(tc.ctx, tc.b)
		if err != nil {
			return sent, fmt.Errorf("Config.Traffic: %w", err)
		}
		if n <= 0 {
			return sent, fmt.Errorf("Config.Traffic returned %d requests sent, want ≥ 1", n)
		}
		sent += n
	}
	return sent, nil
}

// rise is how far each counter rose between two readings.
type rise struct {
	total   uint64
	backend map[string]uint64 // nil when the reading has no Backends
}

func riseOf(before, after lb.Stats) rise {
	r := rise{total: after.Requests - min(before.Requests, after.Requests)}
	if after.Backends != nil {
		r.backend = make(map[string]uint64, len(after.Backends))
		for id, a := range after.Backends {
			b := before.Backends[id].Requests
			r.backend[id] = a.Requests - min(a.Requests, b)
		}
	}
	return r
}

// counted polls Stats, for at most Config.Lag, until the counters rose
// from before by at least sent in total and over ready (when the driver
// reports per-backend counters). It returns the last reading and rise.
func (tc *tester) counted(before lb.Stats, sent int, ready []string) (lb.Stats, rise, error) {
	deadline := time.Now().Add(tc.cfg.Lag)
	for {
		s, err := tc.b.Stats(tc.ctx)
		if err != nil {
			return s, rise{}, fmt.Errorf("Stats() = %w", err)
		}
		r := riseOf(before, s)
		var perBackend uint64
		for _, id := range ready {
			perBackend += r.backend[id]
		}
		if r.total >= uint64(sent) && (s.Backends == nil || perBackend >= uint64(sent)) {
			return s, r, nil
		}
		if !time.Now().Before(deadline) {
			if r.total < uint64(sent) {
				return s, r, fmt.Errorf("Stats().Requests rose by %d after Traffic sent %d requests (waited Config.Lag %s): the counters do not count the traffic", r.total, sent, tc.cfg.Lag)
			}
			return s, r, fmt.Errorf("the ready backends' Stats().Backends[…].Requests rose by %d in all (%v) after Traffic sent %d requests (waited Config.Lag %s): per-backend counters do not count the traffic", perBackend, r.backend, sent, tc.cfg.Lag)
		}
		select {
		case <-tc.ctx.Done():
			return s, r, fmt.Errorf("waiting for Stats to count %d requests: %w", sent, tc.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// trafficCounted checks what the scaler reads: the counters count what
// was sent, per backend as well, the split reaches every ready backend,
// and a drained backend gets nothing new.
func (tc *tester) trafficCounted() error {
	const n = 3
	var ids []string
	for i := range n {
		if err := tc.add(tc.backend(i)); err != nil {
			return err
		}
		ids = append(ids, tc.backend(i).ID)
	}
	// One call first: a delayed source (CloudWatch) may have no reading
	// before traffic at all.
	if _, err := tc.send(1); err != nil {
		return err
	}
	before, _, err := tc.counted(lb.Stats{}, 0, nil)
	if err != nil {
		return err
	}
	sent, err := tc.send(4 * n)
	if err != nil {
		return err
	}
	after, r, err := tc.counted(before, sent, ids)
	if err != nil {
		return err
	}
	if err := tc.knownOnly(after, "traffic", ids...); err != nil {
		return err
	}
	if after.Backends != nil {
		for _, id := range ids {
			if r.backend[id] == 0 {
				return fmt.Errorf("Stats().Backends[%[3]s].Requests did not move after Config.Traffic sent %[1]d requests over %[2]d ready backends (rises %[4]v): the requests must split across the ready backends, and each backend's counter must count its share", sent, n, id, r.backend)
			}
		}
	}

	drained := ids[0]
	if err := tc.b.Drain(tc.ctx, drained); err != nil {
		return fmt.Errorf("Drain(%s) = %w", drained, err)
	}
	if err := tc.wantState(drained, "Drain", lb.StateDraining); err != nil {
		return err
	}
	before = after
	if sent, err = tc.send(4 * (n - 1)); err != nil {
		return err
	}
	after, r, err = tc.counted(before, sent, ids[1:])
	if after.Backends != nil && r.backend[drained] != 0 {
		return fmt.Errorf("after Drain(%s), Traffic sent %d requests and %d reached the drained backend (rises %v): Drain must stop new requests", drained, sent, r.backend[drained], r.backend)
	}
	if err != nil {
		return fmt.Errorf("after Drain(%s): %w", drained, err)
	}
	for _, id := range ids {
		if err := tc.b.Remove(tc.ctx, id); err != nil {
			return fmt.Errorf("Remove(%s) = %w", id, err)
		}
	}
	return nil
}
