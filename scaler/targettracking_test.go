package scaler_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

func mustTT(t *testing.T, c scaler.TargetTrackingConfig) *scaler.TargetTracking {
	t.Helper()
	p, err := scaler.NewTargetTracking(c)
	if err != nil {
		t.Fatalf("NewTargetTracking(%+v) = %v", c, err)
	}
	return p
}

// calm turns off the parts that hold capacity back, so a test sees one rule.
var calm = scaler.TargetTrackingConfig{DownStabilization: -1, DownLimit: scaler.RateLimit{Percent: 100}, Tolerance: -1}

// with returns c changed by f.
func with[C any](c C, f func(*C)) C {
	f(&c)
	return c
}

func TestTargetTrackingConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  scaler.TargetTrackingConfig
		want string
	}{
		{"no target", scaler.TargetTrackingConfig{}, "neither RequestsPerTask nor Signals"},
		{"NaN target", scaler.TargetTrackingConfig{RequestsPerTask: math.NaN()}, "RequestsPerTask NaN"},
		{"negative target", scaler.TargetTrackingConfig{RequestsPerTask: -1}, "RequestsPerTask -1"},
		{"infinite target", scaler.TargetTrackingConfig{RequestsPerTask: math.Inf(1)}, "RequestsPerTask +Inf"},
		{"negative min", scaler.TargetTrackingConfig{RequestsPerTask: 1, Min: -1}, "Min -1"},
		{"max below min", scaler.TargetTrackingConfig{RequestsPerTask: 1, Min: 5, Max: 3}, "Max 3 is below Min 5"},
		{"panic window longer", scaler.TargetTrackingConfig{RequestsPerTask: 1, PanicWindow: 2 * time.Minute}, "PanicWindow 2m0s is longer"},
		{"negative stable window", scaler.TargetTrackingConfig{RequestsPerTask: 1, StableWindow: -time.Second}, "StableWindow -1s"},
		{"panic threshold below 1", scaler.TargetTrackingConfig{RequestsPerTask: 1, PanicThreshold: 0.5}, "PanicThreshold 0.5"},
		{"tolerance 1.5", scaler.TargetTrackingConfig{RequestsPerTask: 1, Tolerance: 1.5}, "Tolerance 1.5"},
		{"tolerance NaN", scaler.TargetTrackingConfig{RequestsPerTask: 1, Tolerance: math.NaN()}, "Tolerance NaN"},
		{"signal without name", scaler.TargetTrackingConfig{Signals: []scaler.Signal{{ValuePerTask: 1}}}, "signal with no name"},
		{"signal target 0", scaler.TargetTrackingConfig{Signals: []scaler.Signal{{Name: "cpu"}}}, `signal "cpu": ValuePerTask 0`},
		{"signal twice", scaler.TargetTrackingConfig{RequestsPerTask: 1, Signals: []scaler.Signal{{Name: "rps", ValuePerTask: 2}}}, `signal "rps" given twice`},
		{"up limit negative", scaler.TargetTrackingConfig{RequestsPerTask: 1, UpLimit: scaler.RateLimit{Tasks: -1}}, "UpLimit.Tasks -1"},
		{"down limit NaN", scaler.TargetTrackingConfig{RequestsPerTask: 1, DownLimit: scaler.RateLimit{Percent: math.NaN()}}, "DownLimit.Percent NaN"},
		{"down limit with a period only", scaler.TargetTrackingConfig{RequestsPerTask: 1, DownLimit: scaler.RateLimit{Period: time.Minute}}, "DownLimit.Period 1m0s is set but neither Tasks nor Percent"},
		{"up limit with a period only", scaler.TargetTrackingConfig{RequestsPerTask: 1, UpLimit: scaler.RateLimit{Period: time.Second}}, "UpLimit.Period 1s is set but neither"},
		{"max too large", scaler.TargetTrackingConfig{RequestsPerTask: 1, Max: math.MaxInt}, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := scaler.NewTargetTracking(tc.cfg)
			if !errors.Is(err, scaler.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTargetTracking = %v, %v; want ErrInvalid mentioning %q", p, err, tc.want)
			}
		})
	}
}

func TestTargetTrackingDefaults(t *testing.T) {
	c := mustTT(t, scaler.TargetTrackingConfig{RequestsPerTask: 1}).Config()
	want := scaler.TargetTrackingConfig{RequestsPerTask: 1, Max: 1000, StableWindow: 60 * time.Second, PanicWindow: 6 * time.Second,
		PanicThreshold: 2, Tolerance: 0.1, DownStabilization: 4 * time.Minute, DownLimit: scaler.DefaultDownLimit, MaxAge: 30 * time.Second}
	if c.RequestsPerTask != want.RequestsPerTask || c.Max != want.Max || c.StableWindow != want.StableWindow || c.PanicWindow != want.PanicWindow ||
		c.PanicThreshold != want.PanicThreshold || c.Tolerance != want.Tolerance || c.DownStabilization != want.DownStabilization ||
		c.DownLimit != want.DownLimit || c.MaxAge != want.MaxAge || c.UpLimit != (scaler.RateLimit{}) {
		t.Errorf("defaults = %+v, want %+v", c, want)
	}
}

