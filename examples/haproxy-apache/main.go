// Command haproxy-apache is the web farm in one command (`make demo`): an
// embedded Mesos cluster (mesos/local), a real HAProxy in front driven
// through its runtime API (lb/haproxy), web-server tasks launched by the
// framework scheduler (mesos), and the controller (scaler) that scales them
// on HAProxy's request counters. A built-in load profile (ramp up, plateau,
// spike, ramp down; about two minutes) makes the farm scale up and back
// down while a status page on 127.0.0.1 draws it live.
//
//	go run ./examples/haproxy-apache                  # embedded Mesos, built-in load
//	go run ./examples/haproxy-apache -backend apache  # Apache httpd tasks (Debian's apache2)
//	go run ./examples/haproxy-apache -load=false      # bring your own load to the printed URL
//	go run ./examples/haproxy-apache -services 3      # three services (web, api, static) on one HAProxy
//	go run ./examples/haproxy-apache -deploy-after 20s # roll the farm to a new task version under the load
//	go run ./examples/haproxy-apache -master http://mesos.example:5050 -task-exe /opt/webfarm/haproxy-apache
//
// The status page (address printed at start) shows request rate, desired
// and running tasks over time, the latest decisions with their reasons and
// the pool as HAProxy sees it; /metrics serves Prometheus metrics and
// /api/status the JSON the page polls. Logs are log/slog lines, one per
// decision and per pool change.
//
// With -services N (up to 3) one scheduler runs N services behind the one
// HAProxy: web is its default backend, api and static are routed by path
// (/api/, /static/). Each has its own load shape (classic, spike, wave),
// controller and policy (the same flags for all), read together in one
// `show stat` per round (haproxy.Group). The status page then has one
// section per service (each service's own page at /s/NAME/), /api/status
// returns {"services": [{"service": NAME, "status": …}, …]}, and every
// series on /metrics carries a service label.
//
// Ctrl-C stops the farm cleanly: the load stops, the controller stops,
// the farm is scaled to zero (each backend drained, then its task killed),
// and HAProxy and the embedded cluster exit. A second Ctrl-C skips the
// draining; nothing is left running either way.
//
// The web-server task is this binary again: `haproxy-apache serve
// -backend go|apache -bind ADDR` listens on $PORT0, which the scheduler
// sets from the offer. With -backend apache it writes a minimal per-task
// httpd.conf and runs apache2 -DFOREGROUND. On a real cluster, the binary
// must exist at -task-exe on every agent, and tasks bind -task-bind
// (0.0.0.0 by default there, so HAProxy on another host reaches them).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:]))
	}
	os.Exit(farmMain(os.Args[1:], os.Stdout, os.Stderr))
}

