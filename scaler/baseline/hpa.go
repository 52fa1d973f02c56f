package baseline

import (
	"fmt"
	"math"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/calc"
)

// HPAConfig configures an [HPA] policy. Zero fields take the Kubernetes
// defaults named on each.
type HPAConfig struct {
	// RequestsPerTask is the requests per second per pod (task) to aim
	// for. Required.
	RequestsPerTask float64
	// Tolerance: no change while |metric/target − 1| ≤ Tolerance. If zero,
	// 0.1 (kube-controller-manager --horizontal-pod-autoscaler-tolerance);
	// negative means none.
	Tolerance float64
	// Min and Max bound the count; Max zero means 1000.
	Min, Max int
	// Interval is the controller's sync period. Between syncs the policy
	// holds and averages the rates it is given. If zero, 15s.
	Interval time.Duration
	// DownStabilization is the scale-down stabilization calc.Window: a scale
	// down goes only to the largest recommendation within it. If zero,
	// 300s; negative means none.
	DownStabilization time.Duration
	// UpLimit is the scale-up policy. If zero, 4 pods or 100% per 15s
	// (the default behavior, selectPolicy Max).
	UpLimit scaler.RateLimit
}

// HPA is a baseline policy equivalent to the Kubernetes Horizontal Pod
// Autoscaler on a pods metric (requests per second), with its default
// behavior. At each sync it computes
//
//	desired = ⌈ready × (rps/ready) / target⌉
//
// holding while the usage ratio is within Tolerance. Pods without a metric
// (tasks still starting) count as using 0 when scaling up and as using the
// target when scaling down, and the change is dropped if that flips its
// direction or brings the ratio within tolerance (replica_calculator.go).
// Scale-down then takes the largest recommendation of the stabilization
// calc.Window; scale-up is limited by UpLimit. It is in webfarm to be beaten in
// the simulator; use [scaler.TargetTracking] in production.
type HPA struct {
	cfg   HPAConfig
	next  time.Time
	sum   float64
	n     int
	recs  calc.Window
	valid bool

	lastReason string
}

var _ scaler.Policy = (*HPA)(nil)

// NewHPA validates cfg and returns an HPA with no history.
func NewHPA(cfg HPAConfig) (*HPA, error) {
	const p = "hpa"
	if cfg.Tolerance == 0 {
		cfg.Tolerance = 0.1
	}
	if cfg.Max == 0 {
		cfg.Max = calc.DefaultMax
	}
	cfg.Interval = calc.OrDuration(cfg.Interval, 15*time.Second)
	cfg.DownStabilization = calc.OrDuration(cfg.DownStabilization, 300*time.Second)
	if !cfg.UpLimit.Enabled() && cfg.UpLimit.Period == 0 {
		cfg.UpLimit = scaler.RateLimit{Tasks: 4, Percent: 100, Period: 15 * time.Second}
	}
	switch {
	case !calc.Finite(cfg.RequestsPerTask) || cfg.RequestsPerTask == 0:
		return nil, fmt.Errorf("%s: RequestsPerTask %v must be a finite number > 0: %w", p, cfg.RequestsPerTask, scaler.ErrInvalid)
	case cfg.Tolerance >= 1 || math.IsNaN(cfg.Tolerance):
		return nil, fmt.Errorf("%s: Tolerance %v must be below 1: %w", p, cfg.Tolerance, scaler.ErrInvalid)
	}
	if err := calc.CheckBounds(p, cfg.Min, cfg.Max, scaler.ErrInvalid); err != nil {
		return nil, err
	}
	if err := calc.CheckDuration(p, "Interval", cfg.Interval, scaler.ErrInvalid); err != nil {
		return nil, err
	}
	if err := cfg.UpLimit.Validate("UpLimit"); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &HPA{cfg: cfg, valid: true}, nil
}

// Decide implements [scaler.Policy].
func (h *HPA) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current}
	if h == nil || !h.valid {
		d.Count, d.Reason = max(in.Current, 0), "hpa is not configured (use NewHPA): hold"
		return d
	}
	c := h.cfg
	cur := calc.Clamp(in.Current, 0, calc.MaxCount)
	d.Count = calc.Clamp(cur, c.Min, c.Max)
	if in.Obs != nil && calc.Finite(in.Obs.RPS) {
		h.sum += min(in.Obs.RPS, math.MaxFloat64/4)
		h.n++
	}
	if !h.next.IsZero() && in.Now.Before(h.next) {
		d.Reason = fmt.Sprintf("hpa: next sync at %s: hold (last sync: %s)", h.next.Format(time.TimeOnly), h.lastReason)
		return d
	}
	h.next = in.Now.Add(c.Interval)
	if h.n == 0 {
		d.Reason = "hpa: no metrics since the last sync: hold"
		return d
	}
	rps := h.sum / float64(h.n)
	h.sum, h.n = 0, 0
	ready, missing := calc.Clamp(in.Ready, 0, calc.MaxCount), calc.Clamp(in.Starting, 0, calc.MaxCount)
	desired, why := cur, ""
	switch {
	case ready == 0 && cur == 0:
		desired, why = calc.CeilCount(rps/c.RequestsPerTask), "no pods"
	case ready == 0:
		why = "no ready pods: hold"
	default:
		ratio := rps / float64(ready) / c.RequestsPerTask
		newRatio, pods := ratio, ready
		if missing > 0 {
			pods = ready + missing
			if ratio < 1 {
				newRatio = (rps + float64(missing)*c.RequestsPerTask) / float64(pods) / c.RequestsPerTask
			} else {
				newRatio = rps / float64(pods) / c.RequestsPerTask
			}
		}
		switch {
		case math.Abs(1-ratio) <= c.Tolerance || math.Abs(1-newRatio) <= c.Tolerance:
			why = fmt.Sprintf("usage ratio %.2f within tolerance", newRatio)
		case (ratio < 1) != (newRatio < 1):
			why = "missing pods flip the direction: hold"
		default:
			desired = calc.CeilCount(newRatio * float64(pods))
			if (newRatio < 1 && desired > cur) || (newRatio > 1 && desired < cur) {
				desired = cur
			}
			why = fmt.Sprintf("usage ratio %.2f over %d pods", newRatio, pods)
		}
	}
	desired = calc.Clamp(desired, c.Min, c.Max)
	rec := desired
	if c.DownStabilization > 0 {
		h.recs.Add(in.Now, float64(desired), c.DownStabilization)
		if rec < cur {
			rec = min(cur, int(h.recs.Max(in.Now, c.DownStabilization, float64(rec))))
		}
	}
	if rec > cur && c.UpLimit.Enabled() {
		rec = min(rec, max(cur+c.UpLimit.Tasks, calc.CeilCount(float64(cur)*(1+c.UpLimit.Percent/100))))
	}
	d.Count = calc.Clamp(rec, c.Min, c.Max)
	d.Reason = fmt.Sprintf("hpa: rps %s (%s avg), target %s/pod: %s → %d", calc.FmtRate(rps), c.Interval, calc.FmtRate(c.RequestsPerTask), why, d.Count)
	h.lastReason = d.Reason
	return d
}