func TestTargetTrackingRules(t *testing.T) {
	tests := []struct {
		name string
		cfg  scaler.TargetTrackingConfig
		run  func(x *policytest.Timeline)
	}{
		{"reason a human reads", scaler.TargetTrackingConfig{RequestsPerTask: 150}, func(x *policytest.Timeline) {
			x.Poll(812)
			x.Expect("812 rps over 4", 6, "rps 812 (1m0s avg) over 4 ready tasks, target 150/task → 6")
		}},
		{"steady rate gives ceil(rps/target)", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100 }), func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 450)
			x.Expect("450 rps", 5, "→ 5")
		}},
		{"no data holds", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(scaler.Input{Now: x.Now, Current: 4, Ready: 4, NoData: errors.New("socket gone")}))
			x.Expect("stats failed", 4, "no data (socket gone): hold at 4")
		}},
		{"stale sample holds", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			in := x.Input(&scaler.Observation{At: x.Now.Add(-31 * time.Second), RPS: 10000})
			x.Apply(x.P.Decide(in))
			x.Expect("31 s old", 4, "31s old, over MaxAge 30s: hold at 4")
		}},
		{"older sample than the last holds", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Poll(400)
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now.Add(-5 * time.Second), RPS: 10000})))
			x.Expect("out of order", 4, "older than the previous one")
		}},
		{"burst panics and scales up within a poll", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 400)
			x.Poll(1600)
			x.Expect("first poll of a 4× burst", 8, "panic: 6s window needs 8, ≥ 2× 4 ready")
			x.Feed(4*time.Second, 1600)
			x.Expect("a panic window into the burst", 16, "rps 1600 (6s avg)")
		}},
		{"never scales down while panicking", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100 }), func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 200)
			x.Feed(6*time.Second, 1000)
			x.Expect("burst", 10, "")
			x.Feed(40*time.Second, 200)
			x.Expect("calm again, still panicking", 10, "no scale-down while panicking")
			x.Feed(30*time.Second, 200)
			if x.Cur >= 10 {
				x.T.Fatalf("a stable window after the burst: count %d, want below 10 (%s)", x.Cur, x.Last)
			}
		}},
		{"scales up on the short window below the panic threshold", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100 }), func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 1000)
			x.Feed(6*time.Second, 1500)
			x.Expect("1.5× step", 15, "rps 1500 (6s avg)")
		}},
		{"tolerance band holds", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(2*time.Minute, 1050)
			x.Expect("need 10.5 of 10", 10, "within ±10% of target")
			x.Feed(10*time.Second, 1150)
			x.Expect("need 11.5", 12, "→ 12")
		}},
		{"down stabilization keeps the largest recommendation", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100; c.DownStabilization = 4 * time.Minute }), func(x *policytest.Timeline) {
			x.Feed(5*time.Minute, 1000)
			x.Feed(3*time.Minute, 500)
			x.Expect("3 min into the dip", 10, "largest recommendation of the last 4m0s is 10")
			x.Feed(3*time.Minute, 500)
			x.Expect("6 min into the dip", 5, "→ 5")
		}},
		{"down limit 10% per minute", with(calm, func(c *scaler.TargetTrackingConfig) {
			c.RequestsPerTask = 100
			c.DownLimit = scaler.DefaultDownLimit
			c.StableWindow, c.PanicWindow = 6*time.Second, 2*time.Second
		}), func(x *policytest.Timeline) {
			x.Cur = 20
			x.Feed(2*time.Minute, 2000)
			x.Feed(8*time.Second, 500)
			x.Expect("first step down", 18, "down limit 0 tasks or 10% per 1m0s")
			x.Feed(30*time.Second, 500)
			x.Expect("same minute", 18, "down limit")
			x.Feed(40*time.Second, 500)
			x.Expect("next minute", 16, "down limit")
		}},
		{"up limit", with(calm, func(c *scaler.TargetTrackingConfig) {
			c.RequestsPerTask = 100
			c.UpLimit = scaler.RateLimit{Tasks: 2, Period: time.Minute}
		}), func(x *policytest.Timeline) {
			x.Cur = 2
			x.Feed(2*time.Minute, 200)
			x.Poll(1000)
			x.Expect("first step up", 4, "up limit 2 tasks or 0% per 1m0s")
			x.Feed(30*time.Second, 1000)
			x.Expect("same minute", 4, "up limit")
			x.Feed(32*time.Second, 1000)
			x.Expect("next minute", 6, "up limit")
		}},
		{"no scale-down before a full stable window", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100; c.Min = 1 }), func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(58*time.Second, 100)
			x.Expect("58 s of samples", 10, "no scale-down before a full 1m0s window")
			x.Feed(4*time.Second, 100)
			x.Expect("a full window", 1, "→ 1")
		}},
		{"no scale-down before a full stable window after a gap in the data", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100; c.Min = 1 }), func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(2*time.Minute, 1000)
			x.Now = x.Now.Add(2 * time.Minute)
			x.Feed(30*time.Second, 100)
			x.Expect("30 s after the gap", 10, "no scale-down before a full 1m0s window")
			x.Feed(32*time.Second, 100)
			x.Expect("a full window after the gap", 1, "→ 1")
		}},
		{"scale from zero on the first request", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100 }), func(x *policytest.Timeline) {
			x.Cur = 0
			x.Poll(0)
			x.Expect("no traffic", 0, "→ 0")
			x.Poll(3)
			x.Expect("first request", 1, "over 0 ready tasks")
		}},
		{"starting tasks are not in the per-task rate", with(calm, func(c *scaler.TargetTrackingConfig) {
			c.RequestsPerTask = 100
			c.Signals = []scaler.Signal{{Name: "cpu", ValuePerTask: 0.5, PerTask: true}}
		}), func(x *policytest.Timeline) {
			x.Cur, x.Ready, x.Starting = 8, 4, 4
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now, RPS: 300, Signals: map[string]float64{"cpu": 0.9}})))
			x.Expect("cpu 0.9 on 4 ready", 8, "cpu 0.9 (1m0s avg) over 4 ready + 4 starting tasks, target 0.5/task → 8")
		}},
		{"largest signal wins", with(calm, func(c *scaler.TargetTrackingConfig) {
			c.RequestsPerTask = 100
			c.Signals = []scaler.Signal{{Name: scaler.SignalActive, ValuePerTask: 10}, {Name: scaler.SignalQueued, ValuePerTask: 5}}
		}), func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now, RPS: 200, Active: 50, Queued: 10})))
			x.Expect("active asks most", 5, "active 50 (1m0s avg)")
		}},
		{"a missing signal never scales down", with(calm, func(c *scaler.TargetTrackingConfig) {
			c.RequestsPerTask = 100
			c.Signals = []scaler.Signal{{Name: "cpu", ValuePerTask: 0.5, PerTask: true}}
		}), func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(2*time.Minute, 100)
			x.Expect("no cpu figure", 10, "signal missing (cpu); no scale-down")
		}},
		{"a degraded input never scales down", with(calm, func(c *scaler.TargetTrackingConfig) { c.RequestsPerTask = 100 }), func(x *policytest.Timeline) {
			x.Cur = 10
			for range 60 {
				x.Now = x.Now.Add(2 * time.Second)
				in := x.Input(&scaler.Observation{At: x.Now, RPS: 100})
				in.Degraded = errors.New("cpu source down")
				x.Apply(x.P.Decide(in))
			}
			x.Expect("source down", 10, "degraded input (cpu source down); no scale-down")
		}},
		{"capped at Max", scaler.TargetTrackingConfig{RequestsPerTask: 100, Max: 5}, func(x *policytest.Timeline) {
			x.Poll(100000)
			x.Expect("huge burst", 5, "[capped at Max 5]")
		}},
		{"hold outside the bounds returns to them", scaler.TargetTrackingConfig{RequestsPerTask: 100, Min: 2, Max: 5}, func(x *policytest.Timeline) {
			x.Cur = 9
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(scaler.Input{Now: x.Now, Current: 9}))
			x.Expect("no data at 9", 5, "hold at 5 [capped at Max 5]")
		}},
		{"NaN rate holds", scaler.TargetTrackingConfig{RequestsPerTask: 100}, func(x *policytest.Timeline) {
			x.Poll(math.NaN())
			x.Expect("NaN", 4, "no usable signal (rps=NaN)")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(newTimeline(t, mustTT(t, tc.cfg), 4))
		})
	}
}

func TestTargetTrackingUnconfigured(t *testing.T) {
	var p scaler.TargetTracking
	d := p.Decide(scaler.Input{Now: t0, Current: 3, Obs: &scaler.Observation{At: t0, RPS: 1e9}})
	if d.Count != 3 || !strings.Contains(d.Reason, "not configured") {
		t.Errorf("zero TargetTracking decided %v, want a hold at 3", d)
	}
}
