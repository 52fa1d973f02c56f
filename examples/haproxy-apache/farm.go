package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/status"
)

// farmConfig is the demo's configuration, from its flags.
type farmConfig struct {
	backend    string        // backendGo or backendApache (resolved from auto)
	master     string        // "" for the embedded mesos/local
	agents     int           // embedded agents
	load       bool          // run the built-in load profile
	peak       float64       // the profile's spike, requests/s
	length     time.Duration // the profile's length
	target     float64       // requests/s per task (the Budget policy's capacity)
	policy     string        // policyTargetTracking or policyBudget
	min, max   int           // task bounds
	interval   time.Duration // controller poll interval
	statusAddr string        // status page listen address
	listenPort int           // HAProxy frontend port on 127.0.0.1 (0: any free)
	taskExe    string        // the binary tasks run (this one)
	taskBind   string        // address tasks bind
	exitAfter  bool          // stop once the load has ended and the farm is back to min
	settle     time.Duration // with exitAfter: how long to wait for the farm to scale back down
}

// summary is what a farm run did; the demo prints it and the tests check it.
type summary struct {
	load       loadgen.Result
	loadRan    bool
	peakTasks  int // most running tasks seen
	endTasks   int // running tasks when the farm stopped
	ups, downs int
	counts     status.Counts
	statusURL  string
	frontend   string
}

func (s summary) String() string {
	out := fmt.Sprintf("farm: tasks peaked at %d running, ended at %d; decisions: %d up, %d down; pool: %d adds, %d drains, %d removes, %d stats errors",
		s.peakTasks, s.endTasks, s.ups, s.downs, s.counts.Adds, s.counts.Drains, s.counts.Removes, s.counts.StatsErrors)
	if s.loadRan {
		out += "\nload: " + s.load.String()
	}
	return out
}

// tracker follows the controller's reports for the summary and the
// -exit-after-load decision.
type tracker struct {
	mu            sync.Mutex
	ups, downs    int
	peak, running int
	desired       int
}

func (t *tracker) record(r scaler.Report) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch r.Direction() {
	case scaler.Up:
		t.ups++
	case scaler.Down:
		t.downs++
	}
	if !r.At.IsZero() {
		t.running = r.Input.Ready
		t.peak = max(t.peak, r.Input.Ready)
		t.desired = r.Input.Current
		if r.Applied {
			t.desired = r.Count
		}
	}
}

func (t *tracker) snapshot() (ups, downs, peak, running, desired int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ups, t.downs, t.peak, t.running, t.desired
}

