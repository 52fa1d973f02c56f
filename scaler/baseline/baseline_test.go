package baseline_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/baseline"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

func TestHPA(t *testing.T) {
	newHPA := func(t *testing.T) scaler.Policy {
		p, err := baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: 100, Min: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		run  func(x *policytest.Timeline)
	}{
		{"ceil(current × ratio), up limited to 4 pods or 100%", func(x *policytest.Timeline) {
			x.Poll(1000)
			x.Expect("ratio 2.5 on 4", 8, "usage ratio 2.50 over 4 pods → 8")
			x.Feed(16*time.Second, 1000)
			x.Expect("next sync, ratio 1.25 on 8", 10, "usage ratio 1.25 over 8 pods → 10")
		}},
		{"holds between syncs", func(x *policytest.Timeline) {
			x.Poll(400)
			x.Poll(5000)
			x.Expect("2 s after a sync", 4, "next sync at")
		}},
		{"tolerance 0.1", func(x *policytest.Timeline) {
			x.Cur = 10
			x.Poll(1080)
			x.Expect("ratio 1.08", 10, "within tolerance")
		}},
		{"missing pods that flip the direction hold", func(x *policytest.Timeline) {
			x.Cur, x.Ready, x.Starting = 8, 4, 4
			x.Poll(600)
			x.Expect("1.5 on ready, 0.75 on all", 8, "flip the direction")
		}},
		{"scale-down stabilization 300 s", func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(5*time.Minute, 1000)
			x.Feed(4*time.Minute, 500)
			x.Expect("4 min into the dip", 10, "→ 10")
			x.Feed(90*time.Second, 500)
			x.Expect("5.5 min into the dip", 5, "→ 5")
		}},
		{"no metrics since the last sync hold", func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(scaler.Input{Now: x.Now, Current: 4, Ready: 4, NoData: errors.New("down")}))
			x.Expect("no data", 4, "no metrics")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(policytest.New(t, newHPA(t), 4)) })
	}
}

func TestKPA(t *testing.T) {
	newKPA := func(t *testing.T) scaler.Policy {
		p, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 100, Min: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		run  func(x *policytest.Timeline)
	}{
		{"stable mode: ceil(stable avg / target)", func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 450)
			x.Expect("450 rps", 5, "stable mode")
		}},
		{"panics at 2× ready and never scales down in panic", func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 400)
			x.Feed(6*time.Second, 1600)
			x.Expect("4× burst", 16, "panic mode")
			x.Feed(50*time.Second, 400)
			x.Expect("calm, still in panic", 16, "panic mode")
		}},
		{"leaves panic a stable window later, down at most 2× per tick", func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 400)
			x.Feed(6*time.Second, 1600)
			for i := 0; strings.Contains(x.Poll(400).Reason, "panic mode"); i++ {
				if i > 40 {
					x.T.Fatalf("still in panic 80 s after the burst: %s", x.Last)
				}
			}
			x.Expect("first tick out of panic: the burst's last sample is in the stable window, down at most 2×", 8, "stable avg 440")
			x.Poll(400)
			x.Expect("next tick: the burst has left the stable window", 4, "stable avg 400")
		}},
		{"a 1.5× step lags on the stable window", func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(2*time.Minute, 1000)
			x.Feed(6*time.Second, 1500)
			x.Expect("6 s into the step", 11, "stable mode")
		}},
		// Knative Serving's autoscaler.Scale
		// (pkg/autoscaler/scaling/autoscaler.go, knative/serving at
		// 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944) un-panics only when
		// a.panicTime.Add(spec.StableWindow).Before(now): strictly after.
		{"panic ends strictly after a stable window without the condition", func(x *policytest.Timeline) {
			x.Feed(2*time.Minute, 400)
			x.Feed(6*time.Second, 1600)
			// Only the first burst tick is over the threshold (8 needed, 4
			// ready); from then on 8 and more tasks are ready.
			var first time.Time
			for i := 0; ; i++ {
				d := x.Poll(400)
				if first.IsZero() {
					first = x.Now.Add(-6 * time.Second) // the first tick of the burst
				}
				if strings.Contains(d.Reason, "stable mode") {
					if got := x.Now.Sub(first); got != 62*time.Second {
						x.T.Fatalf("left panic %s after the last tick over the threshold, want 62s (the first tick strictly after 60s)", got)
					}
					return
				}
				if i > 40 {
					x.T.Fatalf("still in panic: %s", d)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(policytest.New(t, newKPA(t), 4)) })
	}
}

