package mesos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
)

// TestLocalChaos drives the farm through a random sequence of count
// changes, task crashes, master failovers, scheduler restarts and pool
// drift (the balancer loses every backend and gains a stale one, as an
// HAProxy restarted without its dynamic servers would), and
// checks after each step that it settles: the pool, the running Mesos
// tasks and the desired count agree, and every update was acknowledged.
// One step may stop an agent.
// WEBFARM_CHAOS=full runs 40 steps instead of 8; WEBFARM_CHAOS_SEED picks
// the seed (the failure message prints the one used).
func TestLocalChaos(t *testing.T) {
	steps := 8
	if os.Getenv("WEBFARM_CHAOS") == "full" {
		steps = 40
	}
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("WEBFARM_CHAOS_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d (WEBFARM_CHAOS_SEED=%d reruns this sequence)", seed, seed)

	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.StateFile = filepath.Join(t.TempDir(), "scheduler.json")
	cfg.PoolSyncInterval = time.Second
	f := startFarm(t, cfg)
	ctx := context.Background()
	desired := 2
	if err := f.s.SetDesired(ctx, desired); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "start", func() (bool, string) { return f.settled(c, desired) })
	fw := f.s.FrameworkID()
	agentLost := false // once: the second agent must carry the farm
	for i := range steps {
		var what string
		// happened says the step's effect was seen, so that "settled" is
		// not read from the time before it.
		happened := func() bool { return true }
		switch k := rng.IntN(11); {
		case k < 4:
			desired = rng.IntN(6)
			what = fmt.Sprintf("set desired %d", desired)
			if err := f.s.SetDesired(ctx, desired); err != nil {
				t.Fatal(err)
			}
		case k < 6:
			running := mesosTasks(c, fw)["TASK_RUNNING"]
			if len(running) == 0 {
				what = "crash: nothing running"
				break
			}
			id := running[rng.IntN(len(running))]
			what = "crash " + id
			if err := c.KillTaskProcess(ctx, fw, id, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			happened = func() bool { return mem.State(id).String() == "unknown" }
		case k < 8:
			what = "master failover"
			subs := f.s.subscriptionCount()
			if err := c.FailoverMaster(ctx); err != nil {
				t.Fatal(err)
			}
			happened = func() bool { return f.s.subscriptionCount() > subs && f.s.reconciledNow() }
		case k == 8 && !agentLost:
			running := mesosTasks(c, fw)["TASK_RUNNING"]
			var agent string
			for _, tk := range c.Tasks() {
				if tk.FrameworkID == fw && tk.State == "TASK_RUNNING" {
					agent = tk.AgentID
				}
			}
			if agent == "" {
				what = "agent loss: no agent runs a task"
				break
			}
			agentLost = true
			what = "agent loss " + agent
			if err := c.StopAgent(ctx, agent); err != nil {
				t.Fatal(err)
			}
			happened = func() bool {
				for _, id := range running {
					for _, tk := range f.s.Tasks() {
						if tk.ID == id && tk.AgentID == agent {
							return false
						}
					}
				}
				return true
			}
		case k == 10:
			bs, err := mem.Backends(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range bs {
				if err := mem.Remove(ctx, b.ID); err != nil {
					t.Fatal(err)
				}
			}
			stale := lbBackend(fmt.Sprintf("web.%016x", rng.Uint64()), "127.0.0.1:9")
			if err := mem.Add(ctx, stale); err != nil {
				t.Fatal(err)
			}
			what = fmt.Sprintf("pool drift: %d backends lost, %s stale", len(bs), stale.ID)
			happened = func() bool { return mem.State(stale.ID).String() == "unknown" }
		default:
			what = "scheduler restart"
			f.stop()
			cfg.Logger = testLogger(t).With("side", fmt.Sprintf("scheduler-%d", i))
			f = startFarm(t, cfg)
			happened = func() bool { return f.s.Connected() && f.s.reconciledNow() }
		}
		eventually(t, 30*time.Second, fmt.Sprintf("step %d (%s) settles (seed %d)", i, what, seed),
			func() (bool, string) {
				if !happened() {
					return false, "not seen yet"
				}
				return f.settled(c, desired)
			})
		t.Logf("step %d: %s: settled with %d tasks", i, what, desired)
		if got := f.s.FrameworkID(); got != fw {
			t.Fatalf("step %d (%s): framework %q, want %q", i, what, got, fw)
		}
	}
	eventually(t, 15*time.Second, "every update acknowledged", func() (bool, string) {
		for _, tk := range c.Tasks() {
			if tk.Pending != 0 {
				return false, fmt.Sprintf("%s %s: %d pending", tk.TaskID, tk.State, tk.Pending)
			}
		}
		return true, ""
	})
	f.get(t)
}
