package mesos

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/webfarm/webfarm/lb"
)

// convergeGap is the least time between two converges started by pokes.
// A converge walks every task of every service; events come in bursts
// (thousands a second while thousands of tasks start), and the pokes of a
// burst are served by one converge per gap instead of one per event.
const convergeGap = 10 * time.Millisecond

// convergeLoop runs converge every Tick and whenever an event or
// SetDesired pokes it (at most once per convergeGap), until ctx is done.
func (s *Scheduler) convergeLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		s.safeConverge(ctx)
		gap.Reset(convergeGap)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
			select {
			case <-ctx.Done():
				return
			case <-gap.C:
			}
		}
	}
}

// safeConverge runs converge; a panic (a balancer driver's, say) is logged
// with its stack and the loop goes on at the next tick.
func (s *Scheduler) safeConverge(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			_ = s.recovered("converging", p)
		}
	}()
	s.converge(ctx, s.now())
}

// converge moves the tasks and the balancer one step towards the desired
// state. It is the only writer of balancer membership, and runs on one
// goroutine at a time.
func (s *Scheduler) converge(ctx context.Context, now time.Time) {
	s.watchdog(now)
	s.finishReconcile(ctx, now)
	// Services converge side by side: each talks to its own balancer, and
	// one that is slow (a driver waiting out its timeout) does not hold
	// the others' launches, drains and kills back by as long.
	svs := s.serviceList()
	if len(svs) == 1 {
		svs[0].converge(ctx, now)
	} else {
		var wg sync.WaitGroup
		for _, sv := range svs {
			wg.Go(func() {
				defer func() {
					if p := recover(); p != nil {
						_ = s.recovered("converging service "+sv.name, p)
					}
				}()
				sv.converge(ctx, now)
			})
		}
		wg.Wait()
	}
	s.finishRemovals()
	s.setOfferMode(ctx)
}

// converge moves one service's tasks and balancer pool one step towards
// its desired state. It runs concurrently with the other services'.
func (s *service) converge(ctx context.Context, now time.Time) {
	s.deployStep(now)
	s.deployErrors(ctx, now)
	s.endFailureStreak(now)
	s.removeGone(ctx)
	s.syncPool(ctx, now)
	s.syncServing(ctx, now)
	s.ramp(ctx, now)
	s.weigh(ctx) // deploy.go: canary weights
	s.expireLaunches(now)
	s.resumeVictims(ctx, now)
	s.pickVictims(ctx)
	s.drainAndKill(ctx, now)
}

// endFailureStreak forgets past failures once a task has served for
// RelaunchBackoffMax: the command works.
func (s *service) endFailureStreak(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failures == 0 {
		return
	}
	for _, t := range s.tasks {
		if !t.gone && t.inLB && !t.servedAt.IsZero() && now.Sub(t.servedAt) >= s.cfg.RelaunchBackoffMax {
			s.log.Info("mesos: a task serves again; launches no longer held back", "task", t.id, "failures", s.failures)
			s.failures, s.holdUntil = 0, time.Time{}
			return
		}
	}
}

// watchdogLoop runs the heartbeat watchdog every Tick on its own
// goroutine: converge runs it too, but converge may wait out a balancer's
// or a call's timeout (a SUPPRESS or KILL sent into the very partition
// the watchdog is there to notice).
func (s *Scheduler) watchdogLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.watchdog(s.now())
		}
	}
}

// watchdog drops a subscription that has been silent for
// MissedHeartbeats heartbeat intervals; controller.Run re-subscribes.
func (s *Scheduler) watchdog(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.connected || s.heartbeat <= 0 || s.subCancel == nil {
		return
	}
	limit := time.Duration(s.cfg.MissedHeartbeats) * s.heartbeat
	if silent := now.Sub(s.lastEvent); silent > limit {
		s.log.Warn("mesos: missed heartbeats; re-subscribing", "silent", silent.Round(time.Millisecond),
			"heartbeat", s.heartbeat, "master", s.leader.URL())
		s.subCancel()
		s.subCancel = nil
		if s.abandon != nil {
			s.abandon()
		}
		s.connected = false
		// Pooled connections may lead into the same partition.
		s.closeIdle()
	}
}

