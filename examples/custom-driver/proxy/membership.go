package proxy

import (
	"context"
	"fmt"
	"slices"

	"github.com/webfarm/webfarm/lb"
)

// Add implements [lb.Balancer]: the backend is ready at once.
func (b *Balancer) Add(ctx context.Context, be lb.Backend) error {
	if err := be.Validate(); err != nil {
		return fmt.Errorf("proxy: add: %w", err)
	}
	if err := b.lock(ctx, "add "+be.ID); err != nil {
		return err
	}
	defer b.mu.Unlock()
	if old, ok := b.pool[be.ID]; ok {
		if old.b.Addr != be.Addr {
			return fmt.Errorf("proxy: add %s: pool has %s: %w", be, old.b, lb.ErrExists)
		}
		return nil // same backend: no change, a draining one stays draining
	}
	n := &backend{b: be, state: lb.StateReady, weight: defaultWeight}
	b.pool[be.ID] = n
	b.order = append(b.order, n)
	return nil
}

// Drain implements [lb.Balancer]: no new requests go to the backend;
// requests in flight finish.
func (b *Balancer) Drain(ctx context.Context, id string) error {
	if err := b.lock(ctx, "drain "+id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	be, ok := b.pool[id]
	if !ok {
		return fmt.Errorf("proxy: drain %q: %w", id, lb.ErrNotFound)
	}
	be.state = lb.StateDraining
	return nil
}

// Remove implements [lb.Balancer]. Removing an absent ID succeeds.
func (b *Balancer) Remove(ctx context.Context, id string) error {
	if err := b.lock(ctx, "remove "+id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	be, ok := b.pool[id]
	if !ok {
		return nil
	}
	delete(b.pool, id)
	b.order = slices.DeleteFunc(b.order, func(x *backend) bool { return x == be })
	return nil
}

// Backends implements [lb.Balancer], in the order they were added.
func (b *Balancer) Backends(ctx context.Context) ([]lb.Backend, error) {
	if err := b.lock(ctx, "backends"); err != nil {
		return nil, err
	}
	defer b.mu.Unlock()
	out := make([]lb.Backend, len(b.order))
	for i, be := range b.order {
		out[i] = be.b
	}
	return out, nil
}

// ActiveConns implements [lb.ConnCounter]: requests in flight to the
// backend.
func (b *Balancer) ActiveConns(ctx context.Context, id string) (int, error) {
	if err := b.lock(ctx, "active conns "+id); err != nil {
		return 0, err
	}
	defer b.mu.Unlock()
	be, ok := b.pool[id]
	if !ok {
		return 0, fmt.Errorf("proxy: active conns %q: %w", id, lb.ErrNotFound)
	}
	return int(be.active.Load()), nil
}

// SetWeight implements [lb.Weighter]. Weight 0 sends no new requests.
func (b *Balancer) SetWeight(ctx context.Context, id string, weight int) error {
	if weight < 0 || weight > 256 {
		return fmt.Errorf("proxy: set weight %q to %d: want 0–256: %w", id, weight, lb.ErrInvalid)
	}
	if err := b.lock(ctx, "set weight "+id); err != nil {
		return err
	}
	defer b.mu.Unlock()
	be, ok := b.pool[id]
	if !ok {
		return fmt.Errorf("proxy: set weight %q: %w", id, lb.ErrNotFound)
	}
	be.weight, be.current = weight, 0
	return nil
}
