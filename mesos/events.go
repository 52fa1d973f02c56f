package mesos

import (
	"context"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// handleEvent processes one event of the subscription stream. It never
// fails: problems are logged, and state the scheduler cannot act on now
// is acted on by the converge loop later.
func (s *Scheduler) handleEvent(ctx context.Context, e *scheduler.Event) {
	now := s.now()
	s.mu.Lock()
	s.lastEvent = now
	s.events++
	s.mu.Unlock()
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		s.subscribedEvent(ctx, e.GetSubscribed(), now)
	case scheduler.Event_OFFERS:
		s.offersEvent(ctx, e.GetOffers().GetOffers(), now)
	case scheduler.Event_UPDATE:
		s.updateEvent(ctx, e.GetUpdate().GetStatus(), now)
	case scheduler.Event_RESCIND:
		// Offers are never held: nothing to undo.
	case scheduler.Event_FAILURE:
		f := e.GetFailure()
		if f.ExecutorID == nil && f.AgentID != nil {
			s.agentFailed(f.AgentID.Value) // its reservations are gone
		}
		s.log.Warn("mesos: failure", "agent_id", f.GetAgentID().GetValue(),
			"executor_id", f.GetExecutorID().GetValue(), "status", f.GetStatus())
	case scheduler.Event_ERROR:
		msg := e.GetError().GetMessage()
		s.log.Error("mesos: error from master", "message", msg)
		s.mu.Lock()
		if !s.connected && s.frameworkID != "" && frameworkGone(msg) {
			// The master will never accept this ID again: register anew.
			s.log.Warn("mesos: framework removed by the master; registering as a new framework",
				"framework_id", s.frameworkID)
			s.frameworkID = ""
		}
		s.mu.Unlock()
		s.save()
	case scheduler.Event_HEARTBEAT, scheduler.Event_MESSAGE:
	}
}

// frameworkGone reports whether an ERROR message says the framework ID is
// dead for good.
func frameworkGone(msg string) bool {
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "removed") || strings.Contains(msg, "completed") ||
		strings.Contains(msg, "torn down")
}

func (s *Scheduler) subscribedEvent(ctx context.Context, sub *scheduler.Event_Subscribed, now time.Time) {
	s.subscribed.Store(true)
	id := sub.GetFrameworkID().GetValue()
	s.mu.Lock()
	old := s.frameworkID
	s.frameworkID = id
	s.connected = true
	s.heartbeat = time.Duration(sub.GetHeartbeatIntervalSeconds() * float64(time.Second))
	s.offers = offersUnknown // a new stream: say again what we want
	s.lastNeed = 0
	s.subscriptions++
	// Reconcile every task we know or may adopt, and then all tasks
	// (implicit) to learn of any we do not know.
	explicit := make(map[string]string)
	for _, sv := range s.services {
		for id, t := range sv.tasks {
			if !t.gone {
				explicit[id] = t.agentID
			}
		}
		for id, k := range sv.known {
			if _, ok := explicit[id]; !ok {
				explicit[id] = k.AgentID
			}
		}
	}
	s.pending = make(map[string]bool, len(explicit))
	for id := range explicit {
		s.pending[id] = true
	}
	s.reconcileStart = now
	s.reconciled = false
	s.mu.Unlock()
	if old != id {
		s.save()
	}
	s.log.Info("mesos: subscribed", "framework_id", id, "master", s.leader.URL(),
		"heartbeat", s.heartbeat, "reconciling", len(explicit))
	if len(explicit) > 0 {
		if err := s.call(ctx, calls.Reconcile(calls.ReconcileTasks(explicit))); err != nil {
			s.log.Warn("mesos: explicit reconciliation failed", "err", err)
		}
	}
	if err := s.call(ctx, calls.Reconcile()); err != nil {
		s.log.Warn("mesos: implicit reconciliation failed", "err", err)
	}
	s.poke()
}

