package scaler

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Defaults of [BudgetConfig], chosen on training data only (see the
// package documentation, "Evaluation protocol").
const (
	DefaultBudget           = 0.005
	DefaultStartup          = 30 * time.Second
	DefaultVolatilityWindow = 30 * time.Minute
	DefaultHindsight        = 72 * time.Hour
	DefaultMargin           = 0.9
	DefaultWarmup           = time.Hour
	DefaultInitialHeadroom  = 0.3
	DefaultDownDelay        = time.Duration(0) // none
)

// DefaultLevels are the level windows [Budget] chooses among unless
// BudgetConfig.Levels says otherwise: the last sample's rate (0) and the
// mean over 5, 15 and 30 minutes and an hour.
var DefaultLevels = []time.Duration{0, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}

// BudgetConfig configures a [Budget] policy. Capacity is required; every
// other zero field means the default documented on it.
type BudgetConfig struct {
	// Capacity is the requests per second one ready task serves. Required.
	Capacity float64
	// Budget is the share of requests that may arrive while the ready
	// tasks' capacity is exceeded: 0.005 is 0.5%. If zero, 0.005.
	Budget float64
	// Startup is the time from launching a task to its serving: the span
	// over which the policy measures how fast the rate rises. If zero, 30s.
	Startup time.Duration
	// Min and Max bound the count. Max zero means 1000.
	Min, Max int
	// Levels are the windows of the means the headroom may sit on top of;
	// 0 is the last sample's rate. The policy uses the one that would have
	// been cheapest within the budget. If empty, [DefaultLevels]. At most
	// 16, each within [0, 24h].
	Levels []time.Duration
	// VolatilityWindow is the span over which the rate's rises over
	// Startup are measured (the volatility). If zero, 30m.
	VolatilityWindow time.Duration
	// Hindsight is the time constant of the replay that chooses the level
	// and headroom: what happened a Hindsight ago weighs e⁻¹ of what
	// happened now. If zero, 72h.
	Hindsight time.Duration
	// Margin is the share of the budget the chosen setting may have used
	// in hindsight, leaving the rest for traffic unlike the recent past.
	// If zero, 0.9. Must be in (0, 1].
	Margin float64
	// Warmup is the history the replay needs before it alone sets the
	// headroom; until then the headroom is at least InitialHeadroom × the
	// rate. If zero, 1h; negative means none.
	Warmup time.Duration
	// InitialHeadroom is the least headroom during Warmup, as a share of
	// the rate. If zero, 0.3. Must be in [0, 10].
	InitialHeadroom float64
	// DownDelay: the count goes down only to the largest count asked for
	// in the last DownDelay. Zero or negative means none.
	DownDelay time.Duration
	// Floors are minimum counts by time of day, day of week or for known
	// events; the highest floor that applies raises Min.
	Floors []Floor
	// Location is the time zone of the floors' days and times of day. If
	// nil, UTC.
	Location *time.Location
	// MaxAge is the oldest a sample may be before the policy holds. If
	// zero, 30s; negative means no limit.
	MaxAge time.Duration
}

// Floor is a minimum count for a time of day, days of the week, or a known
// event ("10 tasks on weekdays 09:00–17:00", "40 tasks during the launch on
// 16 July 13:00–15:00").
type Floor struct {
	// Name labels the floor in a decision's reason. Optional.
	Name string
	// Tasks is the minimum count while the floor applies.
	Tasks int
	// Days limits the floor to these days of the week; empty means every
	// day. For a span that wraps past midnight, the day is the one the
	// span starts on.
	Days []time.Weekday
	// From and To are times of day (since midnight) between which the
	// floor applies, [From, To); To before From wraps past midnight. Both
	// zero means all day.
	From, To time.Duration
	// Start and End, when not zero, limit the floor to [Start, End).
	Start, End time.Time
}

func (f Floor) validate(i, hi int) error {
	const p = "budget"
	switch {
	case f.Tasks < 0 || f.Tasks > hi:
		return fmt.Errorf("%s: Floors[%d].Tasks %d must be in [0, Max %d]: %w", p, i, f.Tasks, hi, ErrInvalid)
	case f.From < 0 || f.From >= 24*time.Hour || f.To < 0 || f.To > 24*time.Hour:
		return fmt.Errorf("%s: Floors[%d]: From %s and To %s must be times of day in [0, 24h]: %w", p, i, f.From, f.To, ErrInvalid)
	case !f.Start.IsZero() && !f.End.IsZero() && !f.End.After(f.Start):
		return fmt.Errorf("%s: Floors[%d]: End %s is not after Start %s: %w", p, i, f.End.Format(time.RFC3339), f.Start.Format(time.RFC3339), ErrInvalid)
	}
	for _, d := range f.Days {
		if d < time.Sunday || d > time.Saturday {
			return fmt.Errorf("%s: Floors[%d]: day %d is not a weekday: %w", p, i, d, ErrInvalid)
		}
	}
	return nil
}

// applies reports whether the floor holds at t (already in the floors'
// location).
func (f Floor) applies(t time.Time) bool {
	if !f.Start.IsZero() && t.Before(f.Start) || !f.End.IsZero() && !t.Before(f.End) {
		return false
	}
	y, m, d := t.Date()
	tod := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))
	day := t.Weekday()
	if f.From != f.To {
		if f.From < f.To {
			if tod < f.From || tod >= f.To {
				return false
			}
		} else { // wraps past midnight
			switch {
			case tod >= f.From:
			case tod < f.To:
				day = (day + 6) % 7 // the span started yesterday
			default:
				return false
			}
		}
	}
	if len(f.Days) == 0 {
		return true
	}
	for _, x := range f.Days {
		if x == day {
			return true
		}
	}
	return false
}

