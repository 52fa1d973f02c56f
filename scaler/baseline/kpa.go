package baseline

import (
	"fmt"
	"math"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/calc"
)

// KPAConfig configures a [KPA] policy. Zero fields take Knative Serving's
// defaults (config-autoscaler), named on each.
type KPAConfig struct {
	// RequestsPerTask is the requests per second per pod (task) to aim for
	// (autoscaling.knative.dev/target with metric rps). Required.
	RequestsPerTask float64
	// Min and Max bound the count; Max zero means 1000.
	Min, Max int
	// StableWindow is stable-calc.Window. If zero, 60s.
	StableWindow time.Duration
	// PanicWindow is the panic calc.Window (panic-calc.Window-percentage 10% of
	// the stable calc.Window). If zero, 6s.
	PanicWindow time.Duration
	// PanicThreshold is panic-threshold-percentage / 100. If zero, 2.
	PanicThreshold float64
	// MaxScaleUpRate is max-scale-up-rate. If zero, 1000.
	MaxScaleUpRate float64
	// MaxScaleDownRate is max-scale-down-rate. If zero, 2.
	MaxScaleDownRate float64
	// TickInterval is the autoscaler's tick. Between ticks the policy only
	// records samples. If zero, 2s.
	TickInterval time.Duration
}

// KPA is a baseline policy equivalent to Knative Serving's pod autoscaler
// (pkg/autoscaler/scaling/autoscaler.go) on requests per second. Each tick
// it averages the stable and panic windows and computes
//
//	stable = ⌈stableAvg/target⌉, panic = ⌈panicAvg/target⌉
//
// both bounded to [⌊ready/MaxScaleDownRate⌋, ⌈ready×MaxScaleUpRate⌉]. It
// panics when the unbounded panic/ready ≥ PanicThreshold and leaves panic
// on the first tick strictly more than a stable calc.Window after the last tick
// over the threshold. While panicking the count is the larger of the
// stable and panic counts, raised to the largest such count of this panic
// (it never goes down); otherwise it is the stable count. This is Knative
// Serving's autoscaler.Scale (pkg/autoscaler/scaling/autoscaler.go). It is in webfarm to be beaten in the
// simulator; use [scaler.TargetTracking] in production.
type KPA struct {
	cfg       KPAConfig
	win       calc.Window
	next      time.Time
	panicTime time.Time
	maxPanic  int
	valid     bool

	lastReason string
}

var _ scaler.Policy = (*KPA)(nil)

// NewKPA validates cfg and returns a KPA with no history.
func NewKPA(cfg KPAConfig) (*KPA, error) {
	const p = "kpa"
	if cfg.Max == 0 {
		cfg.Max = calc.DefaultMax
	}
	cfg.StableWindow = calc.OrDuration(cfg.StableWindow, 60*time.Second)
	cfg.PanicWindow = calc.OrDuration(cfg.PanicWindow, 6*time.Second)
	cfg.TickInterval = calc.OrDuration(cfg.TickInterval, 2*time.Second)
	if cfg.PanicThreshold == 0 {
		cfg.PanicThreshold = 2
	}
	if cfg.MaxScaleUpRate == 0 {
		cfg.MaxScaleUpRate = 1000
	}
	if cfg.MaxScaleDownRate == 0 {
		cfg.MaxScaleDownRate = 2
	}
	switch {
	case !calc.Finite(cfg.RequestsPerTask) || cfg.RequestsPerTask == 0:
		return nil, fmt.Errorf("%s: RequestsPerTask %v must be a finite number > 0: %w", p, cfg.RequestsPerTask, scaler.ErrInvalid)
	case !calc.Finite(cfg.PanicThreshold) || cfg.PanicThreshold < 1:
		return nil, fmt.Errorf("%s: PanicThreshold %v must be ≥ 1: %w", p, cfg.PanicThreshold, scaler.ErrInvalid)
	case !calc.Finite(cfg.MaxScaleUpRate) || cfg.MaxScaleUpRate <= 1:
		return nil, fmt.Errorf("%s: MaxScaleUpRate %v must be > 1: %w", p, cfg.MaxScaleUpRate, scaler.ErrInvalid)
	case !calc.Finite(cfg.MaxScaleDownRate) || cfg.MaxScaleDownRate <= 1:
		return nil, fmt.Errorf("%s: MaxScaleDownRate %v must be > 1: %w", p, cfg.MaxScaleDownRate, scaler.ErrInvalid)
	case cfg.TickInterval < 0:
		return nil, fmt.Errorf("%s: TickInterval %s is negative: %w", p, cfg.TickInterval, scaler.ErrInvalid)
	case cfg.StableWindow < 0 || cfg.PanicWindow < 0 || cfg.PanicWindow > cfg.StableWindow:
		return nil, fmt.Errorf("%s: windows %s/%s must be > 0 with the panic calc.Window no longer: %w", p, cfg.StableWindow, cfg.PanicWindow, scaler.ErrInvalid)
	}
	if err := calc.CheckBounds(p, cfg.Min, cfg.Max, scaler.ErrInvalid); err != nil {
		return nil, err
	}
	return &KPA{cfg: cfg, valid: true}, nil
}