// TestKPAPanicLikeKnative checks the panic rules of Knative Serving's
// autoscaler.Scale (pkg/autoscaler/scaling/autoscaler.go, knative/serving
// at 98e5ef90aa7033797aa0a61ef97f3ff7e49a3944) that a plain timeline does
// not reach.
func TestKPAPanicLikeKnative(t *testing.T) {
	t.Run("threshold on the raw panic count", func(t *testing.T) {
		// MaxScaleUpRate 1.5 bounds the panic count of 16 to 6 with 4
		// ready: 6/4 is below 2, but Knative tests dppc/readyPodsCount,
		// the unbounded 16/4.
		p, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 100, Min: 1, MaxScaleUpRate: 1.5})
		if err != nil {
			t.Fatal(err)
		}
		x := policytest.New(t, p, 4)
		x.Ready = 4
		x.Feed(2*time.Minute, 400)
		x.Feed(6*time.Second, 1600)
		x.Expect("4× burst with up rate 1.5", 6, "panic mode")
	})
	t.Run("in panic the larger of stable and panic", func(t *testing.T) {
		// 60 s at 1,000 req/s on 10 ready tasks (no panic), then 2 ready
		// tasks and 400 req/s: the panic count 4 is 2× ready (panic), the
		// stable count is 10, and Knative runs the larger: 10.
		p, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 100, Min: 1})
		if err != nil {
			t.Fatal(err)
		}
		now := policytest.T0
		var d scaler.Decision
		for range 30 {
			now = now.Add(2 * time.Second)
			d = p.Decide(scaler.Input{Now: now, Current: 10, Ready: 10, Obs: &scaler.Observation{At: now, RPS: 1000}})
		}
		if d.Count != 10 || !strings.Contains(d.Reason, "stable mode") {
			t.Fatalf("1,000 req/s on 10 tasks: %v, want 10 in stable mode", d)
		}
		for range 3 {
			now = now.Add(2 * time.Second)
			d = p.Decide(scaler.Input{Now: now, Current: 2, Ready: 2, Obs: &scaler.Observation{At: now, RPS: 400}})
		}
		if d.Count != 10 || !strings.Contains(d.Reason, "panic mode") {
			t.Fatalf("400 req/s on 2 ready after 1,000 on 10: %v, want 10 (the stable count) in panic mode", d)
		}
	})
}

func TestMarathonLB(t *testing.T) {
	newM := func(t *testing.T) scaler.Policy {
		p, err := baseline.NewMarathonLB(baseline.MarathonLBConfig{RequestsPerTask: 100, Min: 1})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		run  func(x *policytest.Timeline)
	}{
		{"waits for 10 samples and 3 intervals past threshold", func(x *policytest.Timeline) {
			x.Cur = 1
			x.Feed(9*time.Minute, 1000)
			x.Expect("9 samples", 1, "only 8 samples")
			x.Feed(3*time.Minute, 1000)
			x.Expect("2 intervals past", 1, "past threshold 2 of 3")
			x.Feed(4*time.Second, 1000)
			x.Expect("3 intervals past", 10, "→ 10")
		}},
		{"within thresholds holds", func(x *policytest.Timeline) {
			x.Cur = 10
			x.Feed(11*time.Minute, 1200)
			x.Expect("12 vs 10", 10, "within thresholds")
		}},
		{"cools down 15 intervals after a change", func(x *policytest.Timeline) {
			x.Cur = 1
			x.Feed(12*time.Minute+4*time.Second, 1000)
			x.Expect("scaled", 10, "→ 10")
			x.Feed(10*time.Minute, 5000)
			x.Expect("cooling down", 10, "cooling down")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(policytest.New(t, newM(t), 4)) })
	}
}

func TestBaselineConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		new  func() error
		want string
	}{
		{"hpa no target", func() error { _, err := baseline.NewHPA(baseline.HPAConfig{}); return err }, "RequestsPerTask 0"},
		{"hpa tolerance 2", func() error {
			_, err := baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: 1, Tolerance: 2})
			return err
		}, "Tolerance 2"},
		{"hpa max below min", func() error {
			_, err := baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: 1, Min: 3, Max: 2})
			return err
		}, "Max 2"},
		{"kpa NaN target", func() error { _, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: math.NaN()}); return err }, "RequestsPerTask NaN"},
		{"kpa negative tick", func() error {
			_, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 1, TickInterval: -time.Second})
			return err
		}, "TickInterval -1s"},
		{"kpa down rate 1", func() error {
			_, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 1, MaxScaleDownRate: 1})
			return err
		}, "MaxScaleDownRate 1"},
		{"kpa panic window longer", func() error {
			_, err := baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: 1, PanicWindow: time.Hour})
			return err
		}, "windows"},
		{"marathon no target", func() error { _, err := baseline.NewMarathonLB(baseline.MarathonLBConfig{}); return err }, "RequestsPerTask 0"},
		{"marathon negative samples", func() error {
			_, err := baseline.NewMarathonLB(baseline.MarathonLBConfig{RequestsPerTask: 1, Samples: -1})
			return err
		}, "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.new()
			if !errors.Is(err, scaler.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