func (f Floor) String() string {
	if f.Name != "" {
		return f.Name
	}
	return fmt.Sprintf("floor %d", f.Tasks)
}

// withDefaults returns c with its zero fields set to their defaults.
func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Max == 0 {
		c.Max = defaultMax
	}
	if c.Budget == 0 {
		c.Budget = DefaultBudget
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.InitialHeadroom == 0 {
		c.InitialHeadroom = DefaultInitialHeadroom
	}
	if len(c.Levels) == 0 {
		c.Levels = DefaultLevels
	}
	c.Levels = append([]time.Duration(nil), c.Levels...)
	c.Startup = orDuration(c.Startup, DefaultStartup)
	c.VolatilityWindow = orDuration(c.VolatilityWindow, DefaultVolatilityWindow)
	c.Hindsight = orDuration(c.Hindsight, DefaultHindsight)
	c.Warmup = orDuration(c.Warmup, DefaultWarmup)
	c.MaxAge = orDuration(c.MaxAge, DefaultMaxAge)
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

// maxLevels bounds BudgetConfig.Levels: each level costs the replay a
// family of settings every poll.
const maxLevels = 16

func (c BudgetConfig) validate() error {
	const p = "budget"
	switch {
	case !finite(c.Capacity) || c.Capacity <= 0:
		return fmt.Errorf("%s: Capacity %v must be a finite number > 0: %w", p, c.Capacity, ErrInvalid)
	case !finite(c.Budget) || c.Budget <= 0 || c.Budget >= 1:
		return fmt.Errorf("%s: Budget %v must be a share in (0, 1), such as 0.005 for 0.5%%: %w", p, c.Budget, ErrInvalid)
	case !finite(c.Margin) || c.Margin <= 0 || c.Margin > 1:
		return fmt.Errorf("%s: Margin %v must be a share of the budget in (0, 1]: %w", p, c.Margin, ErrInvalid)
	case !finite(c.InitialHeadroom) || c.InitialHeadroom < 0 || c.InitialHeadroom > 10:
		return fmt.Errorf("%s: InitialHeadroom %v must be a share of the rate in [0, 10]: %w", p, c.InitialHeadroom, ErrInvalid)
	case len(c.Levels) > maxLevels:
		return fmt.Errorf("%s: %d Levels; at most %d: %w", p, len(c.Levels), maxLevels, ErrInvalid)
	}
	if err := checkBounds(p, c.Min, c.Max); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"Startup", c.Startup}, {"VolatilityWindow", c.VolatilityWindow}, {"Hindsight", c.Hindsight}} {
		if err := checkDuration(p, f.name, f.d); err != nil {
			return err
		}
	}
	for i, l := range c.Levels {
		if l < 0 || l > 24*time.Hour {
			return fmt.Errorf("%s: Levels[%d] %s must be in [0, 24h]: %w", p, i, l, ErrInvalid)
		}
	}
	for i, f := range c.Floors {
		if err := f.validate(i, c.Max); err != nil {
			return err
		}
	}
	return nil
}

