// Command farm is a complete autoscaled web farm built from webfarm's
// public packages only, written to be copied: put this file in a module of
// your own (`go mod init example.com/myfarm && go get
// github.com/webfarm/webfarm`), change what you need, `go build`.
//
// It wires:
//   - Mesos: an embedded cluster (mesos/local, two agents on this machine),
//     or your masters with -master;
//   - your HAProxy, changed live through its admin socket (lb/haproxy):
//     start it with the haproxy.cfg recommended in webfarm's README
//     (Drivers, HAProxy), whose socket, frontend and backend are this
//     command's defaults;
//   - the framework scheduler (mesos), which launches this binary again as
//     the web-server task (`farm serve`, listening on $PORT), adds each
//     healthy task to HAProxy and drains it before killing it;
//   - the controller (scaler.TargetTracking), which reads HAProxy's request
//     counters and sets the task count;
//   - the status page, JSON and Prometheus /metrics (status) on -status.
//
// Run it, then send load to HAProxy's frontend and watch the status page:
//
//	haproxy -f haproxy.cfg                         # the README's block
//	farm                                           # embedded Mesos, status page on 127.0.0.1:8080
//	farm -socket /tmp/admin.sock -backend web -frontend www
//	farm -master http://mesos.example:5050 -task-exe /opt/farm/farm -task-bind 0.0.0.0 ...
//
// Ctrl-C scales the farm to zero (each backend drained, then its task
// killed) and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/status"
)

