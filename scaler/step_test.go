package scaler_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
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
		run  func(x *timeline)
	}{
		{"highest up rule applies", nil, func(x *timeline) {
			x.poll(4 * 60)
			x.expect("60/task", 6, "rps 60 per ready task above 50: +2 → 6")
		}},
		{"lower up rule", nil, func(x *timeline) {
			x.poll(4 * 30)
			x.expect("30/task", 5, "above 25: +1 → 5")
		}},
		{"between thresholds holds", nil, func(x *timeline) {
			x.poll(4 * 10)
			x.expect("10/task", 4, "between thresholds")
		}},
		{"down rule", nil, func(x *timeline) {
			x.poll(4 * 4)
			x.expect("4/task", 3, "below 5: -1 → 3")
		}},
		{"cooldown", func(c *scaler.StepConfig) { c.Cooldown = time.Minute }, func(x *timeline) {
			x.poll(4 * 30)
			x.feed(30*time.Second, 5*30)
			x.expect("30 s after a change", 5, "cooling down")
			x.feed(30*time.Second, 5*30)
			x.expect("after the cooldown", 6, "→ 6")
		}},
		{"threshold must hold For", func(c *scaler.StepConfig) { c.For = 10 * time.Second }, func(x *timeline) {
			x.feed(8*time.Second, 4*30)
			x.expect("6 s above", 4, "above 25 for 6s of 10s")
			x.feed(4*time.Second, 4*30)
			x.expect("10 s above", 5, "→ 5")
		}},
		{"total instead of per task", func(c *scaler.StepConfig) { c.Total = true }, func(x *timeline) {
			x.poll(30)
			x.expect("30 total", 5, "rps 30 total above 25")
		}},
		{"scale from zero", func(c *scaler.StepConfig) { c.Min = 0 }, func(x *timeline) {
			x.cur = 0
			x.poll(1)
			x.expect("first request", 1, "scale from zero → 1")
		}},
		{"degraded input never scales down", nil, func(x *timeline) {
			x.now = x.now.Add(2 * time.Second)
			in := x.input(&scaler.Observation{At: x.now, RPS: 4})
			in.Degraded = errors.New("cpu source down")
			x.apply(x.p.Decide(in))
			x.expect("degraded", 4, "no scale-down")
		}},
		{"no data holds", nil, func(x *timeline) {
			x.now = x.now.Add(2 * time.Second)
			x.apply(x.p.Decide(scaler.Input{Now: x.now, Current: 4, NoData: errors.New("gone")}))
			x.expect("no data", 4, "no data (gone)")
		}},
		{"capped at Max", nil, func(x *timeline) {
			x.cur = 19
			x.poll(19 * 100)
			x.expect("huge", 20, "[capped at Max 20]")
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
