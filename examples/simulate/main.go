// Command simulate replays request traces through webfarm's scaling
// policies and the baselines they must beat, and prints what each cost and
// how well it served, next to an oracle that knows the future.
//
//	go run ./examples/simulate -trace ../shared/traces/nasa-http-1995-5m.csv -peak 5000 -startup 30s \
//		-heldout 1995-08-23 -minute
//
// With -heldout the trace is cut at that date (in the trace's own zone): the
// part before it is the training trace, the part from it the held-out
// trace, and -peak scales the training trace's busiest bucket (the same
// factor applies to every trace). With -minute two 1-minute traces are
// synthesised from the training trace before scaling (scaler/sim
// Trace.Split, seed -seed): "random 1m" spreads each 5-minute count over
// its minutes at random, "bursty 1m" in bursts, with the log-normal burst
// factor sim.Burstiness measures on the training trace; with -heldout as
// well, the same two syntheses of the held-out trace ("held-out random 1m",
// "held-out bursty 1m", with the training trace's σ). Each trace gets a
// table; a summary gives, per policy and trace, task-hours ÷ the oracle's
// and the share of requests over capacity.
//
// Every policy gets the same per-task capacity model: -capacity requests
// per second per ready task, tasks that serve -startup after launch, an
// observation every -poll (see package scaler/sim). The target-based
// policies aim at -target (90% of -capacity unless set). The rows:
//
//   - webfarm Budget: scaler.NewBudget with its defaults, -capacity and
//     -budget (0.5%).
//   - webfarm TargetTracking: scaler.NewTargetTracking with its defaults.
//   - HPA-equivalent: baseline.NewHPA with Kubernetes' defaults: 15 s sync on
//     the mean rate since the last sync, tolerance 0.1, 300 s scale-down
//     stabilization, scale-up at most 4 pods or 100% per 15 s.
//   - KPA-equivalent: baseline.NewKPA with Knative's defaults: 60 s stable and
//     6 s panic windows, panic at 2× ready, 2 s tick, scale-down at most 2×.
//   - marathon-lb-autoscale: baseline.NewMarathonLB with autoscale.rb's
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
	"text/tabwriter"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/baseline"
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