// finishReconcile ends the reconciliation that follows a subscription
// once every task asked about was answered, or ReconcileTimeout passed.
// The first one also cleans each service's balancer: entries with no live
// task go.
func (s *Scheduler) finishReconcile(ctx context.Context, now time.Time) {
	s.mu.Lock()
	if s.reconciled || !s.connected || s.reconcileStart.IsZero() {
		s.mu.Unlock()
		return
	}
	if len(s.pending) > 0 && now.Sub(s.reconcileStart) < s.cfg.ReconcileTimeout {
		s.mu.Unlock()
		return
	}
	unanswered := sortedIDs(s.pending)
	s.reconciled = true
	s.reconcileStart, s.pending = time.Time{}, nil
	// Services the state file listed that were not added by now: their
	// tasks were killed as unknown; forget them.
	clear(s.orphans)
	services := s.serviceListLocked()
	s.mu.Unlock()
	if len(unanswered) > 0 {
		s.log.Warn("mesos: reconciliation timed out", "unanswered", unanswered)
	}
	for _, sv := range services {
		sv.removeStaleAtStart(ctx)
	}
	s.log.Info("mesos: reconciled", "tasks", len(s.Tasks()))
	s.save()
}

// removeStaleAtStart removes, after the first reconciliation, the pool
// entries read at start that no live task backs.
func (s *service) removeStaleAtStart(ctx context.Context) {
	s.mu.Lock()
	var stale []string
	if s.lbRead {
		for _, id := range sortedIDs(s.poolAtStart) {
			if t, ok := s.tasks[id]; (!ok || t.gone) && s.ours(id) {
				stale = append(stale, id)
			}
		}
		// Tasks the master has not answered for stay adoptable (an answer
		// that comes late adopts the task, and a scale-down drains the
		// surplus); those it reported gone were dropped from known.
		s.drainingAtStart, s.poolAtStart = nil, nil
	}
	s.mu.Unlock()
	for _, id := range stale {
		if err := s.lb.Remove(ctx, id); err != nil {
			s.log.Warn("mesos: cannot remove stale backend", "backend", id, "err", err)
			s.lbFailed()
			continue
		}
		s.log.Info("mesos: backend removed", "backend", id, "reason", "no live task after reconciliation")
	}
}

// removeGone takes ended tasks out of the balancer at once and forgets
// them.
func (s *service) removeGone(ctx context.Context) {
	s.mu.Lock()
	var gone []*task
	for _, t := range s.tasks {
		if t.gone {
			gone = append(gone, t)
		}
	}
	s.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	for _, t := range gone {
		s.mu.Lock()
		inLB, addr, reason := t.inLB, t.addr, t.reason
		s.mu.Unlock()
		if inLB {
			if err := s.lb.Remove(ctx, t.id); err != nil {
				s.log.Warn("mesos: cannot remove backend", "backend", t.id, "err", err)
				s.lbFailed()
				continue
			}
			s.log.Info("mesos: backend removed", "backend", t.id, "addr", addr.String(), "reason", reason)
		}
		s.mu.Lock()
		t.inLB = false
		delete(s.tasks, t.id)
		s.mu.Unlock()
	}
	s.save()
}

