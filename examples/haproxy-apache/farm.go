package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/status"
)

// farmConfig is the demo's configuration, from its flags.
type farmConfig struct {
	backend     string        // backendGo or backendApache (resolved from auto)
	master      string        // "" for the embedded mesos/local
	agents      int           // embedded agents
	load        bool          // run the built-in load profile
	peak        float64       // the profile's spike, requests/s
	length      time.Duration // the profile's length
	target      float64       // requests/s per task (the Budget policy's capacity)
	policy      string        // policyTargetTracking or policyBudget
	min, max    int           // task bounds
	interval    time.Duration // controller poll interval
	statusAddr  string        // status page listen address
	listenPort  int           // HAProxy frontend port on 127.0.0.1 (0: any free)
	taskExe     string        // the binary tasks run (this one)
	taskBind    string        // address tasks bind
	exitAfter   bool          // stop once the load has ended and the farm is back to min
	services    int           // services on the one HAProxy, 1–len(builtinServices)
	deployAfter time.Duration // roll the first service to a new version this long after it serves (0: never)
	settle      time.Duration // with exitAfter: how long to wait for the farm to scale back down
}

// summary is what a farm run did; the demo prints it and the tests check it.
// With several services it adds theirs up (peakTasks: the sum of each
// service's peak) and lists each in services.
type summary struct {
	load       loadgen.Result
	loadRan    bool
	peakTasks  int // most running tasks seen
	endTasks   int // running tasks when the farm stopped
	ups, downs int
	counts     status.Counts
	statusURL  string
	frontend   string
	services   []serviceSummary
	deployed   bool               // -deploy-after started a deployment
	deploy     mesos.DeployStatus // its last status
}

// add adds one service's figures to s. Latencies are the worst service's.
func (s *summary) add(o summary) {
	s.loadRan = s.loadRan || o.loadRan
	s.load.Requests += o.load.Requests
	s.load.OK += o.load.OK
	s.load.Failed += o.load.Failed
	s.load.Skipped += o.load.Skipped
	s.load.P50, s.load.P99, s.load.Max = max(s.load.P50, o.load.P50), max(s.load.P99, o.load.P99), max(s.load.Max, o.load.Max)
	s.load.Elapsed = max(s.load.Elapsed, o.load.Elapsed)
	for k, v := range o.load.Errors {
		if s.load.Errors == nil {
			s.load.Errors = map[string]int64{}
		}
		s.load.Errors[k] += v
	}
	s.peakTasks += o.peakTasks
	s.endTasks += o.endTasks
	s.ups += o.ups
	s.downs += o.downs
	c := &s.counts
	c.Up, c.Down, c.Hold, c.StatsErrors = c.Up+o.counts.Up, c.Down+o.counts.Down, c.Hold+o.counts.Hold, c.StatsErrors+o.counts.StatsErrors
	c.Adds, c.Drains, c.Removes = c.Adds+o.counts.Adds, c.Drains+o.counts.Drains, c.Removes+o.counts.Removes
}

