package baseline

import (
	"fmt"
	"math"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/calc"
)

// MarathonLBConfig configures a [MarathonLB] policy. Zero fields take the
// defaults of marathon-lb-autoscale's autoscale.rb, named on each.
type MarathonLBConfig struct {
	// RequestsPerTask is --target-rps, requests per second per instance.
	// Required.
	RequestsPerTask float64
	// Min and Max are --min-instances and --max-instances; Max zero means
	// 1000.
	Min, Max int
	// Interval is --interval, the time between samples. If zero, 60s.
	Interval time.Duration
	// Samples is --samples, how many samples the moving average holds. If
	// zero, 10.
	Samples int
	// Cooldown is --cooldown, intervals to wait after a scale change (on top
	// of Samples intervals). If zero, 5.
	Cooldown int
	// ThresholdPercent is --threshold-percent. If zero, 0.5.
	ThresholdPercent float64
	// ThresholdInstances is --threshold-instances. If zero, 3.
	ThresholdInstances int
	// IntervalsPastThreshold is --intervals-past-threshold. If zero, 3.
	IntervalsPastThreshold int
}

// MarathonLB is a baseline policy equivalent to marathon-lb-autoscale's
// rule. Every Interval it samples the balancer's rate (HAProxy's 1-second
// rate plus the queue), averages the last Samples samples, and targets
// ⌈avg/RequestsPerTask⌉ instances. It acts only after Samples samples, when the
// target differs from the current count, the per-instance rate is off the
// target by ThresholdPercent or the count by ThresholdInstances, for
// IntervalsPastThreshold intervals in a row, and the last change is more
// than (Cooldown + Samples) intervals old. It is in webfarm to be beaten in
// the simulator; use [scaler.TargetTracking] in production.
type MarathonLB struct {
	cfg        MarathonLBConfig
	rates      []float64
	total      int
	next       time.Time
	past       int
	lastScaled time.Time
	valid      bool
	lastReason string
}

var _ scaler.Policy = (*MarathonLB)(nil)

// NewMarathonLB validates cfg and returns a MarathonLB with no history.
func NewMarathonLB(cfg MarathonLBConfig) (*MarathonLB, error) {
	const p = "marathon-lb"
	if cfg.Max == 0 {
		cfg.Max = calc.DefaultMax
	}
	cfg.Interval = calc.OrDuration(cfg.Interval, time.Minute)
	if cfg.Samples == 0 {
		cfg.Samples = 10
	}
	if cfg.Cooldown == 0 {
		cfg.Cooldown = 5
	}
	if cfg.ThresholdPercent == 0 {
		cfg.ThresholdPercent = 0.5
	}
	if cfg.ThresholdInstances == 0 {
		cfg.ThresholdInstances = 3
	}
	if cfg.IntervalsPastThreshold == 0 {
		cfg.IntervalsPastThreshold = 3
	}
	switch {
	case !calc.Finite(cfg.RequestsPerTask) || cfg.RequestsPerTask == 0:
		return nil, fmt.Errorf("%s: RequestsPerTask %v must be a finite number > 0: %w", p, cfg.RequestsPerTask, scaler.ErrInvalid)
	case cfg.Interval < 0 || cfg.Samples < 0 || cfg.Cooldown < 0 || cfg.ThresholdInstances < 0 || cfg.IntervalsPastThreshold < 0:
		return nil, fmt.Errorf("%s: Interval, Samples, Cooldown, ThresholdInstances and IntervalsPastThreshold must not be negative: %w", p, scaler.ErrInvalid)
	case cfg.Samples > 1e6:
		return nil, fmt.Errorf("%s: Samples %d is over a million: %w", p, cfg.Samples, scaler.ErrInvalid)
	case !calc.Finite(cfg.ThresholdPercent):
		return nil, fmt.Errorf("%s: ThresholdPercent %v must be a finite number ≥ 0: %w", p, cfg.ThresholdPercent, scaler.ErrInvalid)
	}
	if err := calc.CheckBounds(p, cfg.Min, cfg.Max, scaler.ErrInvalid); err != nil {
		return nil, err
	}
	return &MarathonLB{cfg: cfg, valid: true}, nil
}

// Decide implements [scaler.Policy].
func (m *MarathonLB) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current}
	if m == nil || !m.valid {
		d.Count, d.Reason = max(in.Current, 0), "marathon-lb is not configured (use NewMarathonLB): hold"
		return d
	}
	c := m.cfg
	cur := calc.Clamp(in.Current, 0, calc.MaxCount)
	d.Count = calc.Clamp(cur, c.Min, c.Max)
	if !m.next.IsZero() && in.Now.Before(m.next) {
		d.Reason = "marathon-lb: between intervals: hold (last: " + m.lastReason + ")"
		return d
	}
	if in.Obs == nil || !calc.Finite(in.Obs.RPS) {
		// autoscale.rb rescues the failed poll and sleeps to the next interval.
		m.next = in.Now.Add(c.Interval)
		d.Reason = "marathon-lb: no sample: hold"
		return d
	}
	m.next = in.Now.Add(c.Interval)
	if len(m.rates) >= c.Samples {
		m.rates = append(m.rates[:0], m.rates[1:]...)
	}
	m.rates = append(m.rates, min(in.Obs.RPS, math.MaxFloat64/4)+float64(max(in.Obs.Queued, 0)))
	var sum float64
	for _, r := range m.rates {
		sum += r
	}
	avg := sum / float64(len(m.rates))
	target := calc.Clamp(calc.CeilCount(avg/c.RequestsPerTask), c.Min, c.Max)
	defer func() { m.total++; m.lastReason = d.Reason }()
	d.Reason = fmt.Sprintf("marathon-lb: rate avg %s over %d samples, target %s/instance → %d", calc.FmtRate(avg), len(m.rates), calc.FmtRate(c.RequestsPerTask), target)
	if m.total < c.Samples {
		d.Reason += fmt.Sprintf(": only %d samples: hold", m.total)
		return d
	}
	if target == cur {
		m.past = 0
		return d
	}
	off := math.Inf(1)
	if cur > 0 {
		off = math.Abs(avg/float64(cur)-c.RequestsPerTask) / c.RequestsPerTask
	}
	if off < c.ThresholdPercent && abs(target-cur) < c.ThresholdInstances {
		m.past = 0
		d.Reason += ": within thresholds: hold"
		return d
	}
	m.past++
	if m.past < c.IntervalsPastThreshold {
		d.Reason += fmt.Sprintf(": past threshold %d of %d intervals: hold", m.past, c.IntervalsPastThreshold)
		return d
	}
	wait := time.Duration(c.Cooldown+c.Samples) * c.Interval
	if !m.lastScaled.IsZero() && !m.lastScaled.Add(wait).Before(in.Now) {
		d.Reason += fmt.Sprintf(": cooling down until %s: hold", m.lastScaled.Add(wait).Format(time.TimeOnly))
		return d
	}
	m.lastScaled = in.Now
	d.Count = target
	return d
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
