package scaler

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// StepRule is one step of a [Step] policy: where it starts and how much it
// changes the count.
type StepRule struct {
	// Threshold is where the step starts: an up rule applies when the
	// metric is above it, a down rule when the metric is below it.
	Threshold float64
	// Tasks and Percent size the change: the larger of Tasks and Percent
	// % of the current count, at least one task.
	Tasks   int
	Percent float64
}

func (r StepRule) change(cur int) int {
	return max(1, r.Tasks, ceilCount(float64(cur)*r.Percent/100))
}

// StepConfig configures a [Step] policy.
type StepConfig struct {
	// Metric is the signal the thresholds compare against: SignalRPS,
	// SignalActive, SignalQueued or a key of Observation.Signals. If
	// empty, SignalRPS.
	Metric string
	// Total compares the farm's total instead of the value per ready task.
	Total bool
	// Up and Down are the steps. Of the up rules whose threshold the metric
	// is above, the highest applies; of the down rules whose threshold it
	// is below, the lowest. Every down threshold must be below every up
	// threshold. At least one rule is required.
	Up, Down []StepRule
	// For is how long a threshold must stay crossed, sample after sample,
	// before its step applies. Zero applies it at once.
	For time.Duration
	// Cooldown is the time after a change during which no other change is
	// made. Zero means none.
	Cooldown time.Duration
	// Min and Max bound the count; Max zero means 1000.
	Min, Max int
	// MaxAge is the oldest a sample may be before the policy holds. If
	// zero, 30s; negative means no limit.
	MaxAge time.Duration
}

// Step is a threshold policy, as AWS step scaling and the original Mesos
// haproxy+apache framework do it ("add a task above 25 sessions/s per
// task, kill one below 5"): for users who want explicit rules.
//
//	s, err := scaler.NewStep(scaler.StepConfig{
//		Up:   []scaler.StepRule{{Threshold: 25, Tasks: 1}, {Threshold: 50, Percent: 50}},
//		Down: []scaler.StepRule{{Threshold: 5, Tasks: 1}},
//		Cooldown: time.Minute, Min: 1, Max: 20,
//	})
//
// No data or a stale sample holds; a degraded input never scales down;
// from zero tasks any traffic adds the first task.
type Step struct {
	cfg        StepConfig
	upSince    time.Time
	downSince  time.Time
	lastChange time.Time
	valid      bool
}

var _ Policy = (*Step)(nil)

// NewStep validates cfg and returns a Step policy with no history.
func NewStep(cfg StepConfig) (*Step, error) {
	const p = "step"
	if cfg.Metric == "" {
		cfg.Metric = SignalRPS
	}
	if cfg.Max == 0 {
		cfg.Max = defaultMax
	}
	cfg.MaxAge = orDuration(cfg.MaxAge, DefaultMaxAge)
	if len(cfg.Up)+len(cfg.Down) == 0 {
		return nil, fmt.Errorf("%s: no rules: %w", p, ErrInvalid)
	}
	lowestUp, highestDown := math.Inf(1), math.Inf(-1)
	for i, r := range append(slices.Clone(cfg.Up), cfg.Down...) {
		dir := "Up"
		if i >= len(cfg.Up) {
			dir = "Down"
		}
		switch {
		case !finite(r.Threshold):
			return nil, fmt.Errorf("%s: %s rule %v: Threshold must be a finite number ≥ 0: %w", p, dir, r, ErrInvalid)
		case r.Tasks < 0 || !finite(r.Percent) || r.Percent > 1e6:
			return nil, fmt.Errorf("%s: %s rule %v: Tasks and Percent must be ≥ 0 (Percent ≤ 1e6): %w", p, dir, r, ErrInvalid)
		}
		if dir == "Up" {
			lowestUp = min(lowestUp, r.Threshold)
		} else {
			highestDown = max(highestDown, r.Threshold)
		}
	}
	if highestDown >= lowestUp {
		return nil, fmt.Errorf("%s: down threshold %v is not below up threshold %v: %w", p, highestDown, lowestUp, ErrInvalid)
	}
	if err := checkBounds(p, cfg.Min, cfg.Max); err != nil {
		return nil, err
	}
	if err := checkDuration(p, "For", cfg.For); err != nil {
		return nil, err
	}
	if err := checkDuration(p, "Cooldown", cfg.Cooldown); err != nil {
		return nil, err
	}
	cfg.Up, cfg.Down = slices.Clone(cfg.Up), slices.Clone(cfg.Down)
	return &Step{cfg: cfg, valid: true}, nil
}