// OverCapacity is the over-capacity measure of a policy that keeps one
// ([Budget]): what it saw this poll and since it started, and the headroom
// it holds. Export it as metrics: the totals are counters, the rest gauges.
type OverCapacity struct {
	// Requests are this poll's requests; Over those of them that arrived
	// while the ready tasks' capacity was exceeded.
	Requests, Over float64
	// TotalRequests and TotalOver are the same since the policy started.
	TotalRequests, TotalOver float64
	// Recent is the share of requests over capacity in the recent past,
	// weighted by age with the Hindsight time constant: 0.004 is 0.4%.
	Recent float64
	// Budget is the share allowed (BudgetConfig.Budget).
	Budget float64
	// Level is the rate the headroom sits on (req/s), the mean over
	// LevelWindow (0: the last sample's rate).
	Level       float64
	LevelWindow time.Duration
	// Volatility is the measured rise of the rate over the start-up time
	// (root mean square of the rises over VolatilityWindow, req/s).
	Volatility float64
	// Headroom is the capacity held above the level (req/s): Factor × the
	// level when PerVolatility is false, Factor × Volatility when true.
	Headroom      float64
	Factor        float64
	PerVolatility bool
	// Hindsight is the share of recent requests the chosen setting would
	// have let over capacity (the replay's figure, weighted as Recent).
	Hindsight float64
	// Aim is the share the replay's choice aimed at: Margin × Budget,
	// lowered in proportion while Recent is above Budget.
	Aim float64
}

// Budget is the policy for users who state how much over-capacity they
// accept rather than a utilisation target: a budget (the share of requests
// that may arrive while the ready tasks' capacity is exceeded, 0.5% by
// default) and a per-task capacity. It sets its own headroom from the
// traffic it sees:
//
//   - the count is ⌈max(level + headroom, last rate) ÷ Capacity⌉: a
//     headroom on top of a level (the mean rate over one of Levels, or
//     the last rate), and never below the last observed rate;
//   - the headroom is a factor × the level, or a factor × the volatility
//     (the root mean square of the rate's rises over Startup, measured
//     over VolatilityWindow);
//   - the level and the factor come from hindsight: alongside the real
//     farm the policy replays every level with a grid of factors on the
//     traffic it has seen (tasks serve Startup after launch and stop at
//     once, as in the farm), weighted by age with the Hindsight time
//     constant, and uses the cheapest setting (task-seconds, launches
//     included) that would have let at most Margin × Budget of the
//     requests arrive over capacity. A setting that would have been too
//     tight yesterday is not used today; one that would have been
//     wasteful gives way to a cheaper one. This is the feedback loop: it
//     raises the headroom after over-capacity and lowers it while there
//     is none, and it learns how bursty the traffic is and how far ahead
//     the mean predicts it, whatever the traffic;
//   - a correction loop covers what the replay cannot see (tasks slower to
//     start than Startup, requests queued at the balancer): while the
//     share over capacity the balancer reports is above the budget, the
//     target share shrinks in proportion.
//
// Over-capacity is measured from what the balancer reports: each poll,
// the requests beyond the ready tasks' capacity (Observation.RPS −
// Ready × Capacity, over the time since the previous sample), or the
// balancer's queue (Observation.Queued: with HAProxy, the requests waiting
// in the backend's queue and in the servers' own queues, where a server at
// its maxconn holds the requests bound to it by a hash or persistence)
// when that is larger. Each decision
// says it in its reason and carries it in Decision.Over for metrics.
//
// The count goes up at once, and down as the level falls (or, with a
// DownDelay, only to the largest count of the last DownDelay). As every
// policy here it holds on no data or a stale sample, never scales down on
// a degraded input or in the first minute after a start or gap, and stays
// within [Min, Max], raised to the highest Floor that applies.
//
// Create it with [NewBudget]. It keeps history and is used by one goroutine
// at a time.
type Budget struct {
	cfg   BudgetConfig
	valid bool

	hist   rolling   // rates over Startup and a bit: the rise's start
	levels []rolling // rates over each level window
	rises  rolling   // rises over Startup, within VolatilityWindow
	wants  window    // counts asked for, over DownDelay
	replay *hindsight
	lv     []float64 // the levels now

	first, last, start time.Time
	totalReq, totalOvr float64
	recentReq, recentO float64
}

var _ Policy = (*Budget)(nil)

// minSamples is the history needed before any scale-down after a start or
// gap.
const minSamples = time.Minute

// NewBudget validates cfg and returns a policy with no history. The error
// wraps [ErrInvalid] and names the field at fault.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.Floors = append([]Floor(nil), c.Floors...)
	for i := range c.Floors {
		c.Floors[i].Days = append([]time.Weekday(nil), c.Floors[i].Days...)
	}
	return &Budget{cfg: c, valid: true, levels: make([]rolling, len(c.Levels)), lv: make([]float64, len(c.Levels)),
		replay: newHindsight(len(c.Levels), c.Startup, c.Capacity, c.Min, c.Max)}, nil
}

