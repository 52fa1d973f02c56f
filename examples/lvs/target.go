package main

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// poolTarget is a scaler.Runner over a fixed pool of servers: running n
// means the first n servers of the pool are in the balancer, ready; the
// others are drained (and removed by the balancer's reaper once idle).
// It stands in for the Mesos scheduler where servers are not tasks.
type poolTarget struct {
	b      lb.Balancer
	pool   []lb.Backend
	weight int // of a server put back into service

	mu      sync.Mutex
	desired int
}

var _ scaler.Runner = (*poolTarget)(nil)

// newPoolTarget starts with as many servers as the balancer already has
// ready from the pool (so a restart changes nothing).
func newPoolTarget(ctx context.Context, b lb.Balancer, addrs []netip.AddrPort, weight int, dryRun bool) (*poolTarget, error) {
	t := &poolTarget{b: b, weight: weight}
	for i, a := range addrs {
		t.pool = append(t.pool, lb.Backend{ID: fmt.Sprintf("pool-%d", i), Addr: a})
	}
	ready, err := t.ready(ctx)
	if err != nil {
		return nil, err
	}
	t.desired = ready
	if !dryRun {
		// Name any adopted server at a pool address with its pool ID.
		for _, be := range t.pool[:ready] {
			if err := b.Add(ctx, be); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// ready counts the leading pool servers that are ready in the balancer.
func (t *poolTarget) ready(ctx context.Context) (int, error) {
	s, err := t.b.Stats(ctx)
	if err != nil {
		return 0, err
	}
	byAddr := map[netip.AddrPort]lb.State{}
	bs, err := t.b.Backends(ctx)
	if err != nil {
		return 0, err
	}
	for _, be := range bs {
		byAddr[be.Addr] = s.Backends[be.ID].State
	}
	n := 0
	for _, be := range t.pool {
		if byAddr[be.Addr] != lb.StateReady {
			break
		}
		n++
	}
	return n, nil
}

// Status implements scaler.Runner.
func (t *poolTarget) Status(ctx context.Context) (scaler.Status, error) {
	n, err := t.ready(ctx)
	if err != nil {
		return scaler.Status{}, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return scaler.Status{Desired: t.desired, Running: n}, nil
}

// SetDesired implements scaler.Runner: servers below n are added, the
// rest drained.
func (t *poolTarget) SetDesired(ctx context.Context, n int) error {
	if n < 0 || n > len(t.pool) {
		return fmt.Errorf("pool target: %d servers asked, the pool has %d: %w", n, len(t.pool), lb.ErrInvalid)
	}
	in, err := t.b.Backends(ctx)
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, be := range in {
		present[be.ID] = true
	}
	for i, be := range t.pool {
		switch {
		case i < n:
			if !present[be.ID] {
				if err := t.b.Add(ctx, be); err != nil {
					return err
				}
				continue
			}
			// Add leaves a draining server draining. In IPVS a positive
			// weight puts it back into service.
			if err := lb.SetWeight(ctx, t.b, be.ID, t.weight); err != nil {
				return err
			}
		case present[be.ID]:
			if err := t.b.Drain(ctx, be.ID); err != nil {
				return err
			}
		}
	}
	t.mu.Lock()
	t.desired = n
	t.mu.Unlock()
	return nil
}
