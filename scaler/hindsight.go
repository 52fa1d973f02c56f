package scaler

import "time"

// hindsight replays, alongside the real farm, every candidate setting of
// the Budget policy on the traffic the policy has seen: for each level
// (the mean over one of the level windows) and each headroom on top of it
// (a factor × the level, or a factor × the measured volatility), the
// count that setting would have asked for at each poll, the capacity that
// would then have been ready (a task serves Startup after its launch and
// stops at once), the requests that would have arrived over it, and the
// task-seconds it would have cost. The sums decay with the hindsight time
// constant, so they describe the recent past. The policy then runs the
// cheapest setting that would have kept the share of requests over
// capacity within its target.
//
// The replay is the farm's own model: scale-ups serve after Startup,
// scale-downs take effect at once, counts are whole tasks within [Min,
// Max]. What it cannot model (a slower start-up than configured, a queue
// at the balancer) the policy's correction loop covers.
type hindsight struct {
	startup  time.Duration
	capacity float64
	lo, hi   int

	fams  []armFamily // per level: the factors of the level, then of the volatility
	req   float64
	polls []int64 // decision times (Unix ns) over the last startup and a bit
	ph    int
}

// A family of arms shares a level window and a headroom unit.
type family struct {
	level int  // index into the level windows
	vol   bool // headroom in units of volatility; else of the level
}

// armFamily is a family and its arms, by increasing factor.
type armFamily struct {
	family
	arms []arm
}

// arm is one candidate setting and what it would have done.
type arm struct {
	factor     float64
	over, cost float64 // decayed requests over capacity, task-seconds
	last       int     // count it asked for at the previous poll
	q          []armCount
	qh         int
}

// armCount is a count an arm asked for and when (Unix ns: no pointer for
// the garbage collector to follow in these hot slices).
type armCount struct {
	at int64
	n  int
}

// Headroom factors the replay tries: in units of the level (a share of
// the rate) and in units of the volatility (the root mean square of the
// rate's rises over Startup).
var (
	levelFactors = geometric(0.01, 1.2, 3.0)
	volFactors   = geometric(0.1, 1.2, 30)
)

// geometric returns 0 and a geometric series from a by ratio r up to at
// least b.
func geometric(a, r, b float64) []float64 {
	out := []float64{0}
	for x := a; ; x *= r {
		out = append(out, x)
		if x >= b {
			return out
		}
	}
}

func newHindsight(levels int, startup time.Duration, capacity float64, lo, hi int) *hindsight {
	h := &hindsight{startup: startup, capacity: capacity, lo: lo, hi: hi}
	for lv := range levels {
		for _, vol := range []bool{false, true} {
			factors := levelFactors
			if vol {
				factors = volFactors
			}
			f := armFamily{family: family{lv, vol}, arms: make([]arm, len(factors))}
			for i, x := range factors {
				f.arms[i] = arm{factor: x, last: -1}
			}
			h.fams = append(h.fams, f)
		}
	}
	return h
}

// count is the count of a setting: ⌈max(level + factor × unit, rps) ÷
// capacity⌉ within [lo, hi].
func (h *hindsight) count(level, unit, factor, rps float64) int {
	return clamp(ceilCount(max(level+factor*unit, rps)/h.capacity), h.lo, h.hi)
}

// readyFrom returns the time of the oldest decision whose count can still
// be the one ready during the interval that ends at at and began at prev:
// the newest decision at or before prev − startup.
func (h *hindsight) readyFrom(prev time.Time) (int64, bool) {
	if prev.IsZero() {
		return 0, false
	}
	cut := prev.Add(-h.startup).UnixNano()
	for i := len(h.polls) - 1; i >= h.ph; i-- {
		if h.polls[i] <= cut {
			return h.polls[i], true
		}
	}
	return 0, false
}

// observe takes the rate seen over (prev, at] (dt seconds; 0 after a gap,
// when nothing is charged), the levels and volatility now, and the decay
// of the sums over dt; it charges every arm for the interval and records
// the count each would ask for now.
func (h *hindsight) observe(prev, at time.Time, dt, rps float64, levels []float64, vol, decay float64) {
	from, ok := h.readyFrom(prev)
	now := at.UnixNano()
	if dt > 0 {
		h.req = h.req*decay + rps*dt
	}
	for fi := range h.fams {
		f := &h.fams[fi]
		lv := levels[f.level]
		unit := lv
		if f.vol {
			unit = vol
		}
		for i := range f.arms {
			h.charge(&f.arms[i], from, ok, now, dt, rps, h.count(lv, unit, f.arms[i].factor, rps), decay)
		}
	}
	h.polls = append(h.polls, now)
	keep := at.Add(-h.startup - 2*time.Minute).UnixNano()
	for h.ph < len(h.polls)-1 && h.polls[h.ph] < keep {
		h.ph++
	}
	if h.ph >= 64 && h.ph > len(h.polls)/2 {
		h.polls = append(h.polls[:0], h.polls[h.ph:]...)
		h.ph = 0
	}
}

// charge charges arm a for the interval that ends at now (dt seconds, at
// rps) with the count ready then, and records n, the count it asks for now.
// from and ok are readyFrom's answer.
func (h *hindsight) charge(a *arm, from int64, ok bool, now int64, dt, rps float64, n int, decay float64) {
	// Drop counts older than the one ready now: they can never be
	// the ready count again.
	for ok && a.qh < len(a.q)-1 && a.q[a.qh].at < from {
		a.qh++
	}
	if dt > 0 && a.last >= 0 {
		ready := a.last
		if ok && a.qh < len(a.q) {
			ready = a.q[a.qh].n // the least count since the one ready
		}
		a.over = a.over*decay + max(0, rps-float64(ready)*h.capacity)*dt
		a.cost = a.cost*decay + float64(a.last)*dt
	}
	if a.last >= 0 && n > a.last {
		a.cost += float64(n-a.last) * h.startup.Seconds()
	}
	// Keep the counts increasing from the head: a newer, smaller
	// count is the least of every window that holds an older one.
	for len(a.q) > a.qh && a.q[len(a.q)-1].n >= n {
		a.q = a.q[:len(a.q)-1]
	}
	a.q = append(a.q, armCount{now, n})
	if a.qh >= 32 && a.qh > len(a.q)/2 {
		a.q = append(a.q[:0], a.q[a.qh:]...)
		a.qh = 0
	}
	a.last = n
}

// choice is the setting the replay picks.
type choice struct {
	fam    family
	factor float64
	over   float64 // share of requests the setting would have let over
	cost   float64 // its task-seconds, decayed
	ok     bool    // whether it met the target; else the largest factor
}

// best returns, for each family, the least factor whose share over
// capacity is within target, and of those the cheapest. It picks a factor
// of the grid, one the replay has checked, and never one between two:
// with whole tasks the share over is a step function of the factor, and a
// factor between a setting that met the target and one that did not can
// ask for the very counts of the one that did not (TestBudget, "hindsight
// raises the headroom after over-capacity", failed that way).
func (h *hindsight) best(target float64) choice {
	var out choice
	for fi, f := range h.fams {
		pick, met := len(f.arms)-1, false
		for i, a := range f.arms {
			if a.over <= target*h.req {
				pick, met = i, true
				break
			}
		}
		a := f.arms[pick]
		c := choice{fam: f.family, factor: a.factor, cost: a.cost, over: a.over, ok: met}
		if h.req > 0 {
			c.over /= h.req
		}
		if fi == 0 || c.ok && !out.ok || c.ok == out.ok && (c.ok && c.cost < out.cost || !c.ok && c.over < out.over) {
			out = c
		}
	}
	return out
}
