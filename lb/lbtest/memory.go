package lbtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Memory is an in-memory [lb.Balancer] for tests of code that uses a
// balancer: the scaler, the scheduler, the examples. It passes [Run]. It
// implements [lb.ConnCounter], [lb.Weighter] and [lb.Resumer], and adds knobs a test turns
// by hand: [Memory.Serve] counts requests, [Memory.ServeErrors] counts
// requests a backend answered with a 5xx (lb.BackendStats.Errors), [Memory.SetActive] sets
// connections in flight, [Memory.Restart] clears counters as a balancer
// restart would, and [Memory.FailStats] makes Stats fail.
//
// The zero Memory is ready to use. Its clock is time.Now unless Now is set.
type Memory struct {
	// Now, if set, supplies Stats.At.
	Now func() time.Time

	mu       sync.Mutex
	pool     map[string]*memBackend
	total    uint64
	statsErr error
	closed   bool
}

type memBackend struct {
	b      lb.Backend
	state  lb.State
	weight int
	served uint64
	errors uint64
	active int
}

var (
	_ lb.Balancer    = (*Memory)(nil)
	_ lb.ConnCounter = (*Memory)(nil)
	_ lb.Weighter    = (*Memory)(nil)
	_ lb.Resumer     = (*Memory)(nil)
)

// NewMemory returns an empty Memory balancer.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return fmt.Errorf("memory: %w", lb.ErrClosed)
	}
	if m.pool == nil {
		m.pool = make(map[string]*memBackend)
	}
	return nil
}

// Stats implements [lb.Balancer].
func (m *Memory) Stats(ctx context.Context) (lb.Stats, error) {
	if err := m.lock(ctx); err != nil {
		return lb.Stats{}, err
	}
	defer m.mu.Unlock()
	if m.statsErr != nil {
		return lb.Stats{}, fmt.Errorf("memory: stats: %w", m.statsErr)
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	s := lb.Stats{At: now(), Requests: m.total, Backends: make(map[string]lb.BackendStats, len(m.pool))}
	for id, mb := range m.pool {
		s.Backends[id] = lb.BackendStats{Requests: mb.served, Errors: mb.errors, Active: mb.active, State: mb.state}
		s.Active += mb.active
	}
	return s, nil
}

// Backends implements [lb.Balancer].
func (m *Memory) Backends(ctx context.Context) ([]lb.Backend, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]lb.Backend, 0, len(m.pool))
	for _, id := range slices.Sorted(maps.Keys(m.pool)) {
		out = append(out, m.pool[id].b)
	}
	return out, nil
}

// Add implements [lb.Balancer].
func (m *Memory) Add(ctx context.Context, b lb.Backend) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("memory: add: %w", err)
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if mb, ok := m.pool[b.ID]; ok {
		if mb.b.Addr != b.Addr {
			return fmt.Errorf("memory: add %s: pool has %s: %w", b, mb.b, lb.ErrExists)
		}
		return nil
	}
	m.pool[b.ID] = &memBackend{b: b, state: lb.StateReady, weight: 1}
	return nil
}

// Drain implements [lb.Balancer].
func (m *Memory) Drain(ctx context.Context, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if !ok {
		return fmt.Errorf("memory: drain %q: %w", id, lb.ErrNotFound)
	}
	mb.state = lb.StateDraining
	return nil
}

// Resume implements [lb.Resumer].
func (m *Memory) Resume(ctx context.Context, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if !ok {
		return fmt.Errorf("memory: resume %q: %w", id, lb.ErrNotFound)
	}
	mb.state = lb.StateReady
	return nil
}

// Remove implements [lb.Balancer].
func (m *Memory) Remove(ctx context.Context, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.pool, id)
	return nil
}

// ActiveConns implements [lb.ConnCounter].
func (m *Memory) ActiveConns(ctx context.Context, id string) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if !ok {
		return 0, fmt.Errorf("memory: active conns %q: %w", id, lb.ErrNotFound)
	}
	return mb.active, nil
}

// SetWeight implements [lb.Weighter].
func (m *Memory) SetWeight(ctx context.Context, id string, weight int) error {
	if weight < 0 || weight > 256 {
		return fmt.Errorf("memory: weight %d out of 0–256: %w", weight, lb.ErrInvalid)
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if !ok {
		return fmt.Errorf("memory: set weight %q: %w", id, lb.ErrNotFound)
	}
	mb.weight = weight
	return nil
}

// Close marks the balancer closed; later calls return [lb.ErrClosed].
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Serve counts n requests, spread round-robin over the ready backends (or
// on the total alone when none is ready). It returns the number of ready
// backends that served.
func (m *Memory) Serve(n uint64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total += n
	var ready []*memBackend
	for _, id := range slices.Sorted(maps.Keys(m.pool)) {
		if mb := m.pool[id]; mb.state == lb.StateReady && mb.weight > 0 {
			ready = append(ready, mb)
		}
	}
	if len(ready) == 0 {
		return 0
	}
	for i, mb := range ready {
		share := n / uint64(len(ready))
		if uint64(i) < n%uint64(len(ready)) {
			share++
		}
		mb.served += share
	}
	return len(ready)
}

// ServeErrors counts n requests that backend id served and answered with
// a 5xx status: the backend's Requests and Errors and the total Requests
// all rise by n, as HAProxy's req_tot and hrsp_5xx do for a server that
// answers 500 (a 5xx response is also a request: lb/haproxy reads both
// from one show stat row). It reports whether id is a ready backend with a
// weight above 0; otherwise it counts nothing, since a draining or
// weight-0 backend takes no new requests.
func (m *Memory) ServeErrors(id string, n uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if !ok || mb.state != lb.StateReady || mb.weight == 0 {
		return false
	}
	m.total += n
	mb.served += n
	mb.errors += n
	return true
}

// SetActive sets the connections in flight to backend id; it reports
// whether id is in the pool.
func (m *Memory) SetActive(id string, n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	mb, ok := m.pool[id]
	if ok {
		mb.active = n
	}
	return ok
}

// State returns the backend's state, StateUnknown for an absent one.
func (m *Memory) State(id string) lb.State {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mb, ok := m.pool[id]; ok {
		return mb.state
	}
	return lb.StateUnknown
}

// Weight returns the backend's weight, -1 for an absent one.
func (m *Memory) Weight(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mb, ok := m.pool[id]; ok {
		return mb.weight
	}
	return -1
}

// Restart clears every counter, as a balancer restart does. The pool stays.
func (m *Memory) Restart() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total = 0
	for _, mb := range m.pool {
		mb.served = 0
		mb.errors = 0
	}
}

// FailStats makes Stats return an error wrapping err until called with nil.
func (m *Memory) FailStats(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.statsErr = err
}
