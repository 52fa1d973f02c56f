package local

import (
	"context"
	"path/filepath"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// task is one launched task as the master and its agent see it.
type task struct {
	fw        *framework
	agent     *agent
	info      mesos.TaskInfo
	res       mesos.Resources // returned to the agent when the task ends
	role      string          // the role its resources are allocated to
	state     mesos.TaskState
	latest    mesos.TaskStatus
	sandbox   string
	proc      *process  // command and task-group tasks
	exec      *executor // the executor running the task, nil for command tasks
	launched  time.Time
	ended     time.Time
	freed     bool
	killing   bool
	killWhy   mesos.TaskStatus_Reason
	healthy   *bool
	lost      bool // the agent is gone: the process's exit is not reported
	killTimer *time.Timer
	deadline  *time.Timer // max_completion_time
	health    context.CancelFunc

	// The agent's status update manager: updates wait here, the oldest one
	// is sent (and resent) until acknowledged.
	pending    []mesos.TaskStatus
	retryTimer *time.Timer
	retryDelay time.Duration

	// What the master knows: the update it last received from the agent
	// (its state is the task's status_update_state) and the latest
	// container status among the updates it received.
	forwarded       mesos.TaskStatus
	containerStatus *mesos.ContainerStatus
}

func (t *task) id() string { return t.info.TaskID.Value }

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_LOST, mesos.TASK_ERROR,
		mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

func containsAll(have, want mesos.Resources) bool { return resources.ContainsAll(have, want) }

func (t *task) stopRetry() {
	if t.retryTimer != nil {
		t.retryTimer.Stop()
		t.retryTimer = nil
	}
}

func (t *task) stopTimers() {
	t.stopRetry()
	if t.killTimer != nil {
		t.killTimer.Stop()
	}
	if t.deadline != nil {
		t.deadline.Stop()
	}
	if t.health != nil {
		t.health()
	}
}

// statusUpdate records an agent-originated update and hands it to the
// status update manager; c.mu must be held. st.UUID is set if empty.
func (c *Cluster) statusUpdate(t *task, st mesos.TaskStatus) {
	if isTerminal(t.state) {
		c.log.Debug("update after a terminal one dropped", "task", t.id(), "state", st.GetState().String())
		return
	}
	if len(st.UUID) != 16 {
		st.UUID = newUUID()
	}
	st.TaskID = t.info.TaskID
	st.AgentID = &mesos.AgentID{Value: t.agent.id}
	if st.Timestamp == nil {
		st.Timestamp = ptr(nowSeconds())
	}
	if st.Source == nil {
		st.Source = mesos.SOURCE_EXECUTOR.Enum()
	}
	if t.exec != nil && st.ExecutorID == nil {
		st.ExecutorID = &mesos.ExecutorID{Value: t.exec.id}
	}
	if st.GetSource() == mesos.SOURCE_EXECUTOR {
		st.ContainerStatus = t.agentContainerStatus(st.ContainerStatus)
	}
	if st.Healthy == nil && t.healthy != nil && st.GetState() == mesos.TASK_RUNNING {
		st.Healthy = ptr(*t.healthy)
	}
	t.state = st.GetState()
	t.latest = st
	if isTerminal(t.state) {
		c.taskEnded(t)
	}
	if t.fw.removed {
		if isTerminal(t.state) {
			c.forgetTask(t)
			c.maybeForgetFramework(t.fw)
		}
		return
	}
	t.pending = append(t.pending, st)
	if len(t.pending) == 1 {
		t.retryDelay = 0
		c.sendPending(t)
	}
}

// sendPending sends the oldest unacknowledged update and arms its resend.
func (c *Cluster) sendPending(t *task) {
	if len(t.pending) == 0 {
		return
	}
	st := t.pending[0]
	t.forwarded = st
	if st.ContainerStatus != nil {
		t.containerStatus = st.ContainerStatus
	}
	t.fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	if t.retryDelay == 0 {
		t.retryDelay = c.cfg.StatusUpdateRetry
	} else {
		t.retryDelay = min(2*t.retryDelay, maxStatusUpdateRetry)
	}
	t.stopRetry()
	uuid := string(st.UUID)
	t.retryTimer = time.AfterFunc(t.retryDelay, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || len(t.pending) == 0 || string(t.pending[0].UUID) != uuid {
			return
		}
		c.log.Debug("resending unacknowledged update", "task", t.id(), "state", st.GetState().String())
		c.sendPending(t)
	})
}

