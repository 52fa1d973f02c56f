package main

import (
	"fmt"
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
		return p, fmt.Sprintf("over-capacity budget %.3g%%, capacity %.0f req/s per task, %d–%d tasks, start-up %s, mean %s, volatility over %s, feedback %s, scale-down after %s",
			100*bc.Budget, bc.Capacity, bc.Min, bc.Max, bc.Startup, bc.MeanWindow, bc.VolatilityWindow, bc.FeedbackTime, bc.DownDelay), nil
	}
	p, err := scaler.NewTargetTracking(policyConfig(cfg))
	if err != nil {
		return nil, "", err
	}
	pc := p.Config()
	return p, fmt.Sprintf("target tracking %.0f req/s per task, %d–%d tasks, windows %s/%s, scale-down after %s, down limit %s",
		pc.RequestsPerTask, pc.Min, pc.Max, pc.StableWindow, pc.PanicWindow, pc.DownStabilization, pc.DownLimit), nil
}

// budgetConfig scales the Budget policy's windows to the load profile as
// policyConfig does TargetTracking's; -target is each task's capacity.
// Tasks of the demo serve within a few seconds of launch.
func budgetConfig(cfg farmConfig) scaler.BudgetConfig {
	stable := max(cfg.length/6, 6*time.Second).Round(time.Second)
	return scaler.BudgetConfig{
		Capacity: cfg.target, Min: cfg.min, Max: cfg.max,
		Startup:          max(3*time.Second, 2*cfg.interval),
		MeanWindow:       stable,
		VolatilityWindow: max(cfg.length/2, stable),
		FeedbackTime:     max(cfg.length, time.Minute),
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
			Help: "Share of recent requests over capacity (weighted by age with the feedback time)."}, get(func(o scaler.OverCapacity) float64 { return o.Recent })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "over_capacity_budget_ratio",
			Help: "Share of requests the policy may let arrive over capacity."}, get(func(o scaler.OverCapacity) float64 { return o.Budget })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "headroom_requests_per_second",
			Help: "Capacity the Budget policy holds above the expected rate."}, get(func(o scaler.OverCapacity) float64 { return o.Headroom })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "webfarm", Name: "headroom_factor",
			Help: "Headroom ÷ measured volatility, as the feedback loop set it."}, get(func(o scaler.OverCapacity) float64 { return o.Factor })),
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
