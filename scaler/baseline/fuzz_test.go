package baseline_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/baseline"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

// fuzzPolicies builds one of each policy with the given bounds.
func fuzzPolicies(t *testing.T, lo, hi int) map[string]scaler.Policy {
	t.Helper()
	must := func(s scaler.Policy, err error) scaler.Policy {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return map[string]scaler.Policy{
		"targettracking": must(scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 100, Min: lo, Max: hi,
			UpLimit: scaler.RateLimit{Tasks: 3, Percent: 50, Period: 10 * time.Second},
			Signals: []scaler.Signal{{Name: "cpu", ValuePerTask: 0.6, PerTask: true}, {Name: scaler.SignalQueued, ValuePerTask: 5}}})),
		"targettracking defaults": must(scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 0.001, Min: lo, Max: hi})),
		"step": must(scaler.NewStep(scaler.StepConfig{Min: lo, Max: hi, For: 3 * time.Second,
			Up: []scaler.StepRule{{Threshold: 25, Tasks: 1}, {Threshold: 50, Percent: 1e6}}, Down: []scaler.StepRule{{Threshold: 5, Percent: 90}}})),
		"hpa": must(baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: 100, Min: lo, Max: hi})),
		"kpa": must(baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 100, Min: lo, Max: hi})),
		"budget": must(scaler.NewBudget(scaler.BudgetConfig{Capacity: 100, Min: lo, Max: hi, Levels: []time.Duration{0, 4 * time.Second},
			VolatilityWindow: time.Minute, Hindsight: time.Minute, Warmup: 10 * time.Second, DownDelay: -1,
			Floors: []scaler.Floor{{Tasks: hi, From: 11 * time.Hour, To: 13 * time.Hour}, {Tasks: lo + (hi-lo)/2, Start: policytest.T0, End: policytest.T0.Add(time.Minute)}}})),
		"budget defaults": must(scaler.NewBudget(scaler.BudgetConfig{Capacity: 0.001, Min: lo, Max: hi})),
		"marathon-lb":     must(baseline.NewMarathonLB(baseline.MarathonLBConfig{RequestsPerTask: 100, Min: lo, Max: hi, Interval: time.Second, Samples: 2, Cooldown: 1, IntervalsPastThreshold: 1})),
	}
}

// FuzzPolicies checks that no policy panics or leaves [Min, Max] on any
// input: NaN, ±Inf, negative and huge rates and gauges, negative and huge
// counts, clocks that step back, observations from the future.
func FuzzPolicies(f *testing.F) {
	inf, nan := math.Inf(1), math.NaN()
	f.Add(450.0, 10, 0, 4, 4, 0, int64(2000), 0.5, 1, 10, uint8(0))
	f.Add(nan, -1, -5, -3, -2, -1, int64(-5000), nan, 0, 0, uint8(1))
	f.Add(inf, math.MaxInt, math.MinInt, math.MaxInt, math.MaxInt, math.MaxInt, int64(math.MaxInt64), inf, 0, 1000, uint8(2))
	f.Add(-inf, 0, 0, 0, 0, 0, int64(0), -inf, 3, 3, uint8(3))
	f.Add(1e308, 1<<40, 1<<40, 1<<29, 1<<29, 1<<29, int64(1), 1e308, 5, 1<<30, uint8(4))
	f.Add(-1e-300, 3, 3, 1, 0, 1, int64(math.MinInt64), math.Copysign(0, -1), 0, 1, uint8(255))
	f.Add(5e-324, 0, 1, 0, 0, 0, int64(86400e9), 1e-9, 0, 2, uint8(7))
	f.Fuzz(func(t *testing.T, rps float64, active, queued, cur, ready, starting int, stepNanos int64, cpu float64, lo, hi int, mode uint8) {
		lo = max(0, lo%100)
		hi = lo + 1 + max(0, hi%1000) // Max 0 would mean the default, 1000
		now := policytest.T0
		for name, p := range fuzzPolicies(t, lo, hi) {
			c := cur
			for i := range 40 {
				now = now.Add(time.Duration(stepNanos))
				obs := &scaler.Observation{At: now, RPS: rps * float64(i%5), Active: active, Queued: queued,
					Signals: map[string]float64{"cpu": cpu}}
				switch (int(mode) + i) % 6 {
				case 1:
					obs = nil
				case 2:
					obs.At = now.Add(-time.Duration(stepNanos) * 20)
				case 3:
					obs.Signals = nil
				case 4:
					obs.RPS = rps
				}
				in := scaler.Input{Now: now, Current: c, Ready: ready, Starting: starting, Obs: obs}
				if mode&8 != 0 {
					in.Degraded = errTest
				}
				d := p.Decide(in)
				if d.Count < lo || d.Count > hi {
					t.Fatalf("%s: Decide(%+v) = %v, outside [%d, %d]", name, in, d, lo, hi)
				}
				if d.Reason == "" {
					t.Fatalf("%s: Decide(%+v) gave no reason", name, in)
				}
				// No data and a degraded input never scale down the
				// policies that document it.
				if held := clamp(c, lo, hi); d.Count < held && holds(name) && (obs == nil || in.Degraded != nil) {
					t.Fatalf("%s: Decide(%+v) = %v: scaled down below %d without data or on a degraded input", name, in, d, held)
				}
				if mode&16 == 0 {
					c = d.Count
				}
			}
		}
	})
}

// holds reports whether the policy named so promises never to scale down
// without data or on a degraded input (the baselines follow their
// originals instead).
func holds(name string) bool {
	return strings.HasPrefix(name, "targettracking") || strings.HasPrefix(name, "budget") || name == "step"
}

func clamp(n, lo, hi int) int { return max(lo, min(n, hi)) }

var errTest = errorString("test source failed")

type errorString string

func (e errorString) Error() string { return string(e) }
