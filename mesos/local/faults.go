package local

import (
	"context"
	"fmt"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// FailoverMaster simulates a master failover: every subscription stream is
// dropped (schedulers see their connection end) and outstanding offers are
// forgotten, but frameworks, tasks and unacknowledged updates are kept.
// With Config.Masters > 1 the next master becomes the leader (the old one
// answers 307 to it); with Config.ElectionDelay all masters answer 503 for
// that long first.
// Schedulers must SUBSCRIBE again with their framework ID; the new stream
// gets a new Mesos-Stream-Id, and pending updates are resent. As after a
// real master failover, frameworks are not removed for failing to come back.
func (c *Cluster) FailoverMaster(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: failover master: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	for _, o := range c.offers {
		c.removeOffer(o, false)
	}
	for _, fw := range c.frameworks {
		if fw.stream != nil {
			fw.stream.close()
			fw.stream = nil
		}
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
			fw.failoverTimer = nil
		}
	}
	c.masterID = newUUIDString()[:8] + c.masterID[8:]
	c.leader = (c.leader + 1) % len(c.masters)
	c.noLeader = time.Now().Add(c.cfg.ElectionDelay)
	c.log.Info("master failed over", "leader", c.masters[c.leader].url)
	return nil
}

// StopAgent simulates the loss of an agent: its task and executor processes
// are killed (SIGKILL), its offers rescinded, and its tasks reported
// TASK_LOST (TASK_UNREACHABLE for PARTITION_AWARE frameworks) with reason
// REASON_AGENT_REMOVED, message "health check timed out" and
// unreachable_time by the master, as when a real agent stops answering the
// master's health checks; frameworks get a FAILURE event for the agent. Its resources are never offered again.
func (c *Cluster) StopAgent(ctx context.Context, agentID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: stop agent: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	a := c.agentByID(agentID)
	if a == nil {
		return fmt.Errorf("local: stop agent %q: %w", agentID, ErrNotFound)
	}
	if a.stopped {
		return nil
	}
	a.stopped = true
	c.unreachable[a.id] = time.Now()
	// In the order of Master::__removeSlave: task updates, then RESCIND of
	// the agent's offers, then FAILURE (sendSlaveLost).
	for _, fw := range c.frameworks {
		for _, t := range fw.tasks {
			if t.agent != a {
				continue
			}
			t.lost = true
			if t.proc != nil {
				t.proc.signal(sigKill)
			}
			if isTerminal(t.state) {
				t.pending = nil
				c.forgetTask(t)
				continue
			}
			state := mesos.TASK_LOST
			if fw.partitionAware {
				state = mesos.TASK_UNREACHABLE
			}
			// Master::__removeSlave (src/master/master.cpp), called by
			// Master::markUnreachable for an agent whose health check
			// timed out.
			st := c.masterStatus(fw, t.info.TaskID, &mesos.AgentID{Value: a.id}, state, mesos.REASON_AGENT_REMOVED, "health check timed out")
			st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: c.unreachable[a.id].UnixNano()}
			if t.exec != nil {
				st.ExecutorID = &mesos.ExecutorID{Value: t.exec.id}
			}
			t.state, t.latest = state, st
			c.taskEnded(t)
			t.pending = nil
			if !fw.removed {
				fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
			}
			c.forgetTask(t)
		}
		for _, ex := range fw.executors {
			if ex.agent == a {
				if ex.proc != nil {
					ex.proc.signal(sigKill)
				}
				c.executorGone(ex)
			}
		}
	}
	for _, o := range c.offers {
		if o.agent == a {
			c.removeOffer(o, true)
		}
	}
	a.free, a.held = nil, nil
	for _, fw := range c.frameworks {
		if !fw.removed {
			fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: a.id}}})
		}
		c.maybeForgetFramework(fw)
	}
	go a.srv.Close()
	c.log.Info("agent stopped", "agent", a.id)
	return nil
}

// KillTaskProcess sends sig to the process group of a running command task
// from outside, as a crash or an OOM kill would. The task then ends as its
// process does (TASK_FAILED for a signal or a non-zero exit).
func (c *Cluster) KillTaskProcess(ctx context.Context, frameworkID, taskID string, sig syscall.Signal) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("local: kill task process: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	fw := c.frameworks[frameworkID]
	if fw == nil {
		return fmt.Errorf("local: kill task process: framework %q: %w", frameworkID, ErrNotFound)
	}
	t := fw.tasks[taskID]
	if t == nil || isTerminal(t.state) {
		return fmt.Errorf("local: kill task process: task %q: %w", taskID, ErrNotFound)
	}
	p := t.proc
	if p == nil && t.exec != nil && t.exec.custom {
		p = t.exec.proc
	}
	if p == nil {
		return fmt.Errorf("local: kill task process: task %q has no process yet: %w", taskID, ErrNotFound)
	}
	p.signal(sig)
	return nil
}

// RestartAgent brings a stopped agent back as a new, empty agent with the
// same resources and ports, as a machine that rebooted and lost its state
// re-registers under a new agent ID. It returns the new ID.
func (c *Cluster) RestartAgent(ctx context.Context, agentID string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("local: restart agent: %w", err)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", ErrClosed
	}
	old := c.agentByID(agentID)
	if old == nil {
		c.mu.Unlock()
		return "", fmt.Errorf("local: restart agent %q: %w", agentID, ErrNotFound)
	}
	if !old.stopped {
		c.mu.Unlock()
		return "", fmt.Errorf("local: restart agent %q: it is running (StopAgent first)", agentID)
	}
	id := c.nextID("S")
	c.mu.Unlock()
	a, err := c.startAgent(ctx, old.index, id)
	if err != nil {
		return "", fmt.Errorf("local: restart agent %q: %w", agentID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		go a.srv.Close()
		return "", ErrClosed
	}
	for i, x := range c.agents {
		if x == old {
			c.agents[i] = a
		}
	}
	c.log.Info("agent restarted", "old", agentID, "agent", a.id)
	c.kick()
	return a.id, nil
}
