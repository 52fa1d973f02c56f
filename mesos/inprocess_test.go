package mesos

import (
	"context"
	"fmt"
	"slices"
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
		// 25 ports an agent, not 5: a few busy ones (another process's)
		// still leave every agent the 2 tasks it takes.
		lc.Ports = freePorts(t, 1000)
	})
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	// 60 tasks checked 5 times a second each: with a check timeout of 1s,
	// a machine starved for a few seconds (-race, other packages' tests beside)
	// after the 10s grace period fails three checks in a row, and
	// mesos/local kills a healthy task.
	cfg.Task.HealthCheck = &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: 5 * time.Second}
	cfg.MaxPerAgent = 2
	f := startFarm(t, cfg)
	const n = 60
	if err := f.s.SetDesired(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%d in-process tasks serving", n), func() (bool, string) { return f.settled(c, n) })
	agents := map[string]bool{}
	serving := mesosTasks(c, f.s.FrameworkID())["TASK_RUNNING"]
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
	// Every task that served is killed (a task Mesos replaced earlier,
	// say after failed health checks, is killed too but is not one of
	// them).
	eventually(t, 30*time.Second, "all killed", func() (bool, string) {
		m := mesosTasks(c, f.s.FrameworkID())
		killed := 0
		for _, id := range serving {
			if _, ok := slices.BinarySearch(m["TASK_KILLED"], id); ok {
				killed++
			}
		}
		return len(m["TASK_RUNNING"]) == 0 && killed == len(serving),
			fmt.Sprint(len(m["TASK_RUNNING"]), " running, ", killed, " of the ", len(serving), " serving killed, ", len(m["TASK_KILLED"]), " killed in all")
	})
}