// Config returns the configuration in force, defaults filled in.
func (p *Budget) Config() BudgetConfig {
	c := p.cfg
	c.Levels = append([]time.Duration(nil), c.Levels...)
	c.Floors = append([]Floor(nil), c.Floors...)
	return c
}

// floor returns the highest floor that applies at t, if any.
func (p *Budget) floor(t time.Time) (Floor, bool) {
	var best Floor
	found := false
	lt := t.In(p.cfg.Location)
	for _, f := range p.cfg.Floors {
		if f.applies(lt) && (!found || f.Tasks > best.Tasks) {
			best, found = f, true
		}
	}
	return best, found
}

// status returns the over-capacity measure with this poll's figures.
func (p *Budget) status(req, over float64) *OverCapacity {
	o := &OverCapacity{Requests: req, Over: over, TotalRequests: p.totalReq, TotalOver: p.totalOvr,
		Budget: p.cfg.Budget, Volatility: p.rises.rms()}
	o.Recent = p.recent()
	return o
}

// recent is the share of recent requests over capacity.
func (p *Budget) recent() float64 {
	if p.recentReq > 0 {
		return p.recentO / p.recentReq
	}
	return 0
}

// levelOf returns the rate level i stands for: the mean over its window,
// or the last rate.
func (p *Budget) levelOf(i int, rps float64) float64 {
	if p.cfg.Levels[i] == 0 || p.levels[i].n() == 0 {
		return rps
	}
	return p.levels[i].mean()
}

