package sim_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/sim"
)

// BenchmarkNASA replays the whole NASA trace (62 days, peak 5,000 req/s,
// 30 s start-up) through each policy, as `make simulate` does, and reports
// each one's task-seconds over the oracle's and its share of requests over
// capacity. It needs WEBFARM_BENCH=1 (`make bench`).
func BenchmarkNASA(b *testing.B) {
	if os.Getenv("WEBFARM_BENCH") == "" {
		b.Skip("set WEBFARM_BENCH=1 (make bench) to replay the full trace")
	}
	tr, err := sim.LoadCSV(nasaTrace)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Need(b, "the NASA trace "+nasaTrace, "it lives in ../shared/traces beside the clone")
	}
	if err != nil {
		b.Fatal(err)
	}
	if tr, err = tr.ScaleToPeak(5000); err != nil {
		b.Fatal(err)
	}
	cfg := sim.Config{Capacity: 100, Startup: 30 * time.Second, Min: 1, Max: 1000}
	orc, err := sim.Oracle(context.Background(), tr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range policies(90) {
		b.Run(p.Name, func(b *testing.B) {
			var r sim.Result
			for b.Loop() {
				s, err := p.New()
				if err != nil {
					b.Fatal(err)
				}
				if r, err = sim.Run(context.Background(), tr, s, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*(r.TaskSeconds/orc.TaskSeconds-1), "%over-oracle")
			b.ReportMetric(r.OverPercent(), "%req-over")
			b.ReportMetric(float64(r.Actions), "actions")
		})
	}
}

// BenchmarkTargetTrackingDecide is the cost of one decision of the default
// policy in steady state (the controller makes one every 2 s).
func BenchmarkTargetTrackingDecide(b *testing.B) {
	p, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 100, Min: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, p)
}

// BenchmarkBudgetDecide is the cost of one decision of the Budget policy
// with its defaults in steady state.
func BenchmarkBudgetDecide(b *testing.B) {
	p, err := scaler.NewBudget(scaler.BudgetConfig{Capacity: 100, Min: 1})
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, p)
}

// benchDecide feeds p a poll every 2 s of 900–1,100 req/s.
func benchDecide(b *testing.B, p scaler.Policy) {
	now := time.Unix(0, 0)
	cur := 10
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(2 * time.Second)
		d := p.Decide(scaler.Input{Now: now, Current: cur, Ready: cur, Obs: &scaler.Observation{At: now, RPS: float64(900 + i%200)}})
		cur = d.Count
	}
}