// Decide implements [Policy].
func (s *Step) Decide(in Input) Decision {
	d := Decision{At: in.Now, Current: in.Current}
	if s == nil || !s.valid {
		d.Count, d.Reason = max(in.Current, 0), "step is not configured (use NewStep): hold"
		return d
	}
	c := s.cfg
	cur := clamp(in.Current, 0, maxCount)
	d.Count = clamp(cur, c.Min, c.Max)
	holdOn := func(why string) Decision {
		d.Reason = "step: " + why + fmt.Sprintf(": hold at %d", d.Count) + boundsNote(cur, d.Count, c.Min, c.Max)
		return d
	}
	if in.Obs == nil {
		s.upSince, s.downSince = time.Time{}, time.Time{}
		return holdOn(fmt.Sprintf("no data (%v)", in.NoData))
	}
	if age := in.Now.Sub(in.Obs.At); !in.Obs.At.IsZero() && c.MaxAge > 0 && age > c.MaxAge {
		return holdOn(fmt.Sprintf("newest sample is %s old, over MaxAge %s", age.Round(time.Millisecond), c.MaxAge))
	}
	v, ok := Signal{Name: c.Metric}.value(in.Obs)
	if !ok || !finite(v) {
		return holdOn(fmt.Sprintf("metric %s missing or invalid (%v)", c.Metric, v))
	}
	ready := clamp(in.Ready, 0, maxCount)
	if cur == 0 {
		if v > 0 {
			d.Count = clamp(1, c.Min, c.Max)
			d.Reason = fmt.Sprintf("step: %s %s with no tasks: scale from zero → %d", c.Metric, fmtRate(v), d.Count)
			s.lastChange = in.Now
			return d
		}
		return holdOn("no traffic and no tasks")
	}
	m, per := v, "total"
	if !c.Total {
		m, per = v/float64(max(ready, 1)), "per ready task"
	}
	var up, down *StepRule
	for i := range c.Up {
		if r := &c.Up[i]; m > r.Threshold && (up == nil || r.Threshold > up.Threshold) {
			up = r
		}
	}
	for i := range c.Down {
		if r := &c.Down[i]; m < r.Threshold && (down == nil || r.Threshold < down.Threshold) {
			down = r
		}
	}
	what := fmt.Sprintf("%s %s %s", c.Metric, fmtRate(m), per)
	switch {
	case up != nil:
		s.downSince = time.Time{}
		if s.upSince.IsZero() {
			s.upSince = in.Now
		}
	case down != nil:
		s.upSince = time.Time{}
		if s.downSince.IsZero() {
			s.downSince = in.Now
		}
	default:
		s.upSince, s.downSince = time.Time{}, time.Time{}
		return holdOn(what + " between thresholds")
	}
	if !s.lastChange.IsZero() && in.Now.Sub(s.lastChange) < c.Cooldown {
		return holdOn(fmt.Sprintf("%s; cooling down for %s", what, c.Cooldown-in.Now.Sub(s.lastChange)))
	}
	var want int
	if up != nil {
		if held := in.Now.Sub(s.upSince); held < c.For {
			return holdOn(fmt.Sprintf("%s above %s for %s of %s", what, fmtRate(up.Threshold), held, c.For))
		}
		want = min(maxCount, cur+up.change(cur))
		what += fmt.Sprintf(" above %s: +%d", fmtRate(up.Threshold), up.change(cur))
	} else {
		if in.Degraded != nil {
			return holdOn(fmt.Sprintf("%s below %s but input degraded (%v); no scale-down", what, fmtRate(down.Threshold), in.Degraded))
		}
		if held := in.Now.Sub(s.downSince); held < c.For {
			return holdOn(fmt.Sprintf("%s below %s for %s of %s", what, fmtRate(down.Threshold), held, c.For))
		}
		want = max(0, cur-down.change(cur))
		what += fmt.Sprintf(" below %s: -%d", fmtRate(down.Threshold), down.change(cur))
	}
	d.Count = clamp(want, c.Min, c.Max)
	if d.Count != cur {
		s.lastChange = in.Now
		s.upSince, s.downSince = time.Time{}, time.Time{}
	}
	d.Reason = fmt.Sprintf("step: %s → %d", what, d.Count) + boundsNote(want, d.Count, c.Min, c.Max)
	return d
}
