package scaler_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

func TestStepConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  scaler.StepConfig
		want string
	}{
		{"no rules", scaler.StepConfig{}, "no rules"},
		{"down above up", scaler.StepConfig{Up: []scaler.StepRule{{Threshold: 10}}, Down: []scaler.StepRule{{Threshold: 20}}}, "down threshold 20 is not below up threshold 10"},
		{"negative tasks", scaler.StepConfig{Up: []scaler.StepRule{{Threshold: 10, Tasks: -1}}}, "Tasks and Percent"},
		{"NaN threshold", scaler.StepConfig{Down: []scaler.StepRule{{Threshold: nan()}}}, "Threshold must be"},
		{"negative cooldown", scaler.StepConfig{Up: []scaler.StepRule{{Threshold: 1}}, Cooldown: -time.Second}, "Cooldown -1s"},
		{"max below min", scaler.StepConfig{Up: []scaler.StepRule{{Threshold: 1}}, Min: 2, Max: 1}, "Max 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scaler.NewStep(tc.cfg)
			if !errors.Is(err, scaler.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewStep = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestStep(t *testing.T) {
	// The original framework's rule, with a bigger step for big overloads.
	base := scaler.StepConfig{
		Up:   []scaler.StepRule{{Threshold: 25, Tasks: 1}, {Threshold: 50, Percent: 50}},
		Down: []scaler.StepRule{{Threshold: 5, Tasks: 1}},
		Min:  1, Max: 20,
	}
	tests := []struct {
		name string
		cfg  func(c *scaler.StepConfig)
		run  func(x *policytest.Timeline)
	}{
		{"highest up rule applies", nil, func(x *policytest.Timeline) {
			x.Poll(4 * 60)
			x.Expect("60/task", 6, "rps 60 per ready task above 50: +2 → 6")
		}},
		{"lower up rule", nil, func(x *policytest.Timeline) {
			x.Poll(4 * 30)
			x.Expect("30/task", 5, "above 25: +1 → 5")
		}},
		{"between thresholds holds", nil, func(x *policytest.Timeline) {
			x.Poll(4 * 10)
			x.Expect("10/task", 4, "between thresholds")
		}},
		{"down rule", nil, func(x *policytest.Timeline) {
			x.Poll(4 * 4)
			x.Expect("4/task", 3, "below 5: -1 → 3")
		}},
		{"cooldown", func(c *scaler.StepConfig) { c.Cooldown = time.Minute }, func(x *policytest.Timeline) {
			x.Poll(4 * 30)
			x.Feed(30*time.Second, 5*30)
			x.Expect("30 s after a change", 5, "cooling down")
			x.Feed(30*time.Second, 5*30)
			x.Expect("after the cooldown", 6, "→ 6")
		}},
		{"threshold must hold For", func(c *scaler.StepConfig) { c.For = 10 * time.Second }, func(x *policytest.Timeline) {
			x.Feed(8*time.Second, 4*30)
			x.Expect("6 s above", 4, "above 25 for 6s of 10s")
			x.Feed(4*time.Second, 4*30)
			x.Expect("10 s above", 5, "→ 5")
		}},
		{"total instead of per task", func(c *scaler.StepConfig) { c.Total = true }, func(x *policytest.Timeline) {
			x.Poll(30)
			x.Expect("30 total", 5, "rps 30 total above 25")
		}},
		{"scale from zero", func(c *scaler.StepConfig) { c.Min = 0 }, func(x *policytest.Timeline) {
			x.Cur = 0
			x.Poll(1)
			x.Expect("first request", 1, "scale from zero → 1")
		}},
		{"degraded input never scales down", nil, func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			in := x.Input(&scaler.Observation{At: x.Now, RPS: 4})
			in.Degraded = errors.New("cpu source down")
			x.Apply(x.P.Decide(in))
			x.Expect("degraded", 4, "no scale-down")
		}},
		{"no data holds", nil, func(x *policytest.Timeline) {
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(scaler.Input{Now: x.Now, Current: 4, NoData: errors.New("gone")}))
			x.Expect("no data", 4, "no data (gone)")
		}},
		{"capped at Max", nil, func(x *policytest.Timeline) {
			x.Cur = 19
			x.Poll(19 * 100)
			x.Expect("huge", 20, "[capped at Max 20]")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			p, err := scaler.NewStep(c)
			if err != nil {
				t.Fatal(err)
			}
			tc.run(newTimeline(t, p, 4))
		})
	}
}