func (s summary) String() string {
	if len(s.services) > 1 {
		out := ""
		for _, sv := range s.services {
			out += fmt.Sprintf("service %s (%s):\n  %s\n", sv.name, sv.shape, strings.ReplaceAll(sv.summary.String(), "\n", "\n  "))
		}
		return out + fmt.Sprintf("all %d services: decisions: %d up, %d down; load: %d requests, %d ok, %d failed",
			len(s.services), s.ups, s.downs, s.load.Requests, s.load.OK, s.load.Failed)
	}
	out := fmt.Sprintf("farm: tasks peaked at %d running, ended at %d; decisions: %d up, %d down; pool: %d adds, %d drains, %d removes, %d stats errors",
		s.peakTasks, s.endTasks, s.ups, s.downs, s.counts.Adds, s.counts.Drains, s.counts.Removes, s.counts.StatsErrors)
	if s.loadRan {
		out += "\nload: " + s.load.String()
	}
	if s.deployed {
		out += "\n" + s.deploy.String()
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

// farmService is one service of the farm: its route on the shared
// HAProxy, its load shape, its board, its controller's runner and its
// load.
type farmService struct {
	name, shape string
	prefix      string // "" for the default service (HAProxy's default backend), else "/name/"
	board       *status.Board
	hb          *haproxy.Balancer
	bal         lb.Balancer // hb through the group and the board
	runner      scaler.Runner
	tr          tracker
	over        overMetrics
	prof        profile
	load        *loadgen.Load
	url         string
	phase       string
}

// serviceSummary is what one service of the farm did.
type serviceSummary struct {
	name, shape string
	summary
}

// runFarm starts the farm, runs it until ctx is done (or, with exitAfter,
// until the load has ended and the farm is back to its minimum), then stops
// every part it started: tasks (scaled to zero through the balancer, then
// killed with the cluster), HAProxy, the status page. It writes the status
// page's address and the summary to out. With cfg.services > 1 the farm
// runs that many services in one scheduler behind one HAProxy (see
// builtinServices); the summary adds up theirs and lists each.
func runFarm(ctx context.Context, cfg farmConfig, out io.Writer, log *slog.Logger) (sum summary, err error) {
	tmp, err := os.MkdirTemp("", "webfarm-demo-")
	if err != nil {
		return sum, err
	}
	defer os.RemoveAll(tmp)

	n := max(cfg.services, 1)
	svcs := make([]*farmService, n)
	for i := range svcs {
		b := builtinServices[i]
		svcs[i] = &farmService{name: b.name, shape: b.shape}
		if i > 0 {
			svcs[i].prefix = "/" + b.name + "/"
		}
	}
	multi := n > 1

	// The status page first, so its address is printed before anything slow.
	// The scheduler logs each pool change; the board's own lines would repeat them.
	reg := prometheus.NewRegistry()
	for _, sv := range svcs {
		opts := status.Options{Logger: slog.New(slog.DiscardHandler), Registry: reg}
		if multi {
			opts.Service = sv.name
		}
		if sv.board, err = status.NewBoard(opts); err != nil {
			return sum, err
		}
	}
	setInfo := func(key, value string) {
		for _, sv := range svcs {
			sv.board.SetInfo(key, value)
		}
	}
	handler := svcs[0].board.Handler()
	if multi {
		handler = servicesHandler(svcs, reg)
	}
	sln, err := net.Listen("tcp", cfg.statusAddr)
	if err != nil {
		return sum, fmt.Errorf("status page: listen %s: %w", cfg.statusAddr, err)
	}
	ssrv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ssrv.Serve(sln) }()
	defer ssrv.Close()
	sum.statusURL = "http://" + sln.Addr().String() + "/"
	fmt.Fprintf(out, "webfarm: status page at %s (metrics at %smetrics)\n", sum.statusURL, sum.statusURL)

	// Mesos: the embedded cluster, or the user's.
	masters := []string{}
	if cfg.master == "" {
		// 500 ports of this demo's area, free when picked (see internal/portblock).
		pb, release, err := portblock.HAProxyApache.Pick(500)
		if err != nil {
			return sum, fmt.Errorf("embedded mesos: %w", err)
		}
		defer release() // after the cluster's Close, deferred below
		cluster, err := local.Start(ctx, local.Config{Agents: cfg.agents, WorkDir: filepath.Join(tmp, "mesos"),
			Ports: local.PortRange{Begin: pb.Begin, End: pb.End}, Logger: log.With("component", "mesos/local")})
		if err != nil {
			return sum, fmt.Errorf("embedded mesos: %w", err)
		}
		defer cluster.Close() // kills any task still running
		masters = append(masters, cluster.URL())
		setInfo("mesos", fmt.Sprintf("embedded, %d agents, %s", cfg.agents, cluster.URL()))
	} else {
		if masters, err = mesos.ParseMasters(cfg.master); err != nil {
			return sum, err
		}
		setInfo("mesos", cfg.master)
	}

	// HAProxy, with its admin socket, driven through the runtime API: the
	// first service is its default backend, each other one a backend
	// routed by path prefix (/name/).
	var routes []string
	for _, sv := range svcs[1:] {
		routes = append(routes, sv.name)
	}
	proc, err := haproxyproc.Start(ctx, haproxyproc.Config{Dir: filepath.Join(tmp, "haproxy"), FrontendPort: cfg.listenPort,
		Routes: routes, Logger: log.With("component", "haproxy")})
	if err != nil {
		return sum, fmt.Errorf("haproxy: %w", err)
	}
	defer proc.Stop()
	hbs := make([]*haproxy.Balancer, n)
	for i, sv := range svcs {
		// One service: ConfigFile keeps the pool in haproxy.cfg, so an
		// operator's restart or reload starts with it, and Stats count the
		// frontend. Several: each counts its own backend, and the file is
		// left alone (one driver per file). Restore covers a change that
		// raced a restart.
		hc := haproxy.Config{Socket: proc.Socket(), Backend: proc.Backend(), Frontend: proc.Frontend(),
			ConfigFile: proc.ConfigPath(), Restore: true, Logger: log.With("component", "lb/haproxy")}
		if multi {
			hc.Frontend, hc.ConfigFile, hc.Logger = "", "", log.With("component", "lb/haproxy", "service", sv.name)
			if i > 0 {
				hc.Backend = sv.name
			}
		}
		if sv.hb, err = haproxy.New(ctx, hc); err != nil {
			return sum, fmt.Errorf("haproxy driver: %w", err)
		}
		defer sv.hb.Close()
		hbs[i] = sv.hb
		sv.url = proc.URL() + strings.TrimPrefix(sv.prefix, "/")
	}
	// One `show stat` per round answers every service's controller.
	group, err := haproxy.NewGroup(cfg.interval/2, hbs...)
	if err != nil {
		return sum, fmt.Errorf("haproxy group: %w", err)
	}
	for _, sv := range svcs {
		var bal lb.Balancer = sv.hb
		if multi {
			bal = group.Member(sv.hb)
		}
		sv.bal = sv.board.Watch(bal)
	}
	sum.frontend = proc.URL()
	setInfo("haproxy", fmt.Sprintf("%s (pid %d, config %s)", proc.URL(), proc.PID(), proc.ConfigPath()))
	setInfo("backend", cfg.backend)
	fmt.Fprintf(out, "webfarm: farm at %s (HAProxy config %s)\n", proc.URL(), proc.ConfigPath())
	if multi {
		for _, sv := range svcs {
			sv.board.SetInfo("service", fmt.Sprintf("%s at %s, load shape %s", sv.name, sv.url, sv.shape))
			fmt.Fprintf(out, "webfarm: service %s at %s (load shape %s)\n", sv.name, sv.url, sv.shape)
		}
	}

	// The scheduler: tasks re-execute this binary as their web server.
	task := func(sv *farmService) mesos.TaskTemplate {
		command := []string{cfg.taskExe, "serve", "-backend", cfg.backend, "-bind", cfg.taskBind}
		if sv.prefix != "" {
			command = append(command, "-prefix", sv.prefix)
		}
		return mesos.TaskTemplate{
			Command: command, CPUs: 0.1, Mem: 64, Ports: 1,
			HealthCheck:     &mesos.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: 2 * time.Second, GracePeriod: 10 * time.Second},
			KillGracePeriod: 5 * time.Second,
		}
	}
	mcfg := mesos.Config{
		Masters:      masters,
		Name:         "webfarm-demo",
		Task:         task(svcs[0]),
		Balancer:     svcs[0].bal,
		DrainTimeout: 10 * time.Second,
		Logger:       log.With("component", "mesos"),
	}
	mcfg.Task.Name = svcs[0].name
	for _, sv := range svcs[1:] {
		mcfg.Services = append(mcfg.Services, mesos.ServiceConfig{Name: sv.name, Task: task(sv), Balancer: sv.bal, DrainTimeout: 10 * time.Second})
	}
	if cfg.master == "" {
		mcfg.FailoverTimeout = time.Minute
		mcfg.Resolve = func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil }
	}
	sched, err := mesos.New(ctx, mcfg)
	if err != nil {
		return sum, fmt.Errorf("scheduler: %w", err)
	}
	svcs[0].runner = sched // the default service: the one-service API
	for _, sv := range svcs[1:] {
		if sv.runner, err = sched.Service(sv.name); err != nil {
			return sum, fmt.Errorf("scheduler: %w", err)
		}
	}
	schedCtx, stopSched := context.WithCancel(context.Background()) // outlives ctx: it scales the farm to zero at the end
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	defer func() {
		stopSched()
		<-schedDone
	}()
	for _, sv := range svcs {
		if err := sv.runner.SetDesired(ctx, cfg.min); err != nil {
			return sum, fmt.Errorf("scheduler: service %s: %w", sv.name, err)
		}
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

	// A controller and its policy per service.
	var ctlWG sync.WaitGroup
	ctlCtx, stopCtl := context.WithCancel(ctx)
	defer func() { stopCtl(); ctlWG.Wait() }()
	for _, sv := range svcs {
		policy, policyInfo, err := newPolicy(cfg)
		if err != nil {
			return sum, err
		}
		var reg prometheus.Registerer = sv.board.Registry()
		if multi {
			reg = prometheus.WrapRegistererWith(prometheus.Labels{"service": sv.name}, reg)
		}
		if err := sv.over.register(reg); err != nil {
			return sum, err
		}
		clog := log.With("component", "scaler")
		if multi {
			clog = clog.With("service", sv.name)
		}
		ctl := &scaler.Controller{Balancer: sv.bal, Policy: policy, Runner: sv.runner, Interval: cfg.interval,
			Logger: clog,
			OnDecision: func(r scaler.Report) {
				sv.tr.record(r)
				sv.over.record(r)
				sv.board.Record(r)
			}}
		ctlWG.Add(1)
		go func() { defer ctlWG.Done(); _ = ctl.Run(ctlCtx) }()
		sv.board.SetInfo("policy", policyInfo)
	}
	if cfg.deployAfter > 0 { // ends with the controllers, before the farm drains
		ctlWG.Add(1)
		go func() {
			defer ctlWG.Done()
			sum.deploy, sum.deployed = deployLater(ctlCtx, sched, svcs[0].name, mcfg.Task, cfg.deployAfter, svcs[0].board, log)
		}()
	}

	// The load, once the first tasks serve.
	if cfg.load {
		for _, sv := range svcs {
			if sv.prof, err = shapeProfile(sv.shape, cfg.peak, cfg.length); err != nil {
				return sum, err
			}
		}
		for _, sv := range svcs {
			if err := waitServing(ctx, sv.runner, cfg.min, 60*time.Second); err != nil {
				return sum, fmt.Errorf("service %s: %w", sv.name, err)
			}
		}
		for _, sv := range svcs {
			if multi {
				fmt.Fprintf(out, "webfarm: load profile of %s: %s %s, peak %.0f req/s\n", sv.name, sv.shape, sv.prof.length(), sv.prof.peak())
			} else {
				fmt.Fprintf(out, "webfarm: load profile: %s, peak %.0f req/s (ramp up, plateau, spike, ramp down)\n", sv.prof.length(), sv.prof.peak())
			}
			// Enough workers that a slow moment (a loaded machine) delays
			// requests rather than skipping them.
			sv.load = loadgen.Start(ctx, loadgen.Config{URL: sv.url, Concurrency: max(64, int(sv.prof.peak()/4)), RateFunc: sv.prof.rate,
				Duration: sv.prof.length(), Timeout: 10 * time.Second})
		}
	} else {
		for _, sv := range svcs {
			fmt.Fprintf(out, "webfarm: no built-in load (-load=false): send requests to %s\n", sv.url)
		}
	}

	// Run: feed the boards, log phases, stop when asked.
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var loadEnd time.Time
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		if !cfg.load {
			continue
		}
		ended := true
		for _, sv := range svcs {
			snap := sv.load.Snapshot()
			ph, rate := sv.prof.at(time.Since(start))
			running := true
			select {
			case <-sv.load.Done():
				running = false
			default:
				ended = false
			}
			sv.board.SetLoad(status.Load{Running: running, TargetRPS: rate, Requests: snap.Requests, OK: snap.OK,
				Failed: snap.Failed, P99Millis: float64(snap.P99) / float64(time.Millisecond), Errors: snap.Errors})
			if ph != sv.phase && ph != "" {
				if multi {
					log.Info("load: phase", "service", sv.name, "phase", ph, "rate", int(rate))
				} else {
					log.Info("load: phase", "phase", ph, "rate", int(rate))
				}
				sv.phase = ph
			}
		}
		if ended && loadEnd.IsZero() {
			loadEnd = time.Now()
			for _, sv := range svcs {
				res, _ := sv.load.Wait()
				if multi {
					fmt.Fprintf(out, "webfarm: load on %s done: %s\n", sv.name, res)
				} else {
					fmt.Fprintf(out, "webfarm: load done: %s\n", res)
				}
			}
		}
		if cfg.exitAfter && !loadEnd.IsZero() {
			settled := true
			for _, sv := range svcs {
				_, _, _, running, desired := sv.tr.snapshot()
				settled = settled && desired <= cfg.min && running <= cfg.min
			}
			if settled || time.Since(loadEnd) > cfg.settle {
				break loop
			}
		}
	}
	stopCtl()
	ctlWG.Wait()
	for _, sv := range svcs {
		var s serviceSummary
		s.name, s.shape = sv.name, sv.shape
		if sv.load != nil {
			s.load, _ = sv.load.Wait()
			s.loadRan = true
		}
		s.ups, s.downs, s.peakTasks, s.endTasks, _ = sv.tr.snapshot()
		sum.services = append(sum.services, s)
	}
	err = nil
	drain() // sets err if the farm does not stop
	for i, sv := range svcs {
		sum.services[i].counts = sv.board.Snapshot().Counts
		sum.add(sum.services[i].summary)
	}
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
func waitServing(ctx context.Context, sched scaler.Runner, n int, limit time.Duration) error {
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
