package scaler

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of [TargetTrackingConfig], named so users and tests can refer to
// them.
const (
	DefaultStableWindow      = 60 * time.Second
	DefaultPanicWindow       = 6 * time.Second
	DefaultPanicThreshold    = 2.0
	DefaultTolerance         = 0.1
	DefaultDownStabilization = 4 * time.Minute
	DefaultMaxAge            = 30 * time.Second
)

// DefaultDownLimit is the DownLimit of a [TargetTrackingConfig] that sets
// none: at most 10% of the tasks (at least one) per minute.
var DefaultDownLimit = RateLimit{Percent: 10, Period: time.Minute}

// TargetTrackingConfig configures a [TargetTracking] policy. The zero value
// of every field but RequestsPerTask (or Signals) is valid and means the default
// documented on the field.
type TargetTrackingConfig struct {
	// RequestsPerTask is the requests per second per ready task to aim
	// for: shorthand for Signals = {Name: SignalRPS, ValuePerTask:
	// RequestsPerTask}. At least one of RequestsPerTask and Signals must be
	// set.
	RequestsPerTask float64
	// Signals are further metrics to track, each with its own value per
	// task to aim for. Every signal recommends a count; the largest (safest) wins.
	Signals []Signal
	// Min and Max bound the count. Max zero means 1000. Min zero lets the
	// farm scale to zero; it scales from zero on the first request.
	Min, Max int
	// StableWindow is the span whose average sets the count in calm
	// times, and the minimum history before any scale-down (after a start
	// or restart of the policy). If zero, 60s.
	StableWindow time.Duration
	// PanicWindow is the short span that reacts to bursts. The policy
	// scales up on whichever window asks for more. If zero, 6s.
	PanicWindow time.Duration
	// PanicThreshold: when the panic window asks for this many times the
	// ready tasks, the policy panics and does not scale down until a full
	// StableWindow has passed below the threshold. If zero, 2.
	PanicThreshold float64
	// Tolerance is the band around the target, as a fraction, in which the
	// count holds: with 10 tasks and 0.1, a need between 9 and 11 tasks
	// changes nothing. If zero, 0.1; negative means no band.
	Tolerance float64
	// DownStabilization is the span over which the policy takes the
	// largest recommendation before scaling down, so a dip shorter than it
	// never removes a task. If zero, 4m; negative means none.
	DownStabilization time.Duration
	// UpLimit bounds how fast the count grows. The zero RateLimit does
	// not limit. Scaling from zero to one task is always allowed.
	UpLimit RateLimit
	// DownLimit bounds how fast the count shrinks. If zero,
	// DefaultDownLimit (10% per minute); {Percent: 100} does not limit.
	DownLimit RateLimit
	// MaxAge is the oldest a sample may be (Input.Now − Observation.At)
	// before the policy holds instead of acting on it. Delayed sources such
	// as CloudWatch need more. If zero, 30s; negative means no limit.
	MaxAge time.Duration
}

// withDefaults returns c with its zero fields set to their defaults.
func (c TargetTrackingConfig) withDefaults() TargetTrackingConfig {
	if c.Max == 0 {
		c.Max = defaultMax
	}
	c.StableWindow = orDuration(c.StableWindow, DefaultStableWindow)
	c.PanicWindow = orDuration(c.PanicWindow, DefaultPanicWindow)
	if c.PanicThreshold == 0 {
		c.PanicThreshold = DefaultPanicThreshold
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	c.DownStabilization = orDuration(c.DownStabilization, DefaultDownStabilization)
	c.MaxAge = orDuration(c.MaxAge, DefaultMaxAge)
	if c.DownLimit == (RateLimit{}) {
		c.DownLimit = DefaultDownLimit
	}
	return c
}

func (c TargetTrackingConfig) validate() error {
	const p = "target tracking"
	if c.RequestsPerTask == 0 && len(c.Signals) == 0 {
		return fmt.Errorf("%s: neither RequestsPerTask nor Signals is set: %w", p, ErrInvalid)
	}
	if err := checkFloat(p, "RequestsPerTask", c.RequestsPerTask); err != nil {
		return err
	}
	seen := map[string]bool{}
	if c.RequestsPerTask > 0 {
		seen[SignalRPS] = true
	}
	for _, s := range c.Signals {
		if err := s.validate(p); err != nil {
			return err
		}
		if seen[s.Name] {
			return fmt.Errorf("%s: signal %q given twice: %w", p, s.Name, ErrInvalid)
		}
		seen[s.Name] = true
	}
	if err := checkBounds(p, c.Min, c.Max); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"StableWindow", c.StableWindow}, {"PanicWindow", c.PanicWindow}} {
		if err := checkDuration(p, f.name, f.d); err != nil {
			return err
		}
	}
	if c.PanicWindow > c.StableWindow {
		return fmt.Errorf("%s: PanicWindow %s is longer than StableWindow %s: %w", p, c.PanicWindow, c.StableWindow, ErrInvalid)
	}
	if err := checkFloat(p, "PanicThreshold", c.PanicThreshold); err != nil {
		return err
	}
	if c.PanicThreshold < 1 {
		return fmt.Errorf("%s: PanicThreshold %v is below 1: %w", p, c.PanicThreshold, ErrInvalid)
	}
	if c.Tolerance >= 1 || c.Tolerance != c.Tolerance {
		return fmt.Errorf("%s: Tolerance %v must be below 1: %w", p, c.Tolerance, ErrInvalid)
	}
	if err := c.UpLimit.validate(p, "UpLimit"); err != nil {
		return err
	}
	return c.DownLimit.validate(p, "DownLimit")
}

