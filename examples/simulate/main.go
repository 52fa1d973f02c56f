// Command simulate replays a request trace through webfarm's scaling
// policy and the baselines it must beat, and prints what each cost and how
// well it served, next to an oracle that knows the future.
//
//	go run ./examples/simulate -trace ../shared/traces/nasa-http-1995-5m.csv -peak 5000 -startup 30s
//
// Every policy gets the same per-task target (-target, requests per second
// per task; 90% of -capacity unless set) and the same model: -capacity
// requests per second per ready task, tasks that serve -startup after
// launch, an observation every -poll (see package scaler/sim). The rows:
//
//   - webfarm TargetTracking: scaler.NewTargetTracking with its defaults.
//   - HPA-equivalent: scaler.NewHPA with Kubernetes' defaults: 15 s sync on
//     the mean rate since the last sync, tolerance 0.1, 300 s scale-down
//     stabilization, scale-up at most 4 pods or 100% per 15 s.
//   - KPA-equivalent: scaler.NewKPA with Knative's defaults: 60 s stable and
//     6 s panic windows, panic at 2× ready, 2 s tick, scale-down at most 2×.
//   - marathon-lb-autoscale: scaler.NewMarathonLB with autoscale.rb's
//     defaults: a sample a minute, 10-sample average, ±50% or 3 instances,
//     3 intervals past threshold, 5 + 10 intervals of cooldown.
//   - oracle: knows the future; the least task-seconds with nothing over
//     capacity.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flag := flag.NewFlagSet("simulate", flag.ContinueOnError)
	var (
		tracePath = flag.String("trace", "", "trace CSV (timestamp,request_count,…); required")
		peak      = flag.Float64("peak", 5000, "scale the trace so its busiest bucket is this many requests per second")
		startup   = flag.Duration("startup", 30*time.Second, "time from task launch to serving")
		capacity  = flag.Float64("capacity", 100, "requests per second one ready task serves")
		target    = flag.Float64("target", 0, "target requests per second per task for every policy (default 90% of -capacity)")
		poll      = flag.Duration("poll", 2*time.Second, "time between policy decisions")
		minTasks  = flag.Int("min", 1, "minimum tasks for every policy and the oracle")
		maxTasks  = flag.Int("max", 1000, "maximum tasks for every policy and the oracle")
		days      = flag.Float64("days", 0, "replay only the first this many days (0: all)")
	)
	if err := flag.Parse(args); err != nil {
		return err
	}
	if *tracePath == "" {
		flag.Usage()
		return errors.New("-trace is required")
	}
	if *capacity <= 0 || *target < 0 || *days < 0 {
		return fmt.Errorf("-capacity %v must be > 0, -target %v and -days %v ≥ 0", *capacity, *target, *days)
	}
	if *target == 0 {
		*target = 0.9 * *capacity
	}
	tr, err := sim.LoadCSV(*tracePath)
	if err != nil {
		return err
	}
	if tr, err = tr.ScaleToPeak(*peak); err != nil {
		return err
	}
	if *days > 0 {
		tr = tr.Slice(0, int(*days*24*float64(time.Hour)/float64(tr.Step)))
	}
	cfg := sim.Config{Capacity: *capacity, Startup: *startup, Poll: *poll, Min: *minTasks, Max: *maxTasks}
	policies := Policies(*target, *minTasks, *maxTasks)
	start := time.Now()
	res, err := sim.Compare(ctx, tr, cfg, policies)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trace %s scaled to a %.0f req/s peak: %d buckets of %s from %s (busiest here %.0f req/s)\n"+
		"capacity %.0f req/s per task, target %.0f req/s per task for every policy, startup %s, poll %s, min %d, max %d\n\n",
		*tracePath, *peak, len(tr.Rates), tr.Step, tr.Start.Format(time.DateOnly), tr.Peak(), *capacity, *target, *startup, *poll, *minTasks, *maxTasks)
	if err := sim.WriteTable(stdout, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nsimulated in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// Policies returns webfarm's default policy and the baselines, all with
// the same target and bounds.
func Policies(target float64, lo, hi int) []sim.Policy {
	return []sim.Policy{
		{Name: "webfarm TargetTracking", New: func() (scaler.Scaler, error) {
			return scaler.NewTargetTracking(scaler.TargetTrackingConfig{Target: target, Min: lo, Max: hi})
		}},
		{Name: "HPA-equivalent", New: func() (scaler.Scaler, error) {
			return scaler.NewHPA(scaler.HPAConfig{Target: target, Min: lo, Max: hi})
		}},
		{Name: "KPA-equivalent", New: func() (scaler.Scaler, error) {
			return scaler.NewKPA(scaler.KPAConfig{Target: target, Min: lo, Max: hi})
		}},
		{Name: "marathon-lb-autoscale", New: func() (scaler.Scaler, error) {
			return scaler.NewMarathonLB(scaler.MarathonLBConfig{TargetRPS: target, Min: lo, Max: hi})
		}},
	}
}
