// Command custom-driver shows a balancer that is not built into webfarm
// driving the scaler: package proxy (beside this file) is a small
// in-process HTTP reverse proxy written the way a third party would write a
// driver, and it passes webfarm's conformance suite (lbtest.Run).
//
// The command runs a whole farm in one process, without Mesos: the proxy on
// 127.0.0.1, web servers started and stopped in-process as "tasks" by a
// tiny scaler.Runner, the scaler's TargetTracking policy, and a bounded
// load that rises and falls so the farm scales up and back down:
//
//	go run ./examples/custom-driver                 # about 40 s
//	go run ./examples/custom-driver -duration 20s -peak 300
//
// It prints one line per decision and per pool change, and a summary.
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
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/webfarm/webfarm/examples/custom-driver/load"
	"github.com/webfarm/webfarm/examples/custom-driver/proxy"
	"github.com/webfarm/webfarm/scaler"
)

// options are the command's flags.
type options struct {
	duration time.Duration
	peak     float64
	target   float64
	min, max int
	interval time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("custom-driver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.DurationVar(&o.duration, "duration", 40*time.Second, "length of the load (10s–10m)")
	fs.Float64Var(&o.peak, "peak", 400, "peak request rate of the load, requests/s")
	fs.Float64Var(&o.target, "target", 50, "requests/s per task the policy aims for")
	fs.IntVar(&o.min, "min", 1, "fewest tasks")
	fs.IntVar(&o.max, "max", 10, "most tasks")
	fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "controller poll interval")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.duration < 10*time.Second || o.duration > 10*time.Minute:
		return o, fmt.Errorf("-duration %s: want 10s–10m", o.duration)
	case !(o.peak > 0) || math.IsInf(o.peak, 0):
		return o, fmt.Errorf("-peak %v: want a positive rate", o.peak)
	case !(o.target > 0) || math.IsInf(o.target, 0):
		return o, fmt.Errorf("-target %v: want a positive rate", o.target)
	case o.min < 1 || o.max < o.min:
		return o, fmt.Errorf("-min %d -max %d: want 1 ≤ min ≤ max", o.min, o.max)
	case o.interval < 100*time.Millisecond || o.interval > time.Minute:
		return o, fmt.Errorf("-interval %s: want 100ms–1m", o.interval)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err != nil {
		log.Error("bad flags", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, o, log)
	if err != nil {
		log.Error("farm failed", "err", err)
		os.Exit(1)
	}
	fmt.Println(sum)
	if sum.load.Failed > 0 {
		os.Exit(1)
	}
}

// summary is what a run did.
type summary struct {
	load          load.Result
	maxTasks      int
	finalTasks    int
	ups, downs    int
	poolChanges   int
	lastReason    string
	balancerStats string
}

func (s summary) String() string {
	return fmt.Sprintf("load: %s\ntasks: peak %d, final %d; decisions: %d up, %d down; pool changes: %d\nlast reason: %s\n%s",
		s.load, s.maxTasks, s.finalTasks, s.ups, s.downs, s.poolChanges, s.lastReason, s.balancerStats)
}

// run serves the proxy, runs the controller and the load, and returns when
// the load has ended and the farm has settled back, or ctx is done.
func run(ctx context.Context, o options, log *slog.Logger) (summary, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bal, err := proxy.New(ctx, proxy.Config{Logger: log})
	if err != nil {
		return summary{}, err
	}
	defer bal.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return summary{}, fmt.Errorf("listen: %w", err)
	}
	front := &http.Server{Handler: bal, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = front.Serve(ln) }()
	defer front.Close()
	url := "http://" + ln.Addr().String() + "/"
	log.Info("proxy listening", "url", url)

	tasks := newLocalTasks(bal, log)
	defer tasks.stopAll()
	if err := tasks.SetDesired(ctx, o.min); err != nil {
		return summary{}, err
	}
	policy, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
		RequestsPerTask: o.target, Min: o.min, Max: o.max,
		StableWindow: 6 * time.Second, PanicWindow: 2 * time.Second, DownStabilization: 4 * time.Second,
		DownLimit: scaler.RateLimit{Percent: 100}, // no limit: the short run should visibly give tasks back
	})
	if err != nil {
		return summary{}, err
	}
	var sum summary
	var mu sync.Mutex // guards sum while the controller runs
	ctl := &scaler.Controller{Balancer: bal, Policy: policy, Runner: tasks, Interval: o.interval, Logger: log,
		OnDecision: func(r scaler.Report) {
			mu.Lock()
			defer mu.Unlock()
			sum.lastReason = r.Reason
			switch r.Direction() {
			case scaler.Up:
				sum.ups++
			case scaler.Down:
				sum.downs++
			}
		}}
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); _ = ctl.Run(ctx) }()
	defer func() { cancel(); <-ctlDone }()

	// Load: up to the peak at 30 % of the run, back to a trickle at 50 %,
	// which lasts the second half so the farm has time to shrink.
	d := o.duration
	rate := func(e time.Duration) float64 {
		f := float64(e) / float64(d)
		switch {
		case f < 0.3:
			return o.peak * (0.1 + 0.9*f/0.3)
		case f < 0.5:
			return o.peak * (1 - 0.9*(f-0.3)/0.2)
		}
		return o.peak * 0.1
	}
	gen := load.Start(ctx, load.Config{URL: url, Workers: 64, Rate: rate, Duration: d})
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-gen.Done():
			done = true
		case <-ctx.Done():
			done = true
		case <-tick.C:
			mu.Lock()
			sum.maxTasks = max(sum.maxTasks, tasks.running())
			mu.Unlock()
		}
	}
	res, err := gen.Wait()
	interrupted := ctx.Err() != nil
	cancel() // stop the controller before reading what it recorded
	<-ctlDone
	sum.load = res
	if err != nil && !interrupted {
		return sum, fmt.Errorf("load: %w", err)
	}
	sum.finalTasks = tasks.running()
	sum.poolChanges = tasks.changes()
	if s, err := bal.Stats(context.Background()); err == nil {
		sum.balancerStats = fmt.Sprintf("proxy: %d requests accepted, %d backends in the pool", s.Requests, len(s.Backends))
	}
	return sum, nil
}