// TargetTracking is the request-rate policy webfarm recommends: it keeps
// each ready task near a target rate, reacts to bursts within seconds and
// gives capacity back slowly.
//
// Each poll adds a sample per signal. The policy averages them over a
// stable window (60 s) and a panic window (6 s) and converts each average
// into tasks; it scales up on whichever window asks for more and scales
// down only to the largest recommendation of the last DownStabilization.
// Around that:
//   - no data, or a sample older than MaxAge, holds the count;
//   - a missing or failed signal (Input.Degraded) never lets it scale down;
//   - when the panic window asks for PanicThreshold × the ready tasks it
//     panics and does not scale down until a stable window has passed
//     calmly;
//   - after a start or restart, or a gap in the data longer than the stable
//     window, it does not scale down before a full stable window of samples
//     exists;
//   - tasks still starting are not in the per-task figures;
//   - from zero tasks, the first request scales to the tasks it needs.
//
// Create it with [NewTargetTracking]. It keeps history and is used by one
// goroutine at a time.
type TargetTracking struct {
	cfg     TargetTrackingConfig
	signals []Signal
	wins    []window
	recs    window
	lim     limiter
	first   time.Time
	last    time.Time
	panicAt time.Time // last time the panic threshold was crossed; zero when calm
}

var _ Policy = (*TargetTracking)(nil)

// NewTargetTracking validates cfg and returns a policy with no history. The
// error wraps [ErrInvalid] and names the field at fault.
func NewTargetTracking(cfg TargetTrackingConfig) (*TargetTracking, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	var sig []Signal
	if c.RequestsPerTask > 0 {
		sig = append(sig, Signal{Name: SignalRPS, ValuePerTask: c.RequestsPerTask})
	}
	sig = append(sig, c.Signals...)
	c.Signals = append([]Signal(nil), c.Signals...)
	return &TargetTracking{cfg: c, signals: sig, wins: make([]window, len(sig))}, nil
}

// Config returns the configuration in force, defaults filled in.
func (p *TargetTracking) Config() TargetTrackingConfig { return p.cfg }

