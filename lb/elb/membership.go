package elb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// targetFor returns the ELB target of a backend: its address for IP
// targets, Config.InstanceID's answer (with the backend's port for
// target groups) for instance targets.
func (b *Balancer) targetFor(ctx context.Context, be lb.Backend) (target, error) {
	if b.ttype == TargetIP {
		return ipTarget(be.Addr), nil
	}
	id, err := b.cfg.InstanceID(ctx, be)
	if err != nil {
		return target{}, fmt.Errorf("InstanceID(%s): %w", be, err)
	}
	if id == "" {
		return target{}, fmt.Errorf("InstanceID(%s) returned an empty instance ID: %w", be, lb.ErrInvalid)
	}
	if b.kind == kindClassic {
		return target{id: id}, nil
	}
	return target{id: id, port: int32(be.Addr.Port())}, nil
}

// Add registers the backend with the target group (RegisterTargets) or the
// classic load balancer (RegisterInstancesWithLoadBalancer). ELB sends it
// traffic once its health checks pass.
//   - Adding a backend that is in the pool with the same address changes
//     nothing, even while it drains.
//   - An ID in the pool with another address, or a second backend that
//     maps to a target already in the pool, fails with lb.ErrExists.
//   - If ELB refuses, nothing is recorded and the AWS error is wrapped.
func (b *Balancer) Add(ctx context.Context, be lb.Backend) error {
	if err := be.Validate(); err != nil {
		return fmt.Errorf("elb: add: %w", err)
	}
	unlock, err := b.lockMembership(ctx)
	if err != nil {
		return fmt.Errorf("elb: add %s: %w", be, err)
	}
	defer unlock()
	b.mu.Lock()
	e := b.backends[be.ID]
	b.mu.Unlock()
	if e != nil {
		if e.b.Addr == be.Addr {
			return nil
		}
		return fmt.Errorf("elb: add %s: in the pool as %s: %w", be, e.b, lb.ErrExists)
	}
	if b.kind == kindClassic && !slices.Contains(b.ports, int32(be.Addr.Port())) {
		return fmt.Errorf("elb: add %s: %s sends traffic only to instance port %v (its listeners' InstancePort), not %d: %w",
			be, b.where(), b.ports, be.Addr.Port(), lb.ErrInvalid)
	}
	t, err := b.targetFor(ctx, be)
	if err != nil {
		return fmt.Errorf("elb: add %s: %w", be, err)
	}
	b.mu.Lock()
	other, taken := b.byTarget[t]
	b.mu.Unlock()
	if taken {
		return fmt.Errorf("elb: add %s: target %s is in the pool as backend %q: %w", be, t, other, lb.ErrExists)
	}
	if err := b.pool.register(ctx, t); err != nil {
		return fmt.Errorf("elb: add %s to %s: %w", be, b.where(), err)
	}
	b.mu.Lock()
	b.backends[be.ID] = &entry{b: be, t: t}
	b.byTarget[t] = be.ID
	b.gen++
	b.mu.Unlock()
	b.log.Info("elb: registered", "backend", be.String(), "target", t.String(), "balancer", b.where())
	return nil
}

// adopted returns the pool entry for an ID that names a target this
// Balancer did not add ("10.0.0.5:8080", "i-0abc:8080"), when Config.Adopt
// is set and ELB holds the target. The caller holds the membership lock.
func (b *Balancer) adopted(ctx context.Context, id string) (*entry, error) {
	t, ok := parseTarget(id)
	if !b.cfg.Adopt || b.kind == kindClassic || !ok {
		return nil, nil
	}
	h, err := b.pool.health(ctx, []target{t})
	if err != nil {
		return nil, err
	}
	if !holds(h[t]) {
		return nil, nil
	}
	e := &entry{b: lb.Backend{ID: id, Addr: t.addr()}, t: t, draining: h[t] == stateDraining || h[t] == stateUnhealthyDr}
	if e.draining {
		e.drainedAt = b.cfg.Now()
	}
	return e, nil
}

// lookup returns the pool entry of id, adopting it if need be, or an
// error wrapping lb.ErrNotFound. The caller holds the membership lock.
func (b *Balancer) lookup(ctx context.Context, id string) (*entry, error) {
	b.mu.Lock()
	e := b.backends[id]
	b.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := b.adopted(ctx, id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("backend %q: %w", id, lb.ErrNotFound)
	}
	b.mu.Lock()
	b.backends[id] = e
	b.byTarget[e.t] = id
	b.mu.Unlock()
	return e, nil
}