// syncServing adds tasks that serve and are not in the balancer, and
// takes out those that stopped serving (unhealthy, or killed by someone
// else).
func (s *service) syncServing(ctx context.Context, now time.Time) {
	s.mu.Lock()
	var add, out []*task
	for _, t := range s.tasks {
		switch {
		case t.gone || t.victim:
		case !t.inLB && t.serving():
			add = append(add, t)
		case t.inLB && !t.serving():
			out = append(out, t)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(add, func(a, b *task) int { return cmp.Compare(a.id, b.id) })
	_, canWeigh := s.lb.(lb.Weighter)
	for _, t := range add {
		b := lb.Backend{ID: t.id, Addr: t.addr}
		if err := s.lb.Add(ctx, b); err != nil {
			s.log.Warn("mesos: cannot add backend", "backend", b.String(), "err", err)
			s.lbFailed()
			continue
		}
		w := 0
		if s.cfg.SlowStart > 0 && canWeigh {
			w = rampStartWeight(s.cfg.Weight)
			if err := lb.SetWeight(ctx, s.lb, t.id, w); err != nil {
				s.log.Warn("mesos: cannot set weight", "backend", t.id, "err", err)
				w = 0
			}
		}
		s.mu.Lock()
		t.inLB = true
		if t.servedAt.IsZero() {
			t.servedAt = now
		}
		if w > 0 {
			t.rampStart, t.weight = now, w
		}
		repair := t.repair
		t.repair = false
		s.mu.Unlock()
		if repair {
			s.log.Warn("mesos: backend re-added", "backend", t.id, "addr", t.addr.String(), "host", t.host,
				"reason", "pool repair: missing from the balancer's pool", "slow_start", w > 0)
			continue
		}
		s.log.Info("mesos: backend added", "backend", t.id, "addr", t.addr.String(), "host", t.host,
			"slow_start", w > 0)
	}
	for _, t := range out {
		if err := s.lb.Remove(ctx, t.id); err != nil {
			s.log.Warn("mesos: cannot remove backend", "backend", t.id, "err", err)
			s.lbFailed()
			continue
		}
		s.mu.Lock()
		t.inLB, t.rampStart = false, time.Time{}
		state := t.state.String()
		s.mu.Unlock()
		s.log.Info("mesos: backend removed", "backend", t.id, "reason", "not serving", "state", state)
	}
}

// reasonScaleDown marks victims chosen because more tasks run than
// desired; only those may be resumed.
const reasonScaleDown = "scale-down"

// rampStartWeight is a slow-starting backend's first weight: a tenth of
// the full weight.
func rampStartWeight(full int) int { return max(1, full/10) }

// ramp raises slow-starting backends' weights linearly to Weight over
// SlowStart.
func (s *service) ramp(ctx context.Context, now time.Time) {
	if s.cfg.SlowStart <= 0 {
		return
	}
	type step struct {
		t *task
		w int
	}
	var steps []step
	s.mu.Lock()
	for _, t := range s.tasks {
		if t.rampStart.IsZero() || !t.inLB || t.gone || t.victim {
			continue
		}
		el := now.Sub(t.rampStart)
		w := s.cfg.Weight
		if el < s.cfg.SlowStart {
			w = max(rampStartWeight(s.cfg.Weight), int(int64(s.cfg.Weight)*int64(el)/int64(s.cfg.SlowStart)))
		}
		if w != t.weight {
			steps = append(steps, step{t, w})
		}
	}
	s.mu.Unlock()
	for _, st := range steps {
		if err := lb.SetWeight(ctx, s.lb, st.t.id, st.w); err != nil {
			s.log.Warn("mesos: cannot set weight", "backend", st.t.id, "weight", st.w, "err", err)
			continue
		}
		s.mu.Lock()
		st.t.weight = st.w
		if st.w >= s.cfg.Weight {
			st.t.rampStart = time.Time{}
		}
		s.mu.Unlock()
	}
}

// expireLaunches gives up on tasks that stayed staging for LaunchTimeout:
// they are killed (and replaced).
func (s *service) expireLaunches(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		if !t.gone && !t.victim && t.state == mesos.TASK_STAGING && now.Sub(t.launched) > s.cfg.LaunchTimeout {
			t.victim, t.reason = true, "launch timed out"
			s.log.Warn("mesos: task staging too long; killing it", "task", t.id, "since", t.launched)
		}
	}
}

// resumableLocked reports whether victim t may go back into service
// instead of a new task being launched: it was chosen by a scale-down (not
// for a failed launch), no KILL was sent, it still serves, and either it
// is not in the balancer or the balancer can resume it.
func (s *service) resumableLocked(t *task) bool {
	if !t.victim || t.gone || !t.killSent.IsZero() || !strings.HasPrefix(t.reason, reasonScaleDown) {
		return false
	}
	if !t.serving() {
		return false
	}
	_, can := s.lb.(lb.Resumer)
	return can || !t.inLB
}

// resumableCountLocked is how many victims resumeVictims would put back
// into service now, at most the shortfall: offers launch only the rest.
func (s *service) resumableCountLocked() int {
	short := s.targetLocked() - s.liveLocked()
	if short <= 0 || !s.reconciled {
		return 0
	}
	n := 0
	for _, t := range s.tasks {
		if n < short && s.resumableLocked(t) {
			n++
		}
	}
	return n
}

// resumeVictims puts scale-down victims back into service when the desired
// count rose again before they were killed: instant capacity, no start-up
// delay, no task churn. The most recently drained go back first (a victim
// not yet drained counts as the most recent): their drain has run the
// shortest time, so they kept the most of their connections and warm
// state, and the scale-up undoes the scale-down in reverse order. Only
// the shortfall is resumed; offers launch the rest. A victim in the
// balancer needs a balancer that implements [lb.Resumer]; without one it
// is drained and killed as before and a new task is launched.
func (s *service) resumeVictims(ctx context.Context, now time.Time) {
	s.mu.Lock()
	short := s.targetLocked() - s.liveLocked()
	if short <= 0 || !s.reconciled {
		s.mu.Unlock()
		return
	}
	type cand struct {
		t          *task
		inLB       bool
		drainStart time.Time
	}
	var cands []cand
	for _, t := range s.tasks {
		if s.resumableLocked(t) {
			cands = append(cands, cand{t, t.inLB, t.drainStart})
		}
	}
	s.mu.Unlock()
	slices.SortFunc(cands, func(a, b cand) int {
		if a.drainStart.IsZero() != b.drainStart.IsZero() {
			if a.drainStart.IsZero() {
				return -1
			}
			return 1
		}
		return cmp.Or(b.drainStart.Compare(a.drainStart), cmp.Compare(a.t.id, b.t.id))
	})
	for _, c := range cands {
		if short <= 0 {
			break
		}
		if c.inLB {
			if err := lb.Resume(ctx, s.lb, c.t.id); err != nil {
				// Gone from the pool: syncServing adds it again once it
				// is no longer a victim.
				if !errors.Is(err, lb.ErrNotFound) {
					s.log.Warn("mesos: cannot resume backend", "backend", c.t.id, "err", err)
					s.lbFailed()
					continue
				}
				s.mu.Lock()
				c.t.inLB = false
				s.mu.Unlock()
			}
		}
		s.mu.Lock()
		if c.t.gone || !c.t.killSent.IsZero() || !c.t.victim {
			// An update or another path changed it meanwhile.
			s.mu.Unlock()
			continue
		}
		c.t.victim, c.t.drainStart, c.t.reason = false, time.Time{}, ""
		inLB := c.t.inLB
		s.mu.Unlock()
		short--
		var drained time.Duration
		if !c.drainStart.IsZero() {
			drained = now.Sub(c.drainStart).Round(time.Millisecond)
		}
		s.log.Info("mesos: backend resumed", "backend", c.t.id, "in_lb", inLB, "drained_for", drained,
			"reason", "scale-up while draining")
	}
}

// pickVictims chooses tasks to remove when more run than desired: those
// not serving first, then by the configured order.
func (s *service) pickVictims(ctx context.Context) {
	s.mu.Lock()
	target := s.targetLocked()
	if !s.reconciled || s.liveLocked() <= target {
		s.mu.Unlock()
		return
	}
	type cand struct {
		t        *task
		inLB     bool
		launched time.Time
		conns    int
		old      bool // replaced by a deployment: goes first
	}
	var cands []cand
	for _, t := range s.tasks {
		if !t.gone && !t.victim {
			cands = append(cands, cand{t: t, inLB: t.inLB, launched: t.launched, old: s.replacingLocked(t)})
		}
	}
	s.mu.Unlock()
	counted := false
	if s.cfg.Victims == FewestConnections {
		if cc, ok := s.lb.(lb.ConnCounter); ok {
			counted = true
			for i := range cands {
				if !cands[i].inLB {
					continue
				}
				n, err := cc.ActiveConns(ctx, cands[i].t.id)
				if err != nil {
					n = int(^uint(0) >> 1) // unknown: last choice
				}
				cands[i].conns = n
			}
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if a.old != b.old {
			if a.old {
				return -1
			}
			return 1
		}
		if a.inLB != b.inLB {
			if !a.inLB {
				return -1
			}
			return 1
		}
		if counted && a.conns != b.conns {
			return cmp.Compare(a.conns, b.conns)
		}
		youngFirst := cmp.Or(b.launched.Compare(a.launched), cmp.Compare(a.t.id, b.t.id))
		if s.cfg.Victims == Oldest && a.inLB {
			return -youngFirst
		}
		return youngFirst
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.liveLocked()
	for _, c := range cands {
		if live <= target {
			break
		}
		if c.t.gone || c.t.victim {
			continue
		}
		live--
		c.t.victim, c.t.reason = true, s.victimReasonLocked(c.t)
		s.log.Info("mesos: task chosen for removal", "task", c.t.id, "in_lb", c.inLB,
			"conns", c.conns, "order", s.cfg.Victims.String())
	}
}

// drainAndKill walks victims through drain → wait → KILL → Remove.
func (s *service) drainAndKill(ctx context.Context, now time.Time) {
	s.mu.Lock()
	var victims []*task
	for _, t := range s.tasks {
		if t.victim && !t.gone {
			victims = append(victims, t)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(victims, func(a, b *task) int { return cmp.Compare(a.id, b.id) })
	retry := max(s.cfg.Task.KillGracePeriod, 3*time.Second) + 10*time.Second
	for _, t := range victims {
		s.mu.Lock()
		inLB, drainStart, killSent, agentID, reason := t.inLB, t.drainStart, t.killSent, t.agentID, t.reason
		connected := s.connected
		s.mu.Unlock()
		switch {
		case !killSent.IsZero():
			if now.Sub(killSent) < retry {
				continue
			}
		case inLB && drainStart.IsZero():
			if err := s.lb.Drain(ctx, t.id); err != nil && !errors.Is(err, lb.ErrNotFound) {
				s.log.Warn("mesos: cannot drain backend", "backend", t.id, "err", err)
				s.lbFailed()
				continue
			}
			s.mu.Lock()
			t.drainStart = now
			s.mu.Unlock()
			s.log.Info("mesos: backend draining", "backend", t.id, "timeout", s.cfg.DrainTimeout)
			if !s.drained(ctx, t.id, now, now) {
				continue
			}
		case inLB && !s.drained(ctx, t.id, drainStart, now):
			continue
		}
		if !connected {
			continue // KILL needs a subscription; draining did not
		}
		if err := s.call(ctx, calls.Kill(t.id, agentID)); err != nil {
			s.log.Warn("mesos: kill failed", "task", t.id, "err", err)
			continue
		}
		s.mu.Lock()
		first := t.killSent.IsZero()
		t.killSent = now
		s.mu.Unlock()
		if first {
			s.log.Info("mesos: killing task", "task", t.id, "reason", reason)
		} else {
			s.log.Warn("mesos: kill sent again", "task", t.id, "since", killSent)
		}
		if inLB {
			if err := s.lb.Remove(ctx, t.id); err != nil {
				s.log.Warn("mesos: cannot remove backend", "backend", t.id, "err", err)
				s.lbFailed()
				continue
			}
			s.mu.Lock()
			t.inLB = false
			s.mu.Unlock()
			s.log.Info("mesos: backend removed", "backend", t.id, "reason", reason)
		}
	}
}

// drained reports whether a draining backend may go: it has no active
// connection (when the balancer can tell) or DrainTimeout passed.
func (s *service) drained(ctx context.Context, id string, since, now time.Time) bool {
	if now.Sub(since) >= s.cfg.DrainTimeout {
		return true
	}
	n, err := lb.ActiveConns(ctx, s.lb, id)
	switch {
	case errors.Is(err, lb.ErrNotFound):
		return true
	case err != nil:
		return false
	}
	return n == 0
}

// setOfferMode REVIVEs when tasks are needed and SUPPRESSes offers when
// none are, telling the master only about changes.
func (s *Scheduler) setOfferMode(ctx context.Context) {
	s.mu.Lock()
	if !s.connected {
		s.mu.Unlock()
		return
	}
	need := s.needAllLocked()
	want := offersSuppressed
	if need > 0 || s.reserveExcessLocked() { // reserve.go: offers bring reservations to release
		want = offersRevived
	}
	cur := s.offers
	// A need that grew (a task died, the count went up) REVIVEs again:
	// offers declined meanwhile sit behind long filters that only REVIVE
	// clears.
	grew := need > 0 && need > s.lastNeed
	s.lastNeed = need
	s.mu.Unlock()
	if want == cur && !grew {
		return
	}
	c := calls.Suppress()
	if want == offersRevived {
		c = calls.Revive()
		s.mu.Lock()
		s.reviveGen++ // before sending: an offer decision racing it sees the change
		s.mu.Unlock()
	}
	if err := s.call(ctx, c); err != nil {
		s.log.Warn("mesos: cannot change offer mode", "err", err)
		s.mu.Lock()
		s.lastNeed = 0 // try again next time
		s.mu.Unlock()
		return
	}
	s.mu.Lock()
	s.offers = want
	s.mu.Unlock()
	if want == offersRevived {
		s.log.Info("mesos: offers revived", "need", need)
	} else {
		s.log.Info("mesos: offers suppressed")
	}
}