// runFarm starts the farm, runs it until ctx is done (or, with exitAfter,
// until the load has ended and the farm is back to its minimum), then stops
// every part it started: tasks (scaled to zero through the balancer, then
// killed with the cluster), HAProxy, the status page. It writes the status
// page's address and the summary to out.
func runFarm(ctx context.Context, cfg farmConfig, out io.Writer, log *slog.Logger) (sum summary, err error) {
	tmp, err := os.MkdirTemp("", "webfarm-demo-")
	if err != nil {
		return sum, err
	}
	defer os.RemoveAll(tmp)

	// The status page first, so its address is printed before anything slow.
	// The scheduler logs each pool change; the board's own lines would repeat them.
	board, err := status.NewBoard(status.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return sum, err
	}
	sln, err := net.Listen("tcp", cfg.statusAddr)
	if err != nil {
		return sum, fmt.Errorf("status page: listen %s: %w", cfg.statusAddr, err)
	}
	ssrv := &http.Server{Handler: board.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ssrv.Serve(sln) }()
	defer ssrv.Close()
	sum.statusURL = "http://" + sln.Addr().String() + "/"
	fmt.Fprintf(out, "webfarm: status page at %s (metrics at %smetrics)\n", sum.statusURL, sum.statusURL)

	// Mesos: the embedded cluster, or the user's.
	masters := []string{}
	if cfg.master == "" {
		base := uint64(20000 + 500*rand.IntN(18)) // a port range other local farms are unlikely to use
		cluster, err := local.Start(ctx, local.Config{Agents: cfg.agents, WorkDir: filepath.Join(tmp, "mesos"),
			Ports: local.PortRange{Begin: base, End: base + 499}, Logger: log.With("component", "mesos/local")})
		if err != nil {
			return sum, fmt.Errorf("embedded mesos: %w", err)
		}
		defer cluster.Close() // kills any task still running
		masters = append(masters, cluster.URL())
		board.SetInfo("mesos", fmt.Sprintf("embedded, %d agents, %s", cfg.agents, cluster.URL()))
	} else {
		if masters, err = mesos.ParseMasters(cfg.master); err != nil {
			return sum, err
		}
		board.SetInfo("mesos", cfg.master)
	}

	// HAProxy, with its admin socket, driven through the runtime API.
	proc, err := haproxyproc.Start(ctx, haproxyproc.Config{Dir: filepath.Join(tmp, "haproxy"), FrontendPort: cfg.listenPort,
		Logger: log.With("component", "haproxy")})
	if err != nil {
		return sum, fmt.Errorf("haproxy: %w", err)
	}
	defer proc.Stop()
	// ConfigFile keeps the pool in haproxy.cfg, so an operator's restart or
	// reload starts with it; Restore covers a change that raced the restart.
	driver, err := haproxy.New(ctx, haproxy.Config{Socket: proc.Socket(), Backend: proc.Backend(), Frontend: proc.Frontend(),
		ConfigFile: proc.ConfigPath(), Restore: true, Logger: log.With("component", "lb/haproxy")})
	if err != nil {
		return sum, fmt.Errorf("haproxy driver: %w", err)
	}
	defer driver.Close()
	bal := board.Watch(driver)
	sum.frontend = proc.URL()
	board.SetInfo("haproxy", fmt.Sprintf("%s (pid %d, config %s)", proc.URL(), proc.PID(), proc.ConfigPath()))
	board.SetInfo("backend", cfg.backend)
	fmt.Fprintf(out, "webfarm: farm at %s (HAProxy config %s)\n", proc.URL(), proc.ConfigPath())

	// The scheduler: tasks re-execute this binary as their web server.
	command := []string{cfg.taskExe, "serve", "-backend", cfg.backend, "-bind", cfg.taskBind}
	mcfg := mesos.Config{
		Masters: masters,
		Name:    "webfarm-demo",
		Task: mesos.TaskTemplate{
			Name: "web", Command: command, CPUs: 0.1, Mem: 64, Ports: 1,
			HealthCheck:     &mesos.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: 2 * time.Second, GracePeriod: 10 * time.Second},
			KillGracePeriod: 5 * time.Second,
		},
		Balancer:     bal,
		DrainTimeout: 10 * time.Second,
		Logger:       log.With("component", "mesos"),
	}
	if cfg.master == "" {
		mcfg.FailoverTimeout = time.Minute
		mcfg.Resolve = func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil }
	}
	sched, err := mesos.New(ctx, mcfg)
	if err != nil {
		return sum, fmt.Errorf("scheduler: %w", err)
	}
	schedCtx, stopSched := context.WithCancel(context.Background()) // outlives ctx: it scales the farm to zero at the end
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	defer func() {
		stopSched()
		<-schedDone
	}()
	if err := sched.SetDesired(ctx, cfg.min); err != nil {
		return sum, fmt.Errorf("scheduler: %w", err)
	}
	var drainOnce sync.Once
	drain := func() { // scale to zero: drain every backend, then kill its task
		drainOnce.Do(func() {
			if derr := drainFarm(sched, log); derr != nil && err == nil {
				err = derr
			}
		})
	}
	defer drain()

	// The controller and its policy.
	policy, policyInfo, err := newPolicy(cfg)
	if err != nil {
		return sum, err
	}
	var over overMetrics
	if err := over.register(board.Registry()); err != nil {
		return sum, err
	}
	var tr tracker
	ctl := &scaler.Controller{Balancer: bal, Policy: policy, Runner: sched, Interval: cfg.interval,
		Logger: log.With("component", "scaler"),
		OnDecision: func(r scaler.Report) {
			tr.record(r)
			over.record(r)
			board.Record(r)
		}}
	ctlCtx, stopCtl := context.WithCancel(ctx)
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); _ = ctl.Run(ctlCtx) }()
	defer func() { stopCtl(); <-ctlDone }()
	board.SetInfo("policy", policyInfo)

	// The load, once the first tasks serve.
	var load *loadgen.Load
	var prof profile
	if cfg.load {
		if prof, err = demoProfile(cfg.peak, cfg.length); err != nil {
			return sum, err
		}
		if err := waitServing(ctx, sched, cfg.min, 60*time.Second); err != nil {
			return sum, err
		}
		fmt.Fprintf(out, "webfarm: load profile: %s, peak %.0f req/s (ramp up, plateau, spike, ramp down)\n", prof.length(), prof.peak())
		// Enough workers that a slow moment (a loaded machine) delays
		// requests rather than skipping them.
		load = loadgen.Start(ctx, loadgen.Config{URL: proc.URL(), Concurrency: max(64, int(prof.peak()/4)), RateFunc: prof.rate,
			Duration: prof.length(), Timeout: 10 * time.Second})
	} else {
		fmt.Fprintf(out, "webfarm: no built-in load (-load=false): send requests to %s\n", proc.URL())
	}

	// Run: feed the board, log phases, stop when asked.
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	phase := ""
	var loadEnd time.Time
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if load != nil {
			snap := load.Snapshot()
			ph, rate := prof.at(time.Since(start))
			running := true
			select {
			case <-load.Done():
				running = false
			default:
			}
			board.SetLoad(status.Load{Running: running, TargetRPS: rate, Requests: snap.Requests, OK: snap.OK,
				Failed: snap.Failed, P99Millis: float64(snap.P99) / float64(time.Millisecond), Errors: snap.Errors})
			if ph != phase && ph != "" {
				log.Info("load: phase", "phase", ph, "rate", int(rate))
				phase = ph
			}
			if !running && loadEnd.IsZero() {
				loadEnd = time.Now()
				res, _ := load.Wait()
				fmt.Fprintf(out, "webfarm: load done: %s\n", res)
			}
		}
		if cfg.exitAfter && load != nil && !loadEnd.IsZero() {
			_, _, _, running, desired := tr.snapshot()
			if (desired <= cfg.min && running <= cfg.min) || time.Since(loadEnd) > cfg.settle {
				break loop
			}
		}
	}
	stopCtl()
	<-ctlDone
	if load != nil {
		sum.load, _ = load.Wait()
		sum.loadRan = true
	}
	sum.ups, sum.downs, sum.peakTasks, sum.endTasks, _ = tr.snapshot()
	err = nil
	drain() // sets err if the farm does not stop
	sum.counts = board.Snapshot().Counts
	return sum, err
}