// Drain deregisters the backend (DeregisterTargets, or
// DeregisterInstancesFromLoadBalancer): ELB sends it no new requests and
// lets open ones finish for up to the target group's deregistration delay
// (the classic load balancer's connection-draining timeout). The backend
// stays listed until Remove; WaitDrained or ActiveConns tell when ELB is
// done with it.
//   - Draining a draining backend changes nothing.
//   - An unknown ID fails with lb.ErrNotFound.
func (b *Balancer) Drain(ctx context.Context, id string) error {
	unlock, err := b.lockMembership(ctx)
	if err != nil {
		return fmt.Errorf("elb: drain %s: %w", id, err)
	}
	defer unlock()
	e, err := b.lookup(ctx, id)
	if err != nil {
		return fmt.Errorf("elb: drain: %w", err)
	}
	if e.draining {
		return nil
	}
	if err := b.pool.deregister(ctx, e.t); err != nil {
		return fmt.Errorf("elb: drain %s from %s: %w", e.b, b.where(), err)
	}
	b.mu.Lock()
	e.draining = true
	e.drainedAt = b.cfg.Now()
	b.gen++
	b.mu.Unlock()
	b.log.Info("elb: deregistered; draining", "backend", e.b.String(), "target", e.t.String(), "balancer", b.where())
	return nil
}

var _ lb.Resumer = (*Balancer)(nil)

// Resume puts a draining backend back into service by registering its
// target again (RegisterTargets, or RegisterInstancesWithLoadBalancer),
// implementing [lb.Resumer]: ELB stops the deregistration and, as for a
// new target, sends it requests once its health checks pass. Requests it
// let finish while draining are not affected.
//   - Resuming a backend that is not draining changes nothing.
//   - An unknown ID fails with lb.ErrNotFound.
//   - If ELB refuses, the backend stays draining and the AWS error is
//     wrapped.
func (b *Balancer) Resume(ctx context.Context, id string) error {
	unlock, err := b.lockMembership(ctx)
	if err != nil {
		return fmt.Errorf("elb: resume %s: %w", id, err)
	}
	defer unlock()
	e, err := b.lookup(ctx, id)
	if err != nil {
		return fmt.Errorf("elb: resume: %w", err)
	}
	b.mu.Lock()
	draining := e.draining
	b.mu.Unlock()
	if !draining {
		return nil
	}
	if err := b.pool.register(ctx, e.t); err != nil {
		return fmt.Errorf("elb: resume %s in %s: %w", e.b, b.where(), err)
	}
	b.mu.Lock()
	e.draining = false
	e.drainedAt = time.Time{}
	b.gen++
	b.mu.Unlock()
	b.log.Info("elb: registered again; resumed", "backend", e.b.String(), "target", e.t.String(), "balancer", b.where())
	return nil
}

