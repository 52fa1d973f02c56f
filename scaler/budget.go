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
	DefaultMeanWindow       = 30 * time.Second
	DefaultVolatilityWindow = 30 * time.Minute
	DefaultFeedbackTime     = 24 * time.Hour
	DefaultHeadroomFactor   = 1.0
	DefaultDownDelay        = time.Duration(0) // none
)

// Bounds of the headroom factor the feedback loop sets: it cannot wind up
// without limit while the traffic is too smooth to measure.
const (
	MinHeadroomFactor = 0.1
	MaxHeadroomFactor = 20.0
)

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
	// MeanWindow is the span of the slow mean the headroom sits on top of.
	// It is also the history the policy needs before any scale-down after
	// a start or a gap. If zero, 30s.
	MeanWindow time.Duration
	// VolatilityWindow is the span over which rises are measured. If
	// zero, 30m.
	VolatilityWindow time.Duration
	// FeedbackTime is the time constant of the feedback loop: with no
	// over-capacity the headroom factor falls by a factor e in this time;
	// over-capacity raises it in proportion to the requests over the
	// budget. If zero, 24h.
	FeedbackTime time.Duration
	// HeadroomFactor is the factor the feedback loop starts from: headroom
	// = factor × volatility. If zero, 1. Must be within
	// [MinHeadroomFactor, MaxHeadroomFactor].
	HeadroomFactor float64
	// DownDelay: the count goes down only to the largest count asked for
	// in the last DownDelay. Zero or negative means none (the default:
	// the slow mean already delays scale-down).
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
	if c.HeadroomFactor == 0 {
		c.HeadroomFactor = DefaultHeadroomFactor
	}
	c.Startup = orDuration(c.Startup, DefaultStartup)
	c.MeanWindow = orDuration(c.MeanWindow, DefaultMeanWindow)
	c.VolatilityWindow = orDuration(c.VolatilityWindow, DefaultVolatilityWindow)
	c.FeedbackTime = orDuration(c.FeedbackTime, DefaultFeedbackTime)
	c.MaxAge = orDuration(c.MaxAge, DefaultMaxAge)
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

func (c BudgetConfig) validate() error {
	const p = "budget"
	switch {
	case !finite(c.Capacity) || c.Capacity == 0:
		return fmt.Errorf("%s: Capacity %v must be a finite number > 0: %w", p, c.Capacity, ErrInvalid)
	case !finite(c.Budget) || c.Budget >= 1:
		return fmt.Errorf("%s: Budget %v must be a share in (0, 1), such as 0.005 for 0.5%%: %w", p, c.Budget, ErrInvalid)
	case math.IsNaN(c.HeadroomFactor) || c.HeadroomFactor < MinHeadroomFactor || c.HeadroomFactor > MaxHeadroomFactor:
		return fmt.Errorf("%s: HeadroomFactor %v must be in [%g, %g]: %w", p, c.HeadroomFactor, MinHeadroomFactor, MaxHeadroomFactor, ErrInvalid)
	}
	if err := checkBounds(p, c.Min, c.Max); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"Startup", c.Startup}, {"MeanWindow", c.MeanWindow}, {"VolatilityWindow", c.VolatilityWindow}, {"FeedbackTime", c.FeedbackTime}} {
		if err := checkDuration(p, f.name, f.d); err != nil {
			return err
		}
	}
	if c.MeanWindow > c.VolatilityWindow {
		return fmt.Errorf("%s: MeanWindow %s is longer than VolatilityWindow %s: %w", p, c.MeanWindow, c.VolatilityWindow, ErrInvalid)
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
	// weighted by age with the feedback time constant: 0.004 is 0.4%.
	Recent float64
	// Budget is the share allowed (BudgetConfig.Budget).
	Budget float64
	// Volatility is the measured rise of the rate over the start-up time
	// (root mean square of the rises, req/s); Factor the multiplier the
	// feedback loop set; Headroom = Factor × Volatility, the capacity held
	// above the expected rate (req/s).
	Volatility, Factor, Headroom float64
}