// taskEnded frees a terminal task's resources and stops its helpers.
func (c *Cluster) taskEnded(t *task) {
	if t.freed {
		return
	}
	t.freed = true
	t.ended = time.Now()
	if t.killTimer != nil {
		t.killTimer.Stop()
	}
	if t.deadline != nil {
		t.deadline.Stop()
	}
	if t.health != nil {
		t.health()
	}
	if !t.agent.stopped {
		t.agent.free.Add(t.res...)
	}
	if t.exec != nil {
		c.executorTaskEnded(t)
	}
	c.kick()
}

// forgetTask moves a terminal, acknowledged task out of the master.
func (c *Cluster) forgetTask(t *task) {
	if t.fw.tasks[t.id()] != t {
		return
	}
	t.stopTimers()
	delete(t.fw.tasks, t.id())
	c.completed = append(c.completed, c.taskInfo(t))
	if len(c.completed) > maxCompleted {
		c.completed = append([]TaskInfo(nil), c.completed[len(c.completed)-maxCompleted:]...)
	}
}

const maxCompleted = 1000

// killTask kills a task: SIGTERM to its process group and SIGKILL after the
// grace period for processes; a KILL event for custom executors.
func (c *Cluster) killTask(t *task, policy *mesos.KillPolicy, why mesos.TaskStatus_Reason) {
	if t.killing || isTerminal(t.state) {
		return
	}
	t.killing = true
	t.killWhy = why
	grace := c.cfg.KillGracePeriod
	if policy == nil {
		policy = t.info.KillPolicy
	}
	if policy != nil && policy.GracePeriod != nil {
		// The master does not validate a KILL's kill_policy; a negative
		// grace period escalates at once, as a negative delay does.
		grace = max(0, time.Duration(policy.GracePeriod.Nanoseconds))
	}
	switch {
	case t.proc != nil:
		if t.fw.taskKilling && !t.fw.removed {
			c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_KILLING.Enum()})
		}
		p := t.proc
		p.signal(sigTerm)
		t.killTimer = time.AfterFunc(grace, func() { p.signal(sigKill) })
	case t.exec != nil && t.exec.custom && t.exec.stream != nil:
		if t.fw.taskKilling && !t.fw.removed {
			c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_KILLING.Enum()})
		}
		c.executorKill(t.exec, t, policy)
	default: // not started yet
		reason := mesos.REASON_TASK_KILLED_DURING_LAUNCH
		if why != 0 {
			reason = why
		}
		c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_KILLED.Enum(), Reason: reason.Enum(), Source: mesos.SOURCE_AGENT.Enum(),
			Message: ptr("Task killed before it was launched")})
	}
}

// agentContainerStatus merges the container status an agent adds to every
// update of a task that reached its executor into cs, as
// Slave::_statusUpdate (src/slave/slave.cpp) does: the containerizer's
// container ID and executor PID, and the agent's IP (127.0.0.1) when no
// network info is set. A task that never got a container keeps cs.
func (t *task) agentContainerStatus(cs *mesos.ContainerStatus) *mesos.ContainerStatus {
	var id string
	var proc *process
	switch {
	case t.exec != nil && t.exec.custom:
		id, proc = t.exec.container, t.exec.proc
	case t.sandbox != "":
		id, proc = filepath.Base(t.sandbox), t.proc
	default:
		return cs
	}
	out := &mesos.ContainerStatus{}
	if cs != nil {
		*out = *cs
	}
	out.ContainerID = &mesos.ContainerID{Value: id}
	if proc != nil {
		out.ExecutorPID = ptr(uint32(proc.pgid))
	}
	if len(out.NetworkInfos) == 0 {
		out.NetworkInfos = []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: ptr("127.0.0.1")}}}}
	}
	return out
}