// namedTrace is one trace of the run.
type namedTrace struct {
	name string
	tr   sim.Trace
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flag := flag.NewFlagSet("simulate", flag.ContinueOnError)
	var (
		tracePath = flag.String("trace", "", "trace CSV (timestamp,request_count,…); required")
		peak      = flag.Float64("peak", 5000, "scale the (training) trace so its busiest bucket is this many requests per second")
		startup   = flag.Duration("startup", 30*time.Second, "time from task launch to serving")
		capacity  = flag.Float64("capacity", 100, "requests per second one ready task serves")
		target    = flag.Float64("target", 0, "target requests per second per task for the target-based policies (default 90% of -capacity)")
		budget    = flag.Float64("budget", scaler.DefaultBudget, "share of requests the Budget policy may let arrive over capacity")
		poll      = flag.Duration("poll", 2*time.Second, "time between policy decisions")
		minTasks  = flag.Int("min", 1, "minimum tasks for every policy and the oracle")
		maxTasks  = flag.Int("max", 1000, "maximum tasks for every policy and the oracle")
		days      = flag.Float64("days", 0, "replay only the first this many days of each trace (0: all)")
		heldout   = flag.String("heldout", "", "cut the trace at this date (2006-01-02, in the trace's zone): training before, held-out from")
		minute    = flag.Bool("minute", false, "also replay 1-minute traces synthesised from the training trace (random and bursty split)")
		seed      = flag.Uint64("seed", 1995, "seed of the 1-minute synthesis")
		doTune    = flag.Bool("tune", false, "replay the Budget policy's grid of settings on the training trace only (needs -heldout) and print it")
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
	raw, err := sim.LoadCSV(*tracePath)
	if err != nil {
		return err
	}
	train, held := raw, sim.Trace{}
	if *heldout != "" {
		at, err := time.ParseInLocation(time.DateOnly, *heldout, raw.Start.Location())
		if err != nil {
			return fmt.Errorf("-heldout %q: want a date such as 1995-08-23: %w", *heldout, err)
		}
		if train, held = raw.Cut(at); len(train.Rates) == 0 || len(held.Rates) == 0 {
			return fmt.Errorf("-heldout %s leaves no training or no held-out buckets", *heldout)
		}
	}
	if *peak <= 0 || train.Peak() == 0 {
		return fmt.Errorf("sim: peak %v must be > 0 and the training trace must have traffic", *peak)
	}
	factor := *peak / train.Peak()
	cfg := sim.Config{Capacity: *capacity, Startup: *startup, Poll: *poll, Min: *minTasks, Max: *maxTasks}
	if *doTune {
		if *heldout == "" {
			return errors.New("-tune needs -heldout: settings are chosen on the training trace only")
		}
		tr, err := train.Scale(factor)
		if err != nil {
			return err
		}
		if *days > 0 {
			tr = tr.Slice(0, int(*days*24*float64(time.Hour)/float64(tr.Step)))
		}
		fmt.Fprintf(stdout, "Budget settings on the training trace (%s to %s), budget %.3g%%\n", tr.Start.Format(time.DateOnly),
			tr.Start.Add(tr.Duration()-time.Second).Format(time.DateOnly), 100**budget)
		return tune(ctx, stdout, tr, cfg, *capacity, *budget)
	}
	name := "trace"
	if *heldout != "" {
		name = "training 5m"
	}
	traces := []namedTrace{{name, train}}
	if len(held.Rates) > 0 {
		traces = append(traces, namedTrace{"held-out 5m", held})
	}
	var sigma float64
	if *minute {
		if sigma, err = sim.Burstiness(train); err != nil {
			return err
		}
		parts := int(train.Step / time.Minute)
		rnd, err := train.Split(parts, 0, *seed)
		if err != nil {
			return err
		}
		bursty, err := train.Split(parts, sigma, *seed)
		if err != nil {
			return err
		}
		traces = append(traces, namedTrace{"random 1m", rnd}, namedTrace{"bursty 1m", bursty})
		if len(held.Rates) > 0 {
			// The same synthesis on the held-out days, with the σ of the
			// training trace: 1-minute traffic no setting has seen.
			hrnd, err := held.Split(parts, 0, *seed)
			if err != nil {
				return err
			}
			hbursty, err := held.Split(parts, sigma, *seed)
			if err != nil {
				return err
			}
			traces = append(traces, namedTrace{"held-out random 1m", hrnd}, namedTrace{"held-out bursty 1m", hbursty})
		}
	}
	policies := Policies(*target, *capacity, *budget, *startup, *minTasks, *maxTasks)
	fmt.Fprintf(stdout, "trace %s: busiest training bucket scaled to %.0f req/s (×%.4g for every trace)\n"+
		"capacity %.0f req/s per task, budget %.3g%%, target %.0f req/s per task for the target-based policies, startup %s, poll %s, min %d, max %d\n",
		*tracePath, *peak, factor, *capacity, 100**budget, *target, *startup, *poll, *minTasks, *maxTasks)
	if *minute {
		fmt.Fprintf(stdout, "1-minute traces from the training trace, seed %d; burst factor σ %.3f measured on the training trace\n", *seed, sigma)
	}
	start := time.Now()
	all := make([][]sim.Result, len(traces))
	for i, t := range traces {
		tr, err := t.tr.Scale(factor)
		if err != nil {
			return err
		}
		if *days > 0 {
			tr = tr.Slice(0, int(*days*24*float64(time.Hour)/float64(tr.Step)))
		}
		res, err := sim.Compare(ctx, tr, cfg, policies)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		all[i] = res
		end := tr.Start.Add(tr.Duration() - time.Second)
		fmt.Fprintf(stdout, "\n%s: %d buckets of %s, %s to %s (busiest %.0f req/s)\n",
			t.name, len(tr.Rates), tr.Step, tr.Start.Format(time.DateOnly), end.Format(time.DateOnly), tr.Peak())
		if err := sim.WriteTable(stdout, res); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, "\nsummary: task-hours ÷ oracle, and % of requests over capacity")
	if err := writeSummary(stdout, traces, all); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nsimulated in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// writeSummary writes one row per policy: for each trace, task-seconds
// over the oracle's and the share of requests over capacity.
func writeSummary(w io.Writer, traces []namedTrace, all [][]sim.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "policy\t")
	for _, t := range traces {
		fmt.Fprintf(tw, "%s ×oracle\tover %%\t", t.name)
	}
	fmt.Fprintln(tw)
	for p := range len(all[0]) - 1 { // the last row is the oracle
		fmt.Fprintf(tw, "%s\t", all[0][p].Name)
		for i := range traces {
			r, o := all[i][p], all[i][len(all[i])-1]
			fmt.Fprintf(tw, "%.3f\t%.3f%%\t", r.TaskSeconds/o.TaskSeconds, r.OverPercent())
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// Policies returns webfarm's policies and the baselines, all with the same
// bounds: Budget with capacity, budget and startup, the others with target.
func Policies(target, capacity, budget float64, startup time.Duration, lo, hi int) []sim.Policy {
	return []sim.Policy{
		{Name: "webfarm Budget", New: func() (scaler.Policy, error) {
			return scaler.NewBudget(scaler.BudgetConfig{Capacity: capacity, Budget: budget, Startup: startup, Min: lo, Max: hi})
		}},
		{Name: "webfarm TargetTracking", New: func() (scaler.Policy, error) {
			return scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: target, Min: lo, Max: hi})
		}},
		{Name: "HPA-equivalent", New: func() (scaler.Policy, error) {
			return baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: target, Min: lo, Max: hi})
		}},
		{Name: "KPA-equivalent", New: func() (scaler.Policy, error) {
			return baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: target, Min: lo, Max: hi})
		}},
		{Name: "marathon-lb-autoscale", New: func() (scaler.Policy, error) {
			return baseline.NewMarathonLB(baseline.MarathonLBConfig{RequestsPerTask: target, Min: lo, Max: hi})
		}},
	}
}