// parseFarm reads the demo's flags. lookPath reports whether apache2 is
// installed (for -backend auto).
func parseFarm(args []string, stderr io.Writer, apacheInstalled bool) (farmConfig, slog.Level, error) {
	fs := flag.NewFlagSet("haproxy-apache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c farmConfig
	var level slog.Level
	fs.StringVar(&c.backend, "backend", backendAuto, "web server of each task: go (built in), apache (Debian's apache2), or auto (apache when installed)")
	fs.StringVar(&c.master, "master", "", "Mesos master(s), e.g. http://host:5050 (comma-separated) or zk://host:2181,…/mesos; empty runs an embedded cluster")
	fs.IntVar(&c.agents, "agents", 2, "agents of the embedded cluster")
	fs.BoolVar(&c.load, "load", true, "run the built-in load profile against the farm")
	fs.Float64Var(&c.peak, "peak", 400, "request rate of the load's spike, requests/s")
	fs.DurationVar(&c.length, "duration", 2*time.Minute, "length of the load profile (10s–10m)")
	fs.Float64Var(&c.target, "target", 50, "requests/s per task the policy aims for (targettracking), or each task's capacity (budget)")
	fs.StringVar(&c.policy, "policy", policyTargetTracking, "scaling policy: targettracking, or budget (0.5% of requests over capacity)")
	fs.IntVar(&c.min, "min", 2, "fewest tasks")
	fs.IntVar(&c.max, "max", 12, "most tasks")
	fs.DurationVar(&c.interval, "interval", time.Second, "controller poll interval")
	fs.StringVar(&c.statusAddr, "status", "127.0.0.1:0", "status page address (port 0 picks a free port)")
	fs.IntVar(&c.listenPort, "port", 0, "HAProxy frontend port on 127.0.0.1 (0 picks a free port)")
	fs.StringVar(&c.taskExe, "task-exe", "", "path of this binary on the agents (default: this process's executable)")
	fs.StringVar(&c.taskBind, "task-bind", "", "address tasks listen on (default 127.0.0.1 with the embedded cluster, 0.0.0.0 with -master)")
	fs.IntVar(&c.services, "services", 1, fmt.Sprintf("services on the one HAProxy, 1–%d: %s (each with its own load shape, controller and status section)", len(builtinServices), builtinList()))
	fs.DurationVar(&c.deployAfter, "deploy-after", 0, "roll the first service to a new task version ("+deployVersionEnv+"=2, MaxSurge 1) this long after its first task serves, under the load; the status page shows its progress and both versions' request and 5xx rates (0: never)")
	fs.BoolVar(&c.exitAfter, "exit-after-load", false, "stop once the load has ended and the farm is back to -min (exit status 1 if a request failed)")
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return c, level, err
	}
	c.settle = max(c.length/2, 30*time.Second)
	bad := func(format string, a ...any) (farmConfig, slog.Level, error) {
		return c, level, fmt.Errorf(format, a...)
	}
	switch c.backend {
	case backendAuto:
		c.backend = backendGo
		if apacheInstalled {
			c.backend = backendApache
		}
	case backendGo, backendApache:
	default:
		return bad("-backend %q: want go, apache or auto", c.backend)
	}
	if c.taskBind == "" {
		c.taskBind = "127.0.0.1"
		if c.master != "" {
			c.taskBind = "0.0.0.0"
		}
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments %q (the only subcommand is serve)", fs.Args())
	case c.policy != policyTargetTracking && c.policy != policyBudget:
		return bad("-policy %q: want targettracking or budget", c.policy)
	case c.agents < 1 || c.agents > 64:
		return bad("-agents %d: want 1–64", c.agents)
	case !(c.peak > 0) || math.IsInf(c.peak, 0):
		return bad("-peak %v: want a positive rate", c.peak)
	case c.length < 10*time.Second || c.length > 10*time.Minute:
		return bad("-duration %s: want 10s–10m", c.length)
	case !(c.target > 0) || math.IsInf(c.target, 0):
		return bad("-target %v: want a positive rate", c.target)
	case c.min < 1 || c.max < c.min || c.max > 200:
		return bad("-min %d -max %d: want 1 ≤ min ≤ max ≤ 200", c.min, c.max)
	case c.interval < 100*time.Millisecond || c.interval > time.Minute:
		return bad("-interval %s: want 100ms–1m", c.interval)
	case c.listenPort < 0 || c.listenPort > 65535:
		return bad("-port %d: want 0–65535", c.listenPort)
	case net.ParseIP(c.taskBind) == nil:
		return bad("-task-bind %q: want an IP address", c.taskBind)
	case c.services < 1 || c.services > len(builtinServices):
		return bad("-services %d: want 1–%d", c.services, len(builtinServices))
	case c.deployAfter < 0 || c.deployAfter > time.Hour:
		return bad("-deploy-after %s: want 0 (never) to 1h", c.deployAfter)
	case c.exitAfter && !c.load:
		return bad("-exit-after-load needs the built-in load (-load)")
	}
	if _, _, err := net.SplitHostPort(c.statusAddr); err != nil {
		return bad("-status %q: want host:port: %v", c.statusAddr, err)
	}
	return c, level, nil
}

// farmMain runs the demo and returns the process exit code.
func farmMain(args []string, stdout, stderr io.Writer) int {
	_, err := os.Stat("/usr/sbin/apache2")
	cfg, level, err := parseFarm(args, stderr, err == nil)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err != nil {
		log.Error("bad flags", "err", err)
		return 2
	}
	if cfg.taskExe == "" {
		if cfg.taskExe, err = os.Executable(); err != nil {
			log.Error("cannot find this binary for the task command; pass -task-exe", "err", err)
			return 2
		}
	}
	// The first Ctrl-C stops the farm cleanly; a second one skips draining.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		s := <-sig
		log.Info("stopping on signal; press Ctrl-C again to skip draining", "signal", s.String())
		cancel()
		<-sig
		log.Warn("second signal: stopping without draining")
		forceStop.Store(true)
	}()
	sum, err := runFarm(ctx, cfg, stdout, log)
	fmt.Fprintln(stdout, sum)
	if err != nil {
		log.Error("farm failed", "err", err)
		return 1
	}
	if cfg.exitAfter && sum.load.Failed > 0 {
		return 1
	}
	return 0
}