// config is the command's flags.
type config struct {
	master             string
	socket             string
	backend, frontend  string
	statusAddr         string
	taskExe, taskBind  string
	target             float64
	min, max           int
	interval           time.Duration
	stateFile          string
	haproxyConfigFile  string
	allowWorldWritable bool
	batch              bool
	deployAfter        time.Duration // see deploy.go
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Error("bad flags", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, log); err != nil {
		log.Error("farm failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("farm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.master, "master", "", "Mesos master URL(s), comma-separated, or one zk://host:2181,…/mesos; empty runs an embedded cluster")
	fs.StringVar(&c.socket, "socket", "/run/haproxy/admin.sock", "HAProxy stats socket at level admin (path or tcp://127.0.0.1:PORT)")
	fs.StringVar(&c.backend, "backend", "webfarm", "HAProxy backend whose servers the farm manages")
	fs.StringVar(&c.frontend, "frontend", "http-in", "HAProxy frontend whose request counter drives scaling (empty: the backend's)")
	fs.StringVar(&c.haproxyConfigFile, "haproxy-config", "", "haproxy.cfg to keep the pool in, so HAProxy restarts keep it (optional)")
	fs.BoolVar(&c.allowWorldWritable, "allow-world-writable-socket", false, "accept a stats socket every local user may write")
	fs.StringVar(&c.statusAddr, "status", "127.0.0.1:8080", "status page address (port 0 picks a free one)")
	fs.StringVar(&c.taskExe, "task-exe", "", "path of this binary on the agents (default: this executable)")
	fs.StringVar(&c.taskBind, "task-bind", "127.0.0.1", "address the web-server tasks listen on")
	fs.Float64Var(&c.target, "target", 50, "requests/s per task the policy aims for")
	fs.IntVar(&c.min, "min", 2, "fewest tasks")
	fs.IntVar(&c.max, "max", 10, "most tasks")
	fs.DurationVar(&c.interval, "interval", time.Second, "how often the controller reads HAProxy")
	fs.StringVar(&c.stateFile, "state-file", "", "where the scheduler keeps its state across restarts (optional)")
	fs.BoolVar(&c.batch, "batch", false, "embedded cluster only: run a batch framework (role batch) beside the farm (role web, with a quota guarantee of -max tasks) and show each framework's share on the status page")
	fs.DurationVar(&c.deployAfter, "deploy-after", 0, "roll the farm to a new task version (FARM_VERSION=2) this long after its first task serves, under whatever load runs; the status page shows its progress and both versions' request and 5xx rates (0: never)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.min < 0 || c.max < max(c.min, 1):
		return c, fmt.Errorf("-min %d -max %d: want 0 ≤ min ≤ max, max ≥ 1", c.min, c.max)
	case c.batch && c.master != "":
		return c, fmt.Errorf("-batch runs beside the embedded cluster only: drop -master")
	case c.interval < 100*time.Millisecond:
		return c, fmt.Errorf("-interval %s: want at least 100ms", c.interval)
	case c.deployAfter < 0:
		return c, fmt.Errorf("-deploy-after %s: want 0 (never) or more", c.deployAfter)
	}
	if _, err := netip.ParseAddr(c.taskBind); err != nil {
		return c, fmt.Errorf("-task-bind %q: %w", c.taskBind, err)
	}
	return c, nil // the packages validate the rest and name what is wrong
}

// run starts every part, runs until ctx is done, then scales the farm to
// zero and stops.
func run(ctx context.Context, cfg config, out io.Writer, log *slog.Logger) error {
	// The status page: /, /api/status (JSON) and /metrics (Prometheus).
	board, err := status.NewBoard(status.Options{Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.statusAddr)
	if err != nil {
		return fmt.Errorf("status page: %w", err)
	}
	page := &http.Server{Handler: board.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = page.Serve(ln) }()
	defer page.Close()
	fmt.Fprintf(out, "status page at http://%s/ (metrics at /metrics)\n", ln.Addr())

	// Mesos: the embedded cluster or the user's masters.
	var masters []string
	if cfg.master == "" {
		// Ports: not mesos/local's default (31000-32000), which webfarm's
		// own tests use; mesos/local offers only those free on this host.
		lcfg := local.Config{Agents: 2, Ports: local.PortRange{Begin: 27000, End: 27999}, Logger: log.With("component", "mesos/local")}
		if cfg.batch { // the farm's -max tasks are guaranteed (see webCPUs, webMem)
			lcfg.Quota = map[string]local.Quota{webRole: {CPUs: float64(cfg.max) * webCPUs, Mem: float64(cfg.max) * webMem}}
		}
		cluster, err := local.Start(ctx, lcfg)
		if err != nil {
			return err
		}
		defer cluster.Close() // kills any task still running
		masters = []string{cluster.URL()}
		board.SetInfo("mesos", "embedded, "+cluster.URL())
		if cfg.batch {
			stopBatch := runBatch(ctx, cluster, board, log)
			defer stopBatch()
		}
	} else {
		if masters, err = mesos.ParseMasters(cfg.master); err != nil {
			return err
		}
		board.SetInfo("mesos", cfg.master)
	}

	// HAProxy, through its runtime API. Watch records every pool change and
	// stats reading on the board.
	driver, err := haproxy.New(ctx, haproxy.Config{Socket: cfg.socket, Backend: cfg.backend, Frontend: cfg.frontend,
		ConfigFile: cfg.haproxyConfigFile, Restore: true, AllowWorldWritableSocket: cfg.allowWorldWritable,
		Logger: log.With("component", "lb/haproxy")})
	if err != nil {
		return err
	}
	defer driver.Close()
	bal := board.Watch(driver)
	board.SetInfo("haproxy", fmt.Sprintf("backend %s via %s", cfg.backend, cfg.socket))

	// The scheduler: each task is this binary again, serving HTTP on $PORT.
	exe := cfg.taskExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	mcfg := mesos.Config{
		Masters:   masters,
		Name:      "farm",
		StateFile: cfg.stateFile,
		Balancer:  bal,
		Task: mesos.TaskTemplate{
			Name: "web", Command: []string{exe, "serve", "-bind", cfg.taskBind}, CPUs: webCPUs, Mem: webMem,
			HealthCheck:     &mesos.HealthCheck{Path: "/healthz", Interval: time.Second, Timeout: 2 * time.Second, GracePeriod: 10 * time.Second},
			KillGracePeriod: 5 * time.Second,
		},
		DrainTimeout: 10 * time.Second,
		InitialCount: cfg.min, // a new farm serves at once, not after the controller's first tick
		Logger:       log.With("component", "mesos"),
	}
	if cfg.batch {
		mcfg.Role = webRole
	}
	if cfg.master == "" { // the embedded agents all run on this machine
		mcfg.Resolve = func(context.Context, string) (netip.Addr, error) { return netip.ParseAddr(cfg.taskBind) }
	}
	sched, err := mesos.New(ctx, mcfg)
	if err != nil {
		return err
	}
	// The scheduler outlives ctx: it scales the farm to zero at the end.
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(schedCtx) }()
	defer func() { stopSched(); <-schedDone }()
	if cfg.deployAfter > 0 {
		go deployLater(ctx, sched, mcfg.Task, cfg.deployAfter, board, log)
	}

	// The controller and its policy.
	policy, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: cfg.target, Min: cfg.min, Max: cfg.max})
	if err != nil {
		return err
	}
	ctl := &scaler.Controller{Balancer: bal, Policy: policy, Runner: sched, Interval: cfg.interval,
		Logger: log.With("component", "scaler"), OnDecision: board.Record}
	fmt.Fprintf(out, "farm running: %d–%d tasks at %.0f req/s each; send load to HAProxy's frontend\n", cfg.min, cfg.max, cfg.target)
	if err := ctl.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return scaleToZero(sched, log)
}

// scaleToZero stops the farm (mesos.Scheduler.Stop: every backend
// drained, then its task killed), waiting up to 30 s.
func scaleToZero(sched *mesos.Scheduler, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	log.Info("stopping: scaling the farm to zero")
	if err := sched.Stop(ctx, mesos.StopOptions{}); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}

// serve is the web-server task: HTTP on -bind:$PORT until SIGTERM, when it
// finishes the requests in flight and exits.
func serve(args []string) int {
	fs := flag.NewFlagSet("farm serve", flag.ContinueOnError)
	bind := fs.String("bind", "127.0.0.1", "address to listen on; the port is $PORT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "farm serve: $PORT is not set (the scheduler sets it from the offer)")
		return 2
	}
	id := os.Getenv("MESOS_TASK_ID")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "hello from %s\n", strings.TrimSpace(id))
	})
	srv := &http.Server{Addr: net.JoinHostPort(*bind, port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "farm serve:", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}