// Decide implements [Policy].
func (p *TargetTracking) Decide(in Input) Decision {
	d := Decision{At: in.Now, Current: in.Current}
	if p == nil || len(p.signals) == 0 {
		d.Count = max(in.Current, 0)
		d.Reason = "target tracking is not configured (use NewTargetTracking): hold"
		return d
	}
	c := p.cfg
	cur := clamp(in.Current, 0, maxCount)
	hold := clamp(cur, c.Min, c.Max)
	holdOn := func(why string) Decision {
		d.Count = hold
		d.Reason = why + fmt.Sprintf(": hold at %d", hold) + boundsNote(cur, hold, c.Min, c.Max)
		return d
	}
	keepLim := max(c.UpLimit.period(), c.DownLimit.period())
	p.lim.record(in.Now, cur, keepLim)

	if in.Obs == nil {
		why := "no data"
		if in.NoData != nil {
			why = fmt.Sprintf("no data (%v)", in.NoData)
		}
		return holdOn(why)
	}
	at := in.Obs.At
	if at.IsZero() {
		at = in.Now
	}
	if age := in.Now.Sub(at); c.MaxAge > 0 && age > c.MaxAge {
		return holdOn(fmt.Sprintf("newest sample is %s old, over MaxAge %s", age.Round(time.Millisecond), c.MaxAge))
	}
	if !p.last.IsZero() && at.Before(p.last) {
		return holdOn(fmt.Sprintf("sample at %s is older than the previous one", at.Format(time.RFC3339)))
	}

	ready := clamp(in.Ready, 0, maxCount)
	keep := c.StableWindow
	var missing []string
	for i, s := range p.signals {
		v, ok := s.value(in.Obs)
		if !ok || !finite(v) {
			if ok {
				missing = append(missing, fmt.Sprintf("%s=%v", s.Name, v))
			} else {
				missing = append(missing, s.Name)
			}
			continue
		}
		n, ok := s.need(v, ready)
		if !ok {
			continue
		}
		p.wins[i].Add(at, min(n, maxCount), keep)
	}
	if p.first.IsZero() || at.Sub(p.last) > c.StableWindow {
		// A start, or a gap longer than the stable window: the windows hold
		// only what came since, so count the history from here.
		p.first = at
	}
	p.last = at

	// The recommendation of each window is that of its neediest signal.
	var stable, burst float64
	sIdx, bIdx := -1, -1
	for i := range p.signals {
		if m, n := p.wins[i].Mean(at, c.StableWindow); n > 0 && (sIdx < 0 || m > stable) {
			stable, sIdx = m, i
		}
		if m, n := p.wins[i].Mean(at, c.PanicWindow); n > 0 && (bIdx < 0 || m > burst) {
			burst, bIdx = m, i
		}
	}
	if sIdx < 0 {
		return holdOn("no usable signal (" + strings.Join(missing, ", ") + ")")
	}
	if bIdx < 0 {
		burst, bIdx = stable, sIdx
	}
	need, win, idx := stable, c.StableWindow, sIdx
	if burst > stable {
		need, win, idx = burst, c.PanicWindow, bIdx
	}
	want := ceilCount(need)
	var notes []string

	// Panic mode.
	readyN := max(ready, 1)
	if float64(ceilCount(burst)) >= c.PanicThreshold*float64(readyN) {
		if p.panicAt.IsZero() {
			notes = append(notes, fmt.Sprintf("panic: %s window needs %d, ≥ %g× %d ready", c.PanicWindow, ceilCount(burst), c.PanicThreshold, readyN))
		}
		p.panicAt = in.Now
	} else if !p.panicAt.IsZero() && in.Now.Sub(p.panicAt) >= c.StableWindow {
		p.panicAt = time.Time{}
		notes = append(notes, "panic over")
	}

	// Tolerance band around the current count.
	if cur > 0 && c.Tolerance > 0 && want != cur {
		if r := need / float64(cur); r >= 1-c.Tolerance && r <= 1+c.Tolerance {
			notes = append(notes, fmt.Sprintf("within ±%g%% of target", c.Tolerance*100))
			want = cur
		}
	}
	rec := want
	if c.DownStabilization > 0 {
		p.recs.Add(in.Now, float64(want), c.DownStabilization)
		if rec < cur {
			if m := min(cur, int(p.recs.Max(in.Now, c.DownStabilization, float64(rec)))); m > rec {
				notes = append(notes, fmt.Sprintf("largest recommendation of the last %s is %d", c.DownStabilization, m))
				rec = m
			}
		}
	}
	if rec < cur {
		switch {
		case !p.panicAt.IsZero():
			notes = append(notes, "no scale-down while panicking")
			rec = cur
		case at.Sub(p.first) < c.StableWindow:
			notes = append(notes, fmt.Sprintf("only %s of samples; no scale-down before a full %s window", at.Sub(p.first), c.StableWindow))
			rec = cur
		case len(missing) > 0:
			notes = append(notes, "signal missing ("+strings.Join(missing, ", ")+"); no scale-down")
			rec = cur
		case in.Degraded != nil:
			notes = append(notes, fmt.Sprintf("degraded input (%v); no scale-down", in.Degraded))
			rec = cur
		}
	}
	if rec > cur {
		if lim := p.lim.upTo(in.Now, cur, c.UpLimit); rec > lim {
			notes = append(notes, "up limit "+c.UpLimit.String())
			rec = lim
		}
	} else if rec < cur {
		if lim := p.lim.downTo(in.Now, cur, c.DownLimit); rec < lim {
			notes = append(notes, "down limit "+c.DownLimit.String())
			rec = lim
		}
	}
	if cur == 0 && need > 0 && rec == 0 {
		rec = 1
	}
	d.Count = clamp(rec, c.Min, c.Max)

	s := p.signals[idx]
	val := need * s.ValuePerTask
	if s.PerTask {
		val = need * s.ValuePerTask / float64(readyN)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s avg) over %d ready", s.Name, fmtRate(val), win, ready)
	if in.Starting > 0 {
		fmt.Fprintf(&b, " + %d starting", in.Starting)
	}
	fmt.Fprintf(&b, " tasks, target %s/task → %d", fmtRate(s.ValuePerTask), d.Count)
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, "; ") + ")")
	}
	b.WriteString(boundsNote(rec, d.Count, c.Min, c.Max))
	d.Reason = b.String()
	return d
}

// boundsNote explains a count changed by Min or Max.
func boundsNote(want, got, lo, hi int) string {
	switch {
	case want < got:
		return fmt.Sprintf(" [raised to Min %d]", lo)
	case want > got:
		return fmt.Sprintf(" [capped at Max %d]", hi)
	}
	return ""
}
