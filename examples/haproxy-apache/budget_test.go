package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webfarm/webfarm/scaler"
)

func TestNewPolicy(t *testing.T) {
	for _, tc := range []struct {
		args []string
		info string
		typ  string
	}{
		{nil, "target tracking 50 req/s per task", "*scaler.TargetTracking"},
		{[]string{"-policy", "budget", "-target", "80"}, "over-capacity budget 0.5%, capacity 80 req/s per task, 2–12 tasks, start-up 3s, levels last/20s/40s, volatility over 1m0s, hindsight 2m0s, margin " +
			fmt.Sprintf("%.2g", scaler.DefaultMargin) + ", warm-up 20s, scale-down after 15s", "*scaler.Budget"},
	} {
		cfg, _, err := parseFarm(tc.args, io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		p, info, err := newPolicy(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", p); got != tc.typ || !strings.Contains(info, tc.info) {
			t.Errorf("%q: policy %s %q, want %s %q", tc.args, got, info, tc.typ, tc.info)
		}
	}
	c := budgetConfig(farmConfig{length: 2 * time.Minute, interval: time.Second, target: 50, min: 2, max: 12})
	if !slices.Equal(c.Levels, []time.Duration{0, 20 * time.Second, 40 * time.Second}) || c.Hindsight != 2*time.Minute ||
		c.Warmup != 20*time.Second || c.DownDelay != 15*time.Second || c.VolatilityWindow != time.Minute || c.Capacity != 50 {
		t.Errorf("budget config for the two-minute demo = %+v", c)
	}
	// The shortest profile: windows of at least 6 s, the hindsight at
	// least a minute, and the policy accepts the config.
	c = budgetConfig(farmConfig{length: 10 * time.Second, interval: time.Second, target: 50, min: 2, max: 12})
	if !slices.Equal(c.Levels, []time.Duration{0, 6 * time.Second, 12 * time.Second}) || c.Hindsight != time.Minute || c.Warmup != 6*time.Second {
		t.Errorf("budget config for the ten-second demo = %+v", c)
	}
	if _, err := scaler.NewBudget(c); err != nil {
		t.Errorf("ten-second demo: %v", err)
	}
}

func TestOverMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var m overMetrics
	if err := m.register(reg); err != nil {
		t.Fatal(err)
	}
	m.record(scaler.Report{}) // a policy without the measure changes nothing
	m.record(scaler.Report{Decision: scaler.Decision{Over: &scaler.OverCapacity{TotalRequests: 1000, TotalOver: 4,
		Recent: 0.004, Budget: 0.005, Level: 200, LevelWindow: 20 * time.Second, Volatility: 20, Headroom: 30, Factor: 1.5,
		PerVolatility: true, Hindsight: 0.003}}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch {
			case mt.GetCounter() != nil:
				got[mf.GetName()] = mt.GetCounter().GetValue()
			case mt.GetGauge() != nil:
				got[mf.GetName()] = mt.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{"webfarm_policy_requests_total": 1000, "webfarm_over_capacity_requests_total": 4,
		"webfarm_over_capacity_recent_ratio": 0.004, "webfarm_over_capacity_budget_ratio": 0.005,
		"webfarm_over_capacity_hindsight_ratio": 0.003, "webfarm_level_requests_per_second": 200,
		"webfarm_headroom_requests_per_second": 30, "webfarm_headroom_factor": 1.5}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}