// policyConfig scales the policy's windows to the load profile, so the
// farm visibly scales down within the demo: 20 s stable window for the
// 2-minute profile.
func policyConfig(cfg farmConfig) scaler.TargetTrackingConfig {
	stable := max(cfg.length/6, 6*time.Second).Round(time.Second)
	return scaler.TargetTrackingConfig{
		RequestsPerTask: cfg.target, Min: cfg.min, Max: cfg.max,
		StableWindow: stable, PanicWindow: max(stable/5, 2*cfg.interval).Round(time.Second),
		DownStabilization: (stable * 3 / 4).Round(time.Second),
		// Give back at most half the tasks per half stable window: visible
		// steps, yet back to -min within the demo's quiet tail.
		DownLimit: scaler.RateLimit{Percent: 50, Period: stable / 2},
		MaxAge:    10 * cfg.interval,
	}
}

// waitServing waits until n tasks are in the balancer.
func waitServing(ctx context.Context, sched *mesos.Scheduler, n int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		st, err := sched.Status(ctx)
		if err == nil && st.Running >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d tasks to serve (have %+v): %w", n, st, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// forceStop, once set (a second Ctrl-C), makes drainFarm give up at once;
// the cluster then kills the tasks.
var forceStop atomic.Bool

// drainFarm stops the farm through the scheduler (mesos.Scheduler.Stop:
// every count to zero, each backend drained before its task is killed)
// and waits, up to 30 s, until no task is left.
func drainFarm(sched *mesos.Scheduler, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { // a second Ctrl-C gives up at once
		for ctx.Err() == nil && !forceStop.Load() {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
	}()
	log.Info("stopping: scaling the farm to zero")
	if err := sched.Stop(ctx, mesos.StopOptions{}); err != nil && !forceStop.Load() {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

var _ lb.Balancer = (*haproxy.Balancer)(nil)
