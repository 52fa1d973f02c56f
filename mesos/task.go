package mesos

import (
	"net/netip"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Task is one task as the scheduler sees it, for status pages.
type Task struct {
	// ID is the Mesos task ID and the balancer's backend ID.
	ID string
	// Service names the task's service.
	Service string
	// AgentID and Host name the agent the task runs on.
	AgentID, Host string
	// Addr is where the balancer sends traffic (HOST's IP and PORT0).
	Addr netip.AddrPort
	// State is the last state Mesos reported, for example "TASK_RUNNING";
	// "TASK_STAGING" until the first update.
	State string
	// Healthy reports that the task runs and passes its health check (or
	// runs, when there is no health check).
	Healthy bool
	// InLB reports that the task is in the balancer's pool.
	InLB bool
	// Draining reports that the task was chosen for removal: it is
	// drained, then killed.
	Draining bool
	// Launched is when the scheduler launched the task (for adopted
	// tasks: when it learned of them).
	Launched time.Time
	// Message is Mesos's message with the last update, if any.
	Message string
	// Version is the [TemplateVersion] of the template the task was
	// launched from ("" for a task adopted without one).
	Version string
}

// task is the scheduler's record of one task. Fields are guarded by
// Scheduler.mu.
type task struct {
	id, agentID, host string
	addr              netip.AddrPort
	state             mesos.TaskState
	healthy           *bool
	// hc: the task runs with a health check (its template had one when it
	// was launched), so it serves only once Mesos reports it healthy. A
	// template changed later (UpdateService) does not change it.
	hc       bool
	message  string
	launched time.Time
	updated  time.Time // last status update

	// Balancer membership, changed only by the converge loop.
	inLB      bool
	servedAt  time.Time // first joined the balancer (zero: never)
	rampStart time.Time // slow start began (zero: no ramp)
	weight    int       // weight last set while ramping
	repair    bool      // lost from the pool behind our back; being re-added

	// Removal.
	victim     bool
	drainStart time.Time // zero until Drain succeeded (or was not needed)
	killSent   time.Time
	gone       bool // terminal: leave the balancer, then forget
	reason     string

	version string // TemplateVersion of the template it was launched from ("" if unknown)
}

// terminal reports whether s means the task no longer runs (or, for
// UNREACHABLE and UNKNOWN, cannot be counted on and is replaced).
func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR,
		mesos.TASK_UNREACHABLE, mesos.TASK_UNKNOWN:
		return true
	}
	return false
}

// serving reports whether t may be in the balancer: running and, when it
// runs with a health check, reported healthy.
func (t *task) serving() bool {
	if t.gone || t.state != mesos.TASK_RUNNING {
		return false
	}
	if t.hc {
		return t.healthy != nil && *t.healthy
	}
	return t.healthy == nil || *t.healthy
}

func (t *task) snapshot() Task {
	return Task{
		ID: t.id, AgentID: t.agentID, Host: t.host, Addr: t.addr,
		State: t.state.String(), Healthy: t.serving(),
		InLB: t.inLB, Draining: t.victim, Launched: t.launched, Message: t.message, Version: t.version,
	}
}
