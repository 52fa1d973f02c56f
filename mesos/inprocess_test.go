package mesos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

// TestLocalInProcessTasks runs a farm on mesos/local with
// InProcessTasks and many agents: tasks are HTTP responders inside the
// cluster (no process), pass their health checks, serve their port, and
// are killed on a scale-down.
func TestLocalInProcessTasks(t *testing.T) {
	c := startCluster(t, func(lc *local.Config) {
		lc.InProcessTasks = true
		lc.Agents = 40
	})
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.Task.HealthCheck = &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	cfg.MaxPerAgent = 2
	f := startFarm(t, cfg)
	const n = 60
	if err := f.s.SetDesired(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%d in-process tasks serving", n), func() (bool, string) { return f.settled(c, n) })
	agents := map[string]bool{}
	for _, tk := range c.Tasks() {
		if tk.State != "TASK_RUNNING" {
			continue
		}
		agents[tk.AgentID] = true
		if tk.PID != 0 {
			t.Errorf("task %s has PID %d, want none (in-process)", tk.TaskID, tk.PID)
		}
	}
	if len(agents) < n/cfg.MaxPerAgent {
		t.Errorf("tasks on %d agents, want at least %d (MaxPerAgent %d)", len(agents), n/cfg.MaxPerAgent, cfg.MaxPerAgent)
	}
	f.get(t)
	if err := f.s.SetDesired(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "all killed", func() (bool, string) {
		m := mesosTasks(c, f.s.FrameworkID())
		return len(m["TASK_RUNNING"]) == 0 && len(m["TASK_KILLED"]) == n, fmt.Sprint(len(m["TASK_RUNNING"]), " running, ", len(m["TASK_KILLED"]), " killed")
	})
}