// Remove takes the backend out of the pool. A backend that was not
// drained is deregistered now; ELB still lets its open requests finish
// (the driver cannot cut them short). Removing an unknown ID succeeds.
func (b *Balancer) Remove(ctx context.Context, id string) error {
	unlock, err := b.lockMembership(ctx)
	if err != nil {
		return fmt.Errorf("elb: remove %s: %w", id, err)
	}
	defer unlock()
	e, err := b.lookup(ctx, id)
	if err != nil {
		if errors.Is(err, lb.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("elb: remove: %w", err)
	}
	if !e.draining {
		if err := b.pool.deregister(ctx, e.t); err != nil {
			return fmt.Errorf("elb: remove %s from %s: %w", e.b, b.where(), err)
		}
		b.log.Info("elb: deregistered", "backend", e.b.String(), "target", e.t.String(), "balancer", b.where())
	}
	b.mu.Lock()
	delete(b.backends, id)
	delete(b.byTarget, e.t)
	b.gen++
	b.mu.Unlock()
	return nil
}

// Backends lists the backends added (and not removed) through this
// Balancer, draining ones included. With Config.Adopt it also lists the
// targets ELB holds that no backend maps to (not those draining), which
// costs a DescribeTargetHealth call; an adopted instance target has no
// address.
func (b *Balancer) Backends(ctx context.Context) ([]lb.Backend, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("elb: backends: %w", err)
	}
	if err := b.checkOpen(); err != nil {
		return nil, fmt.Errorf("elb: backends: %w", err)
	}
	var held map[target]string
	if b.cfg.Adopt && b.kind != kindClassic {
		var err error
		if held, err = b.pool.health(ctx, nil); err != nil {
			return nil, fmt.Errorf("elb: backends of %s: %w", b.where(), err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]lb.Backend, 0, len(b.backends)+len(held))
	for _, e := range b.backends {
		out = append(out, e.b)
	}
	for t, st := range held {
		if _, ok := b.byTarget[t]; !ok && holds(st) && st != stateDraining && st != stateUnhealthyDr {
			out = append(out, lb.Backend{ID: t.String(), Addr: t.addr()})
		}
	}
	slices.SortFunc(out, func(x, y lb.Backend) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// Health returns the state of every backend in the pool as ELB reports it
// (one DescribeTargetHealth or DescribeInstanceHealth call): ready once
// health checks pass, unknown while they have not yet, down when failing,
// draining after Drain until Remove.
func (b *Balancer) Health(ctx context.Context) (map[string]lb.State, error) {
	if err := b.checkOpen(); err != nil {
		return nil, fmt.Errorf("elb: health: %w", err)
	}
	b.mu.Lock()
	es := make([]entry, 0, len(b.backends))
	ts := make([]target, 0, len(b.backends))
	for _, e := range b.backends {
		es = append(es, *e)
		ts = append(ts, e.t)
	}
	b.mu.Unlock()
	out := make(map[string]lb.State, len(es))
	if len(ts) == 0 {
		return out, ctx.Err()
	}
	h, err := b.pool.health(ctx, ts)
	if err != nil {
		return nil, fmt.Errorf("elb: health of %s: %w", b.where(), err)
	}
	for _, e := range es {
		out[e.b.ID] = toState(h[e.t], e.draining)
	}
	return out, nil
}

// ActiveConns answers whether ELB may still send or hold requests to the
// backend: 1 while ELB holds the target (registered in any health state,
// or still draining), 0 once it has let go. ELB publishes no per-target
// connection count, so this is the only honest reading; it is what a
// caller waiting for a drained backend needs. How "let go" is observed
// per kind:
//   - ALB: DescribeTargetHealth no longer reports the target (after
//     "draining", which lasts the whole deregistration delay).
//   - NLB: the same; but when the target group's
//     deregistration_delay.connection_termination.enabled is false (AWS's
//     default) the NLB keeps the target's flows open after it reports it
//     "unused", so a drained target counts 1 until Config.FlowLinger
//     after the deregistration delay.
//   - Classic ELB: DescribeInstanceHealth no longer reports the instance
//     InService with "Instance deregistration currently in progress".
//
// An unknown ID fails with lb.ErrNotFound.
//
// Callers poll it (the mesos scheduler does, every tick, for every
// draining backend), so one health reading of the whole pool answers
// every call for Config.DrainPoll; a membership change starts a new
// reading.
func (b *Balancer) ActiveConns(ctx context.Context, id string) (int, error) {
	if err := b.checkOpen(); err != nil {
		return 0, fmt.Errorf("elb: active conns %s: %w", id, err)
	}
	b.mu.Lock()
	e := b.backends[id]
	var snap entry
	if e != nil {
		snap = *e
	}
	b.mu.Unlock()
	if e == nil {
		return 0, fmt.Errorf("elb: active conns: backend %q: %w", id, lb.ErrNotFound)
	}
	h, err := b.poolHealth(ctx)
	if err != nil {
		return 0, fmt.Errorf("elb: active conns %s: %w", snap.b, err)
	}
	st, ok := h[snap.t]
	if !ok {
		return 1, nil // not in this reading (added since): ELB holds it
	}
	done, err := b.released(ctx, snap, st)
	if err != nil {
		return 0, fmt.Errorf("elb: active conns %s: %w", snap.b, err)
	}
	if done {
		return 0, nil
	}
	return 1, nil
}

// released reports whether ELB has let go of e, whose ELB state is st:
// it no longer holds the target and, for a drained NLB target whose flows
// outlive the delay, Config.FlowLinger has passed since the delay ended.
func (b *Balancer) released(ctx context.Context, e entry, st string) (bool, error) {
	if holds(st) {
		return false, nil
	}
	if b.kind != kindNLB || !e.draining || b.cfg.FlowLinger < 0 {
		return true, nil
	}
	p, err := b.drainPolicy(ctx)
	if err != nil {
		return false, err
	}
	if !p.flowsOutlive {
		return true, nil
	}
	return !b.cfg.Now().Before(e.drainedAt.Add(p.delay + b.cfg.FlowLinger)), nil
}

// healthCache is one health reading of the whole pool.
type healthCache struct {
	m   map[target]string
	at  time.Time // real time of the reading
	gen uint64    // membership generation it was read at
}

// poolHealth returns the ELB state of every target in the pool, from a
// reading at most Config.DrainPoll old and taken since the last
// membership change.
func (b *Balancer) poolHealth(ctx context.Context) (map[target]string, error) {
	b.mu.Lock()
	if c := b.hc; c.m != nil && c.gen == b.gen && time.Since(c.at) < b.cfg.DrainPoll {
		b.mu.Unlock()
		return c.m, ctx.Err()
	}
	gen := b.gen
	ts := make([]target, 0, len(b.backends))
	for _, e := range b.backends {
		ts = append(ts, e.t)
	}
	b.mu.Unlock()
	start := time.Now()
	h, err := b.pool.health(ctx, ts)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.gen == gen {
		b.hc = healthCache{m: h, at: start, gen: gen}
	}
	b.mu.Unlock()
	return h, nil
}

// drainPolicy returns the load balancer's drain policy, read once.
func (b *Balancer) drainPolicy(ctx context.Context) (drainPolicy, error) {
	b.mu.Lock()
	if b.haveDel {
		defer b.mu.Unlock()
		return b.drainPol, nil
	}
	b.mu.Unlock()
	p, err := b.pool.drainPolicy(ctx)
	if err != nil {
		return drainPolicy{}, err
	}
	b.mu.Lock()
	b.drainPol, b.haveDel = p, true
	b.mu.Unlock()
	return p, nil
}

// WaitDrained waits until ELB has finished draining a backend that Drain
// deregistered, polling its health every Config.DrainPoll, and observing
// the end as ActiveConns does (per kind: the target no longer reported;
// for an NLB whose flows outlive the delay, also Config.FlowLinger after
// it; for classic ELB, the instance no longer reported as deregistering).
// It gives up with an error wrapping ErrStale after the deregistration
// delay (read from the target group's deregistration_delay.timeout_seconds,
// or the classic load balancer's connection-draining timeout), plus
// FlowLinger where it applies, plus Config.DrainGrace. A backend that is
// not draining fails with lb.ErrInvalid, an unknown one with
// lb.ErrNotFound.
func (b *Balancer) WaitDrained(ctx context.Context, id string) error {
	if err := b.checkOpen(); err != nil {
		return fmt.Errorf("elb: wait drained %s: %w", id, err)
	}
	b.mu.Lock()
	e := b.backends[id]
	var snap entry
	if e != nil {
		snap = *e
	}
	b.mu.Unlock()
	switch {
	case e == nil:
		return fmt.Errorf("elb: wait drained: backend %q: %w", id, lb.ErrNotFound)
	case !snap.draining:
		return fmt.Errorf("elb: wait drained %s: not draining; call Drain first: %w", snap.b, lb.ErrInvalid)
	}
	p, err := b.drainPolicy(ctx)
	if err != nil {
		return fmt.Errorf("elb: wait drained %s: %w", snap.b, err)
	}
	delay := p.delay
	if b.kind == kindNLB && p.flowsOutlive && b.cfg.FlowLinger > 0 {
		delay += b.cfg.FlowLinger // the NLB's flows outlive the delay
	}
	limit := delay + b.cfg.DrainGrace
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(b.cfg.DrainPoll)
	defer tick.Stop()
	for {
		h, err := b.pool.health(ctx, []target{snap.t})
		if err != nil {
			return fmt.Errorf("elb: wait drained %s: %w", snap.b, err)
		}
		done, err := b.released(ctx, snap, h[snap.t])
		if err != nil {
			return fmt.Errorf("elb: wait drained %s: %w", snap.b, err)
		}
		if done {
			b.mu.Lock()
			b.hc = healthCache{} // a newer reading than the cache's
			b.mu.Unlock()
			b.log.Info("elb: drained", "backend", snap.b.String(), "target", snap.t.String())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("elb: wait drained %s: %w", snap.b, ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("elb: wait drained %s: ELB still reports %q after the drain delay %s + grace %s: %w",
				snap.b, h[snap.t], delay, b.cfg.DrainGrace, ErrStale)
		case <-tick.C:
		}
	}
}
