package mesos

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/scaler"
)

// TestLocalServicesPolicies runs three services in one framework on
// mesos/local behind one real HAProxy, each driven by its own
// scaler.Controller with a different policy (TargetTracking, Budget, Step)
// reading its backend through one haproxy.Group (one `show stat` shared by
// the three), each under its own bounded keep-alive load at a different
// rate. Each service scales up to the count its policy needs; the
// scheduler (and the controllers, as a restarted process would) is
// restarted under load and adopts every task, launching and killing
// nothing; then the loads drop and each service scales down. No request of
// any load may fail, and every decision's reason is its policy's.
func TestLocalServicesPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy, mesos/local and task processes")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	ctx := context.Background()
	start := time.Now()

	// spec is one service: its policy, its load's rate, the count range
	// its policy must settle in under that load (with margin for noise in
	// the measured rate), and text every decision's reason carries.
	type spec struct {
		name      string
		rate      float64 // req/s while loaded
		lo, hi    int     // the count under load
		reason    string  // in every reason (holds included)
		changeWhy string  // in every reason that changes the count
		policy    func() scaler.Policy
	}
	must := func(p scaler.Policy, err error) scaler.Policy {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	specs := []spec{
		{
			// TargetTracking: 60 req/s at 15/task needs 4.
			name: "web", rate: 60, lo: 4, hi: 5, reason: "", changeWhy: "target 15/task →",
			policy: func() scaler.Policy {
				return must(scaler.NewTargetTracking(scaler.TargetTrackingConfig{
					RequestsPerTask: 15, Min: 1, Max: 6,
					StableWindow: 3 * time.Second, PanicWindow: time.Second,
					DownStabilization: 2 * time.Second, DownLimit: scaler.RateLimit{Percent: 100},
				}))
			},
		},
		{
			// Budget: 24 req/s at 15/task needs 2 (1.6). No warm-up,
			// and on a steady rate the hindsight replay holds little
			// headroom (under 6 req/s keeps 2), so 2, 3 at most.
			name: "api", rate: 24, lo: 2, hi: 3, reason: "budget: ", changeWhy: "15/task →",
			policy: func() scaler.Policy {
				return must(scaler.NewBudget(scaler.BudgetConfig{
					Capacity: 15, Min: 1, Max: 5,
					Startup: 2 * time.Second, Levels: []time.Duration{0, 3 * time.Second}, VolatilityWindow: 6 * time.Second,
					Hindsight: time.Minute, Warmup: -1,
				}))
			},
		},
		{
			// Step: 12 req/s, one more task above 4.5/task, one fewer
			// below 1.5/task: 1 → 2 → 3 (4/task), where it holds.
			name: "static", rate: 12, lo: 3, hi: 4, reason: "step: ", changeWhy: "rps",
			policy: func() scaler.Policy {
				return must(scaler.NewStep(scaler.StepConfig{
					Up:       []scaler.StepRule{{Threshold: 4.5, Tasks: 1}},
					Down:     []scaler.StepRule{{Threshold: 1.5, Tasks: 1}},
					Cooldown: time.Second, Min: 1, Max: 4,
				}))
			},
		},
	}
	const lowRate = 3 // req/s per load once dropped: every policy wants Min 1

	names := []string{"web", "api", "static"} // "web" is the default service
	p := haproxyproc.StartTest(t, haproxyproc.Config{Routes: names[1:], Logger: testLogger(t).With("side", "haproxy")})
	bals := map[string]*haproxy.Balancer{}
	var members []*haproxy.Balancer
	for _, name := range names {
		backend := name
		if name == "web" {
			backend = p.Backend()
		}
		b, err := haproxy.New(ctx, haproxy.Config{Socket: p.Socket(), Backend: backend,
			Logger: testLogger(t).With("side", "driver", "service", name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		bals[name] = b
		members = append(members, b)
	}
	const interval = 500 * time.Millisecond
	group, err := haproxy.NewGroup(interval/2, members...)
	if err != nil {
		t.Fatal(err)
	}

	c := startCluster(t, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	hc := &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	config := func() Config {
		cfg := localConfig(t, c, nil)
		cfg.StateFile = state
		cfg.Balancer = bals["web"]
		cfg.Task.HealthCheck = hc
		cfg.DrainTimeout = 2 * time.Second
		api, static := webTask(t), webTask(t)
		api.Name, static.Name = "", ""
		api.HealthCheck, static.HealthCheck = hc, hc
		cfg.Services = []ServiceConfig{
			{Name: "api", Task: api, Balancer: bals["api"]},
			{Name: "static", Task: static, Balancer: bals["static"]},
		}
		return cfg
	}
	f := startFarmMem(t, config(), nil)
	runner := func(s *Scheduler, name string) scaler.Runner { return serviceRunner(t, s, name) }
	status := func(s *Scheduler, name string) scaler.Status {
		st, err := runner(s, name).Status(ctx)
		if err != nil {
			t.Fatalf("%s: Status: %v", name, err)
		}
		return st
	}

	// Every decision of every controller, by service.
	var mu sync.Mutex
	reports := map[string][]scaler.Report{}
	// runControllers starts one controller per service on s and returns a
	// func that stops them and waits.
	runControllers := func(s *Scheduler) func() {
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, sp := range specs {
			ctl := &scaler.Controller{Balancer: group.Member(bals[sp.name]), Policy: sp.policy(),
				Runner: runner(s, sp.name), Interval: interval,
				Logger: testLogger(t).With("side", "controller", "service", sp.name),
				OnDecision: func(r scaler.Report) {
					mu.Lock()
					defer mu.Unlock()
					reports[sp.name] = append(reports[sp.name], r)
				}}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := ctl.Run(cctx); err != nil && cctx.Err() == nil {
					t.Errorf("%s: controller: %v", sp.name, err)
				}
			}()
		}
		return func() { cancel(); wg.Wait() }
	}

	// Each service at 1 before the loads start.
	for _, name := range names {
		if err := runner(f.s, name).SetDesired(ctx, 1); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "each service at 1", func() (bool, string) {
		ok, msg := true, ""
		for _, name := range names {
			st := status(f.s, name)
			ok = ok && st == scaler.Status{Desired: 1, Running: 1}
			msg += fmt.Sprintf("%s: %+v; ", name, st)
		}
		return ok, msg
	})

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loads := map[string]*loadgen.Load{}
	rates := map[string]*atomic.Uint64{}
	for _, sp := range specs {
		url := p.URL()
		if sp.name != "web" {
			url += sp.name + "/"
		}
		r := &atomic.Uint64{}
		r.Store(math.Float64bits(sp.rate))
		rates[sp.name] = r
		loads[sp.name] = loadgen.Start(loadCtx, loadgen.Config{URL: url, Concurrency: 6,
			RateFunc:    func(time.Duration) float64 { return math.Float64frombits(r.Load()) },
			Duration:    2 * time.Minute,
			MaxRequests: 20000})
	}
	last := map[string]int64{}
	progress := func(n int64) {
		t.Helper()
		eventually(t, 15*time.Second, fmt.Sprintf("every load %d requests further", n), func() (bool, string) {
			ok, msg := true, ""
			for _, name := range names {
				r := loads[name].Snapshot()
				ok = ok && r.OK >= last[name]+n
				msg += fmt.Sprintf("%s: %v; ", name, r)
			}
			return ok, msg
		})
		for _, name := range names {
			last[name] = loads[name].Snapshot().OK
		}
	}
	// scaledTo waits until every service runs a count in its range (or,
	// with low set, 1) and its status, HAProxy backend and Mesos agree.
	// Budget scales down no sooner than a minute after its controller
	// started (a restart is a start), so the wait to scale down allows
	// that minute on top.
	scaledTo := func(s *Scheduler, low bool) map[string]int {
		t.Helper()
		counts := map[string]int{}
		wait := 40 * time.Second
		if low {
			wait += time.Minute
		}
		eventually(t, wait, fmt.Sprintf("services scaled (low %v)", low), func() (bool, string) {
			ok, msg := true, ""
			for _, sp := range specs {
				st := status(s, sp.name)
				lo, hi := sp.lo, sp.hi
				if low {
					lo, hi = 1, 1
				}
				ok = ok && st.Desired == st.Running && st.Running >= lo && st.Running <= hi
				counts[sp.name] = st.Running
				msg += fmt.Sprintf("%s: %+v want [%d, %d]; ", sp.name, st, lo, hi)
			}
			if ok {
				ok, msg = servicesSettled(ctx, t, c, s, names, bals, counts)()
			}
			return ok, msg
		})
		return counts
	}

	stopControllers := runControllers(f.s)
	progress(20)
	up := scaledTo(f.s, false)
	t.Logf("%s: scaled up under load to %v", time.Since(start).Round(time.Millisecond), up)
	progress(20)

	// Restart the scheduler (and the controllers, as a restarted process
	// would) under load: the new one adopts every task.
	stopControllers()
	want := map[string]int{}
	for _, name := range names {
		want[name] = status(f.s, name).Desired
	}
	eventually(t, 30*time.Second, "farm settled before the restart", servicesSettled(ctx, t, c, f.s, names, bals, want))
	before := allTaskIDs(c, f.s.FrameworkID())
	f.stop()
	f2 := startFarmMem(t, config(), nil)
	eventually(t, 30*time.Second, "restarted scheduler reconciled", func() (bool, string) {
		return f2.s.reconciledNow(), "not reconciled"
	})
	eventually(t, 30*time.Second, "restarted farm as before", servicesSettled(ctx, t, c, f2.s, names, bals, want))
	if got := allTaskIDs(c, f2.s.FrameworkID()); !slices.Equal(got, before) {
		t.Fatalf("Mesos tasks after the restart %v, want the same %v: nothing launched or killed", got, before)
	}
	t.Logf("%s: restarted with %v, same %d tasks", time.Since(start).Round(time.Millisecond), want, len(before))
	stopControllers = runControllers(f2.s)
	defer func() { stopControllers() }()
	progress(20)
	again := scaledTo(f2.s, false)

	// Drop the loads: each service scales down to 1 while still served.
	for _, name := range names {
		rates[name].Store(math.Float64bits(lowRate))
	}
	down := scaledTo(f2.s, true)
	t.Logf("%s: scaled down to %v", time.Since(start).Round(time.Millisecond), down)
	progress(5)
	stopControllers()
	t.Logf("after the restart, under load: %v", again)

	stopLoad()
	for _, sp := range specs {
		r, err := loads[sp.name].Wait()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("load on %s (%g req/s, then %d): %v", sp.name, sp.rate, lowRate, r)
		if r.Failed > 0 || r.OK == 0 {
			t.Errorf("service %s: %d requests failed (%d ok): %v", sp.name, r.Failed, r.OK, r.Errors)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	ticks := 0
	for _, sp := range specs {
		rs := reports[sp.name]
		ticks += len(rs)
		changes, peak := 0, 0
		for _, r := range rs {
			peak = max(peak, r.Count)
			if !strings.Contains(r.Reason, sp.reason) || sp.reason == "" && (strings.HasPrefix(r.Reason, "budget:") || strings.HasPrefix(r.Reason, "step:")) {
				t.Errorf("%s: reason %q is not its policy's (want %q)", sp.name, r.Reason, sp.reason)
			}
			if r.Count != r.Input.Current {
				changes++
				if !strings.Contains(r.Reason, sp.changeWhy) {
					t.Errorf("%s: change %d → %d: reason %q lacks %q", sp.name, r.Input.Current, r.Count, r.Reason, sp.changeWhy)
				}
			}
		}
		if changes < 2 {
			t.Errorf("%s: %d changes of the count by its controller, want an up and a down at least", sp.name, changes)
		}
		if peak > sp.hi {
			t.Errorf("%s: a decision asked for %d tasks, over %d for %g req/s", sp.name, peak, sp.hi, sp.rate)
		}
		t.Logf("%s: %d decisions, %d changes, peak %d", sp.name, len(rs), changes, peak)
	}
	t.Logf("%d controller ticks cost %d HAProxy reads", ticks, group.Reads())
	if group.Reads() >= ticks {
		t.Errorf("%d HAProxy reads for %d ticks: the group shares none", group.Reads(), ticks)
	}
}