// Budget is the policy for users who state how much over-capacity they
// accept rather than a utilisation target: a budget (the share of requests
// that may arrive while the ready tasks' capacity is exceeded, 0.5% by
// default) and a per-task capacity. It sets its own headroom from the
// traffic it sees:
//
//   - volatility: the root mean square of the rate's rises over Startup
//     (falls count as zero), measured over VolatilityWindow;
//   - headroom = factor × volatility, on top of the mean rate over
//     MeanWindow, and never below the last observed rate: the count is
//     ⌈max(mean + headroom, last rate) / Capacity⌉;
//   - the factor is a slow feedback loop (FeedbackTime, hours): every
//     request over capacity raises it, every request within capacity
//     lowers it, weighted so that it rests where the share over capacity
//     equals the budget, whatever the traffic. It stays within
//     [MinHeadroomFactor, MaxHeadroomFactor].
//
// Over-capacity is measured from what the balancer reports: each poll,
// the requests beyond the ready tasks' capacity (Observation.RPS −
// Ready × Capacity, over the time since the previous sample), or the
// balancer's queue (Observation.Queued: HAProxy queues a request only
// when every server is at its maxconn) when that is larger. Each decision
// says it in its reason and carries it in Decision.Over for metrics.
//
// The count goes up at once, and down as the mean falls (or, with a
// DownDelay, only to the largest count of the last DownDelay). As every
// policy here it holds on no data or a stale sample, never scales down on
// a degraded input or in the first MeanWindow after a start or gap, and
// stays within [Min, Max], raised to the highest Floor that applies.
//
// Create it with [NewBudget]. It keeps history and is used by one goroutine
// at a time.
type Budget struct {
	cfg   BudgetConfig
	valid bool

	hist  rolling // rates over Startup and a bit: the rise's start
	mean  rolling // rates over MeanWindow
	slow  rolling // rates over VolatilityWindow: scales the feedback
	rises rolling // rises over Startup, within VolatilityWindow
	wants window  // counts asked for, over DownDelay

	logFactor          float64
	first, last        time.Time
	totalReq, totalOvr float64
	recentReq, recentO float64
}

var _ Policy = (*Budget)(nil)

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
	return &Budget{cfg: c, valid: true, logFactor: math.Log(c.HeadroomFactor)}, nil
}

// Config returns the configuration in force, defaults filled in.
func (p *Budget) Config() BudgetConfig { return p.cfg }

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
func (p *Budget) status(req, over, vol float64) *OverCapacity {
	o := &OverCapacity{Requests: req, Over: over, TotalRequests: p.totalReq, TotalOver: p.totalOvr,
		Budget: p.cfg.Budget, Volatility: vol, Factor: math.Exp(p.logFactor)}
	if p.recentReq > 0 {
		o.Recent = p.recentO / p.recentReq
	}
	o.Headroom = o.Factor * vol
	return o
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
		d.Over = p.status(0, 0, p.rises.rms())
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
	rps = min(rps, c.Capacity*maxCount)
	ready := clamp(in.Ready, 0, maxCount)

	// Over-capacity since the previous sample, and the feedback.
	var dt float64
	if !p.last.IsZero() && at.Sub(p.last) <= max(c.MaxAge, time.Minute) {
		dt = at.Sub(p.last).Seconds()
	}
	if at.Sub(p.last) > c.MeanWindow || p.first.IsZero() {
		p.first = at // a start, or a gap: the windows hold only what came since
	}
	p.last = at
	capacity := float64(ready) * c.Capacity
	req := rps * dt
	over := max(0, rps-capacity) * dt
	if q := float64(in.Obs.Queued); dt > 0 && q > over {
		over = q
	}
	slow := p.slow.mean()
	if dt > 0 {
		p.totalReq += req
		p.totalOvr += over
		decay := math.Exp(-dt / c.FeedbackTime.Seconds())
		p.recentReq = p.recentReq*decay + req
		p.recentO = p.recentO*decay + over
		if slow > 0 {
			// d ln(factor) = (over/budget − requests) / (mean rate × τ):
			// −dt/τ a poll with none over, at rest where over = budget ×
			// requests.
			u := (over/c.Budget - req) / (slow * c.FeedbackTime.Seconds())
			p.logFactor = max(math.Log(MinHeadroomFactor), min(math.Log(MaxHeadroomFactor), p.logFactor+u))
		}
	}

	// Volatility: the rise over Startup, measured over VolatilityWindow.
	if prev, ok := p.hist.before(at.Add(-c.Startup)); ok {
		p.rises.add(at, max(0, rps-prev), c.VolatilityWindow)
	}
	p.hist.add(at, rps, c.Startup+2*max(c.MaxAge, time.Minute))
	p.mean.add(at, rps, c.MeanWindow)
	p.slow.add(at, rps, c.VolatilityWindow)

	mean := p.mean.mean()
	vol := p.rises.rms()
	o := p.status(req, over, vol)
	want := ceilCount(max(mean+o.Headroom, rps) / c.Capacity)
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
		case at.Sub(p.first) < c.MeanWindow:
			notes = append(notes, fmt.Sprintf("only %s of samples; no scale-down before a full %s", at.Sub(p.first), c.MeanWindow))
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
	fmt.Fprintf(&b, "budget: rps %s (%s mean %s) + headroom %s (%.2g × rise %s over %s) over %d ready",
		fmtRate(rps), c.MeanWindow, fmtRate(mean), fmtRate(o.Headroom), o.Factor, fmtRate(vol), c.Startup, ready)
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
	fmt.Fprintf(&b, "; over capacity recently %.3f%% of requests, budget %.3g%%", 100*o.Recent, 100*c.Budget)
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, "; ") + ")")
	}
	b.WriteString(bounds(rec, d.Count))
	d.Reason = b.String()
	return d
}
