package local

import (
	"slices"
	"strings"
	"time"
)

// TaskInfo is a snapshot of one task, for assertions in tests.
type TaskInfo struct {
	FrameworkID string
	TaskID      string
	Name        string
	AgentID     string
	State       string // e.g. "TASK_RUNNING"
	Healthy     *bool  // nil until a health check ran
	Sandbox     string // the task's sandbox directory ("" if not created)
	PID         int    // the task's process (0 if none)
	Pending     int    // status updates not yet acknowledged
	Launched    time.Time
	Ended       time.Time // zero while running
}

// AgentInfo is a snapshot of one agent.
type AgentInfo struct {
	ID       string
	Hostname string
	Endpoint string // host:port of its executor API
	Ports    PortRange
	Stopped  bool
	CPUs     float64 // total
	Mem      float64 // total, MiB
	FreeCPUs float64 // neither offered nor used
	FreeMem  float64
}

// Tasks returns the tasks the master tracks and up to 1000 completed ones
// it has forgotten (Ended set), sorted by framework and task ID.
func (c *Cluster) Tasks() []TaskInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TaskInfo
	for _, fw := range c.frameworks {
		for _, t := range fw.tasks {
			out = append(out, c.taskInfo(t))
		}
	}
	out = append(out, c.completed...)
	slices.SortStableFunc(out, func(a, b TaskInfo) int {
		if x := strings.Compare(a.FrameworkID, b.FrameworkID); x != 0 {
			return x
		}
		return strings.Compare(a.TaskID, b.TaskID)
	})
	return out
}

func (c *Cluster) taskInfo(t *task) TaskInfo {
	ti := TaskInfo{
		FrameworkID: t.fw.id, TaskID: t.id(), Name: t.info.Name, AgentID: t.agent.id, State: t.state.String(),
		Sandbox: t.sandbox, Pending: len(t.pending), Launched: t.launched, Ended: t.ended,
	}
	if t.healthy != nil {
		ti.Healthy = ptr(*t.healthy)
	}
	if t.proc != nil {
		ti.PID = t.proc.pgid
	}
	return ti
}

// Agents returns a snapshot of the agents in start order.
func (c *Cluster) Agents() []AgentInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]AgentInfo, 0, len(c.agents))
	for _, a := range c.agents {
		ai := AgentInfo{ID: a.id, Hostname: a.hostname, Endpoint: a.endpoint, Ports: a.ports, Stopped: a.stopped}
		for _, r := range a.total {
			switch r.Name {
			case "cpus":
				ai.CPUs += r.GetScalar().GetValue()
			case "mem":
				ai.Mem += r.GetScalar().GetValue()
			}
		}
		for _, r := range a.free {
			switch r.Name {
			case "cpus":
				ai.FreeCPUs += r.GetScalar().GetValue()
			case "mem":
				ai.FreeMem += r.GetScalar().GetValue()
			}
		}
		out = append(out, ai)
	}
	return out
}