// Decide implements [scaler.Policy].
func (k *KPA) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current}
	if k == nil || !k.valid {
		d.Count, d.Reason = max(in.Current, 0), "kpa is not configured (use NewKPA): hold"
		return d
	}
	c := k.cfg
	cur := calc.Clamp(in.Current, 0, calc.MaxCount)
	d.Count = calc.Clamp(cur, c.Min, c.Max)
	if in.Obs != nil && calc.Finite(in.Obs.RPS) {
		at := in.Obs.At
		if at.IsZero() {
			at = in.Now
		}
		k.win.Add(at, min(in.Obs.RPS, math.MaxFloat64/4), c.StableWindow)
	}
	if !k.next.IsZero() && in.Now.Before(k.next) {
		d.Reason = "kpa: between ticks: hold (last: " + k.lastReason + ")"
		return d
	}
	k.next = in.Now.Add(c.TickInterval)
	end := in.Now
	if in.Obs != nil && !in.Obs.At.IsZero() {
		end = in.Obs.At
	}
	stableAvg, n := k.win.Mean(end, c.StableWindow)
	panicAvg, pn := k.win.Mean(end, c.PanicWindow)
	if n == 0 || pn == 0 {
		d.Reason = "kpa: no data: hold"
		return d
	}
	// From here on, as Knative's autoscaler.Scale
	// (pkg/autoscaler/scaling/autoscaler.go), with a reachable revision and
	// no activation scale or scale-down delay.
	ready := float64(calc.Clamp(in.Ready, 1, calc.MaxCount))
	maxUp := math.Min(math.Ceil(c.MaxScaleUpRate*ready), calc.MaxCount)
	maxDown := math.Floor(ready / c.MaxScaleDownRate)
	dspc := math.Min(math.Ceil(stableAvg/c.RequestsPerTask), calc.MaxCount)
	dppc := math.Min(math.Ceil(panicAvg/c.RequestsPerTask), calc.MaxCount)
	desiredStable := int(math.Min(math.Max(dspc, maxDown), maxUp))
	desiredPanic := int(math.Min(math.Max(dppc, maxDown), maxUp))
	// The threshold is tested on the raw panic count, before the bounds.
	over := dppc/ready >= c.PanicThreshold
	switch {
	case over:
		k.panicTime = in.Now
	case !k.panicTime.IsZero() && k.panicTime.Add(c.StableWindow).Before(in.Now):
		// Strictly after a stable calc.Window without the condition.
		k.panicTime, k.maxPanic = time.Time{}, 0
	}
	desired := desiredStable
	mode := "stable"
	if !k.panicTime.IsZero() {
		mode = "panic"
		// In panic the larger of the stable and panic counts, and never
		// below the largest count of this panic.
		desired = max(desiredStable, desiredPanic)
		k.maxPanic = max(k.maxPanic, desired)
		desired = k.maxPanic
	}
	d.Count = calc.Clamp(desired, c.Min, c.Max)
	d.Reason = fmt.Sprintf("kpa: %s mode, stable avg %s, panic avg %s, target %s/pod → %d",
		mode, calc.FmtRate(stableAvg), calc.FmtRate(panicAvg), calc.FmtRate(c.RequestsPerTask), d.Count)
	k.lastReason = d.Reason
	return d
}