func (s *Scheduler) updateEvent(ctx context.Context, st mesos.TaskStatus, now time.Time) {
	id := st.TaskID.Value
	state := st.GetState()
	agentID := st.GetAgentID().GetValue()
	kill := false
	s.mu.Lock()
	delete(s.pending, id)
	if sv := s.serviceOfLocked(id); sv != nil {
		kill = sv.updateLocked(st, now)
	} else if !terminal(state) {
		// A task no service runs or may adopt (one of a removed service,
		// or of a service not added again after a restart): kill it, so
		// that nothing runs twice.
		kill = agentID != ""
		s.log.Warn("mesos: killing unknown task", "task", id, "state", state.String(), "agent_id", agentID)
	}
	s.mu.Unlock()

	if kill {
		if err := s.call(ctx, calls.Kill(id, agentID)); err != nil {
			s.log.Warn("mesos: kill of unknown task failed", "task", id, "err", err)
		}
	}
	if uuid := st.GetUUID(); len(uuid) > 0 && agentID != "" {
		if err := s.call(ctx, calls.Acknowledge(agentID, id, uuid)); err != nil {
			s.log.Warn("mesos: acknowledge failed", "task", id, "state", state.String(), "err", err)
		}
	}
	s.poke()
}

// updateLocked applies a status update for a task the service runs or
// may adopt, and reports whether the task must be killed. s.mu is held.
func (s *service) updateLocked(st mesos.TaskStatus, now time.Time) (kill bool) {
	id := st.TaskID.Value
	state := st.GetState()
	agentID := st.GetAgentID().GetValue()
	t, ok := s.tasks[id]
	switch {
	case ok && t.gone:
		// Already counted out; a late or repeated update changes nothing.
	case ok:
		prev, prevHealthy := t.state, t.healthy
		t.state = state
		t.updated = now
		t.message = st.GetMessage()
		if agentID != "" {
			t.agentID = agentID
		}
		if st.Healthy != nil {
			t.healthy = proto(st.GetHealthy())
		}
		if terminal(state) {
			t.gone = true
			if !t.victim {
				t.reason = "died: " + state.String()
				s.log.Warn("mesos: task ended unexpectedly", "task", id, "state", state.String(),
					"reason", st.GetReason().String(), "message", st.GetMessage(), "agent", t.host)
				if t.servedAt.IsZero() || now.Sub(t.servedAt) < s.cfg.RelaunchBackoffMax {
					s.failedLocked(now)
				}
			} else {
				t.reason = "killed"
			}
		} else if prev != state || !sameBool(prevHealthy, t.healthy) {
			s.log.Debug("mesos: task update", "task", id, "state", state.String(), "healthy", st.Healthy)
		}
	case !terminal(state):
		// A task we do not run: adopt it if we know its address (a
		// restart), else kill it, so that nothing runs twice.
		if k, known := s.known[id]; known && k.Addr.IsValid() {
			t = &task{id: id, agentID: cmpOr(agentID, k.AgentID), host: k.Host, addr: k.Addr,
				state: state, launched: now, updated: now, message: st.GetMessage(), version: k.Version,
				hc: s.healthCheckOfLocked(k.Version)} // as far as we know: its version's template
			if st.Healthy != nil {
				t.healthy = proto(st.GetHealthy())
			}
			t.inLB = s.poolAtStart[id]
			if t.inLB { // it served before the restart: proven
				t.servedAt = now.Add(-s.cfg.RelaunchBackoffMax)
			}
			if s.drainingAtStart[id] && t.inLB {
				t.victim, t.drainStart = true, now
				t.reason = "scale-down resumed after restart"
			}
			if state == mesos.TASK_KILLING {
				t.victim, t.killSent = true, now
			}
			s.tasks[id] = t
			delete(s.known, id)
			s.log.Info("mesos: adopted running task", "task", id, "addr", k.Addr.String(), "state", state.String(),
				"draining", t.victim)
		} else {
			kill = agentID != ""
			s.log.Warn("mesos: killing unknown task", "task", id, "state", state.String(), "agent_id", agentID)
		}
	default:
		delete(s.known, id) // reconciliation says it is gone
	}
	return kill
}

func sameBool(a, b *bool) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// failedLocked counts a task that died before it served for
// RelaunchBackoffMax and holds further launches back, exponentially, from
// the second such death in a row.
func (s *service) failedLocked(now time.Time) {
	s.failures++
	if s.failures < 2 {
		return
	}
	hold := s.cfg.RelaunchBackoff
	for i := 2; i < s.failures && hold < s.cfg.RelaunchBackoffMax; i++ {
		hold *= 2
	}
	hold = min(hold, s.cfg.RelaunchBackoffMax)
	s.holdUntil = now.Add(hold)
	s.log.Warn("mesos: tasks keep failing before they serve; holding launches back",
		"failures", s.failures, "for", hold)
}