// Decide implements [Policy].
func (p *Budget) Decide(in Input) Decision {
	d := Decision{At: in.Now, Current: in.Current}
	if p == nil || !p.valid {
		d.Count, d.Reason = max(in.Current, 0), "budget is not configured (use NewBudget): hold"
		return d
	}
	c := p.cfg
	cur := clamp(in.Current, 0, maxCount)
	lo := c.Min
	fl, hasFloor := p.floor(in.Now)
	if hasFloor && fl.Tasks > lo {
		lo = fl.Tasks
	}
	bounds := func(want, got int) string {
		if hasFloor && want < got && got == fl.Tasks && fl.Tasks > c.Min {
			return fmt.Sprintf(" [raised to %s: %d]", fl, fl.Tasks)
		}
		return boundsNote(want, got, c.Min, c.Max)
	}
	holdOn := func(why string) Decision {
		d.Count = clamp(cur, lo, c.Max)
		d.Reason = "budget: " + why + fmt.Sprintf(": hold at %d", d.Count) + bounds(cur, d.Count)
		d.Over = p.status(0, 0)
		return d
	}
	if in.Obs == nil {
		if in.NoData != nil {
			return holdOn(fmt.Sprintf("no data (%v)", in.NoData))
		}
		return holdOn("no data")
	}
	at := in.Obs.At
	if at.IsZero() {
		at = in.Now
	}
	if age := in.Now.Sub(at); c.MaxAge > 0 && age > c.MaxAge {
		return holdOn(fmt.Sprintf("newest sample is %s old, over MaxAge %s", age.Round(time.Millisecond), c.MaxAge))
	}
	if !p.last.IsZero() && !at.After(p.last) {
		return holdOn(fmt.Sprintf("sample at %s is not newer than the previous one", at.Format(time.RFC3339Nano)))
	}
	rps := in.Obs.RPS
	if !finite(rps) {
		return holdOn(fmt.Sprintf("rps %v is not a rate", rps))
	}
	rps = min(max(rps, 0), c.Capacity*maxCount)
	ready := clamp(in.Ready, 0, maxCount)

	// Over-capacity since the previous sample.
	var dt float64
	prev := p.last
	gap := max(c.MaxAge, time.Minute)
	if !prev.IsZero() && at.Sub(prev) <= gap {
		dt = at.Sub(prev).Seconds()
	}
	if dt == 0 {
		p.first = at // a start, or a gap: the windows hold only what came since
		if p.start.IsZero() {
			p.start = at
		}
	}
	p.last = at
	capacity := float64(ready) * c.Capacity
	req := rps * dt
	over := max(0, rps-capacity) * dt
	if q := float64(in.Obs.Queued); dt > 0 && q > over {
		over = q
	}
	decay := 1.0
	if dt > 0 {
		decay = math.Exp(-dt / c.Hindsight.Seconds())
		p.totalReq += req
		p.totalOvr += over
		p.recentReq = p.recentReq*decay + req
		p.recentO = p.recentO*decay + over
	}

	// Volatility: the rise over Startup, measured over VolatilityWindow.
	if x, ok := p.hist.before(at.Add(-c.Startup)); ok {
		p.rises.add(at, max(0, rps-x), c.VolatilityWindow)
	}
	p.hist.add(at, rps, c.Startup+2*gap)
	lv := p.lv[:len(c.Levels)]
	for i, w := range c.Levels {
		if w > 0 {
			p.levels[i].add(at, rps, w)
		}
		lv[i] = p.levelOf(i, rps)
	}
	vol := p.rises.rms()
	if dt == 0 {
		prev = time.Time{}
	}
	p.replay.observe(prev, at, dt, rps, lv, vol, decay)

	// The correction: while the farm's own recent share over capacity is
	// above the budget, the replay missed something; aim lower in
	// proportion.
	target := c.Margin * c.Budget
	if r := p.recent(); r > c.Budget {
		target *= c.Budget / r
	}
	ch := p.replay.best(target)
	o := p.status(req, over)
	o.LevelWindow, o.Level, o.Factor, o.PerVolatility, o.Hindsight, o.Aim = c.Levels[ch.fam.level], lv[ch.fam.level], ch.factor, ch.fam.vol, ch.over, target
	unit := o.Level
	if ch.fam.vol {
		unit = vol
	}
	o.Headroom = ch.factor * unit
	warm := c.Warmup <= 0 || at.Sub(p.start) >= c.Warmup
	if !warm && o.Headroom < c.InitialHeadroom*o.Level {
		o.Headroom = c.InitialHeadroom * o.Level
	}
	want := ceilCount(max(o.Level+o.Headroom, rps) / c.Capacity)
	var notes []string
	rec := want
	if c.DownDelay > 0 {
		p.wants.Add(in.Now, float64(want), c.DownDelay)
		if rec < cur {
			if m := min(cur, int(p.wants.Max(in.Now, c.DownDelay, float64(rec)))); m > rec {
				notes = append(notes, fmt.Sprintf("largest count of the last %s is %d", c.DownDelay, m))
				rec = m
			}
		}
	}
	if rec < cur {
		switch {
		case at.Sub(p.first) < minSamples:
			notes = append(notes, fmt.Sprintf("only %s of samples; no scale-down before a full %s", at.Sub(p.first), minSamples))
			rec = cur
		case in.Degraded != nil:
			notes = append(notes, fmt.Sprintf("degraded input (%v); no scale-down", in.Degraded))
			rec = cur
		}
	}
	if cur == 0 && rps > 0 && rec == 0 {
		rec = 1
	}
	d.Count = clamp(rec, lo, c.Max)
	d.Over = o

	var b strings.Builder
	level := "last rate"
	if o.LevelWindow > 0 {
		level = o.LevelWindow.String() + " mean"
	}
	fmt.Fprintf(&b, "budget: rps %s (%s %s) + headroom %s", fmtRate(rps), level, fmtRate(o.Level), fmtRate(o.Headroom))
	switch {
	case !warm && o.Headroom == c.InitialHeadroom*o.Level:
		fmt.Fprintf(&b, " (%.2g × level while warming up)", c.InitialHeadroom)
	case ch.fam.vol:
		fmt.Fprintf(&b, " (%.2g × rise %s over %s)", o.Factor, fmtRate(vol), c.Startup)
	default:
		fmt.Fprintf(&b, " (%.2g × level)", o.Factor)
	}
	fmt.Fprintf(&b, " over %d ready", ready)
	if in.Starting > 0 {
		fmt.Fprintf(&b, " + %d starting", in.Starting)
	}
	fmt.Fprintf(&b, " tasks, %s/task → %d", fmtRate(c.Capacity), d.Count)
	if over > 0 {
		fmt.Fprintf(&b, "; over capacity now: %s requests", fmtRate(over))
		if rps > capacity {
			fmt.Fprintf(&b, " (rps %s > %d ready × %s)", fmtRate(rps), ready, fmtRate(c.Capacity))
		}
		if in.Obs.Queued > 0 {
			fmt.Fprintf(&b, " (%d queued at the balancer)", in.Obs.Queued)
		}
	}
	fmt.Fprintf(&b, "; over capacity recently %.3f%% of requests, budget %.3g%%; this setting in hindsight %.3f%%, aim %.3g%%", 100*o.Recent, 100*c.Budget, 100*o.Hindsight, 100*target)
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, "; ") + ")")
	}
	b.WriteString(bounds(rec, d.Count))
	d.Reason = b.String()
	return d
}
