package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webfarm/webfarm/scaler"
)

// Policies the demo can run (-policy).
const (
	policyTargetTracking = "targettracking"
	policyBudget         = "budget"
)

// newPolicy returns the policy cfg names and a line describing it for the
// status page.
func newPolicy(cfg farmConfig) (scaler.Policy, string, error) {
	if cfg.policy == policyBudget {
		p, err := scaler.NewBudget(budgetConfig(cfg))
		if err != nil {
			return nil, "", err
		}
		bc := p.Config()
		return p, fmt.Sprintf("over-capacity budget %.3g%%, capacity %.0f req/s per task, %d–%d tasks, start-up %s, levels %s, volatility over %s, hindsight %s, margin %.2g, warm-up %s, scale-down after %s",
			100*bc.Budget, bc.Capacity, bc.Min, bc.Max, bc.Startup, levels(bc.Levels), bc.VolatilityWindow, bc.Hindsight, bc.Margin, warmup(bc.Warmup), bc.DownDelay), nil
	}
	p, err := scaler.NewTargetTracking(policyConfig(cfg))
	if err != nil {
		return nil, "", err
	}
	pc := p.Config()
	return p, fmt.Sprintf("target tracking %.0f req/s per task, %d–%d tasks, windows %s/%s, scale-down after %s, down limit %s",
		pc.RequestsPerTask, pc.Min, pc.Max, pc.StableWindow, pc.PanicWindow, pc.DownStabilization, pc.DownLimit), nil
}

// levels lists level windows for the status page, "last" for 0 (the last
// sample's rate).
func levels(ls []time.Duration) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
		if l == 0 {
			s[i] = "last"
		}
	}
	return strings.Join(s, "/")
}

// warmup describes BudgetConfig.Warmup for the status page.
func warmup(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.String()
}

// budgetConfig scales the Budget policy's windows to the load profile as
// policyConfig does TargetTracking's; -target is each task's capacity.
// Tasks of the demo serve within a few seconds of launch. The profile runs
// a few minutes, so the levels are the last rate and the means over a
// sixth and a third of it,
// the hindsight replay remembers about one run, and the warm-up (at least
// InitialHeadroom × the rate) ends a sixth of the way in, leaving the
// replay to set the level and headroom for the rest of the run.
func budgetConfig(cfg farmConfig) scaler.BudgetConfig {
	stable := max(cfg.length/6, 6*time.Second).Round(time.Second)
	return scaler.BudgetConfig{
		Capacity: cfg.target, Min: cfg.min, Max: cfg.max,
		Startup:          max(3*time.Second, 2*cfg.interval),
		Levels:           []time.Duration{0, stable, 2 * stable},
		VolatilityWindow: max(cfg.length/2, stable),
		Hindsight:        max(cfg.length, time.Minute),
		Warmup:           stable,
		DownDelay:        (stable * 3 / 4).Round(time.Second),
		MaxAge:           10 * cfg.interval,
	}
}

// overMetrics exports the Budget policy's over-capacity measure
// (Decision.Over) on /metrics.
type overMetrics struct {
	mu   sync.Mutex
	last scaler.OverCapacity
}

// register adds the metrics to reg.
func (m *overMetrics) register(reg prometheus.Registerer) error {
	get := func(f func(o scaler.OverCapacity) float64) func() float64 {
		return func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			return f(m.last)
		}
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "webfarm", Name: "policy_requests_total",
			Help: "Requests the Budget policy counted (rate × interval)."}, get(func(o scaler.OverCapacity) float64 { return o.TotalRequests })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "webfarm", Name: "over_capacity_requests_total",
			Help: "Requests that arrived while the ready tasks' capacity was exceeded (rate beyond capacity, or the balancer's queue)."},
			get(func(o scaler.OverCapacity) float64 { return o.TotalOver })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "over_capacity_recent_ratio",
			Help: "Share of recent requests over capacity (weighted by age with the hindsight time constant)."}, get(func(o scaler.OverCapacity) float64 { return o.Recent })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "over_capacity_hindsight_ratio",
			Help: "Share of recent requests the chosen level and headroom would have let over capacity, replayed in hindsight."},
			get(func(o scaler.OverCapacity) float64 { return o.Hindsight })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "over_capacity_budget_ratio",
			Help: "Share of requests the policy may let arrive over capacity."}, get(func(o scaler.OverCapacity) float64 { return o.Budget })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "level_requests_per_second",
			Help: "Rate the Budget policy's headroom sits on: the mean over the chosen level window, or the last rate."},
			get(func(o scaler.OverCapacity) float64 { return o.Level })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "headroom_requests_per_second",
			Help: "Capacity the Budget policy holds above the level."}, get(func(o scaler.OverCapacity) float64 { return o.Headroom })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "headroom_factor",
			Help: "Headroom ÷ the level, or ÷ the measured volatility, whichever setting the hindsight replay chose."},
			get(func(o scaler.OverCapacity) float64 { return o.Factor })),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// record takes a controller report's over-capacity measure, if any.
func (m *overMetrics) record(r scaler.Report) {
	if r.Over == nil {
		return
	}
	m.mu.Lock()
	m.last = *r.Over
	m.mu.Unlock()
}
