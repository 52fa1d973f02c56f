package mesos

import (
	"context"
	"slices"
	"time"
)

// ours reports whether a pool entry's ID is one of this service's task
// IDs, now or before a restart: it has the task-ID form (the service's
// name + ".", and no other service's longer name claims it), or the
// state file listed it. Only such entries are removed when no live
// task backs them; anything else in the pool (a user's static server) is
// left alone. s.mu must be held.
func (s *service) ours(id string) bool {
	return s.ownerLocked(id) == s.name || s.saved[id]
}

// lbFailed notes that a balancer call failed: the pool is read on every
// tick until the balancer answers, then repaired at once.
func (s *service) lbFailed() {
	s.mu.Lock()
	s.lbErr = true
	s.mu.Unlock()
}

// syncPool reads the balancer's pool every PoolSyncInterval, and on every
// tick after a balancer error until a read succeeds, and repairs it
// against the scheduler's tasks:
//
//   - a task the scheduler has in the pool but the balancer does not is
//     marked out, and syncServing adds it again (health-gated, slow start
//     included) in the same converge;
//   - a live task the balancer has but the scheduler thought out is marked
//     in, so that syncServing takes it out if it does not serve;
//   - an entry with no live task is removed, once reconciliation ended, if
//     its ID is ours (as the cleanup after the first reconciliation does; a
//     task the master reports late is adopted and added again).
//
// Victims (being drained or killed) are left alone in both directions.
func (s *service) syncPool(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := s.lbErr || (s.cfg.PoolSyncInterval > 0 && !now.Before(s.lastPoolSync.Add(s.cfg.PoolSyncInterval)))
	if !due || !s.lbRead {
		s.mu.Unlock()
		return
	}
	s.lastPoolSync = now
	failing := s.poolReadFailing // reads failed: the balancer was away
	s.mu.Unlock()

	pool, err := s.lb.Backends(ctx)
	if err != nil {
		s.mu.Lock()
		first := !s.poolReadFailing
		s.lbErr, s.poolReadFailing = true, true
		s.mu.Unlock()
		if first {
			s.log.Warn("mesos: cannot read the balancer's pool; retrying every tick", "err", err)
		} else {
			s.log.Debug("mesos: cannot read the balancer's pool", "err", err)
		}
		return
	}
	inPool := make(map[string]bool, len(pool))
	for _, b := range pool {
		inPool[b.ID] = true
	}
	var stale []string
	s.mu.Lock()
	s.lbErr, s.poolReadFailing = false, false
	for _, t := range s.tasks {
		if t.gone || t.victim {
			continue
		}
		switch {
		case t.inLB && !inPool[t.id]:
			// Lost from the pool behind our back: syncServing adds it
			// again if it serves.
			t.inLB, t.rampStart, t.weight = false, time.Time{}, 0
			t.repair = true
		case !t.inLB && inPool[t.id]:
			// In the pool although we took it out (or never added it):
			// syncServing takes it out unless it serves.
			t.inLB = true
			if t.servedAt.IsZero() && t.serving() {
				t.servedAt = now
			}
			s.log.Info("mesos: pool repair: task found in the pool", "backend", t.id,
				"serving", t.serving())
		}
	}
	if s.reconciled && s.poolAtStart == nil {
		for _, b := range pool {
			if _, ok := s.tasks[b.ID]; ok {
				continue // live, or gone and removeGone's to take out
			}
			if s.ours(b.ID) {
				stale = append(stale, b.ID)
			}
		}
	}
	s.mu.Unlock()
	slices.Sort(stale)
	for _, id := range stale {
		if err := s.lb.Remove(ctx, id); err != nil {
			s.log.Warn("mesos: cannot remove stale backend", "backend", id, "err", err)
			s.lbFailed()
			continue
		}
		s.log.Info("mesos: backend removed", "backend", id, "reason", "pool repair: no live task")
	}
	if failing {
		s.log.Info("mesos: balancer answers again; pool checked", "backends", len(pool))
	}
}
