package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/webfarm/webfarm/scaler"
)

// Config is the model the simulator replays a trace against.
type Config struct {
	// Capacity is the requests per second one ready task serves. Traffic
	// above ready tasks × Capacity is over capacity. Required.
	Capacity float64
	// Startup is the time from launching a task to its serving traffic.
	// Starting tasks cost task-seconds but serve nothing. Zero means tasks
	// serve at once.
	Startup time.Duration
	// Poll is the interval between policy decisions (scaler.Controller's
	// Interval); each decision sees the mean rate since the previous one.
	// If zero, 2s. Must be a whole number of seconds.
	Poll time.Duration
	// Initial is the number of ready tasks at the start. If zero, the
	// oracle's count for the first second.
	Initial int
	// Min and Max bound the oracle's count (give it the bounds the
	// policies have). Max zero means no bound.
	Min, Max int
}

func (c Config) poll() time.Duration {
	if c.Poll == 0 {
		return 2 * time.Second
	}
	return c.Poll
}

func (c Config) validate() error {
	switch {
	case math.IsNaN(c.Capacity) || math.IsInf(c.Capacity, 0) || c.Capacity <= 0:
		return fmt.Errorf("sim: Capacity %v must be a finite number > 0", c.Capacity)
	case c.Startup < 0 || c.Startup%time.Second != 0:
		return fmt.Errorf("sim: Startup %s must be a whole number of seconds ≥ 0", c.Startup)
	case c.Poll < 0 || c.Poll%time.Second != 0:
		return fmt.Errorf("sim: Poll %s must be a whole number of seconds ≥ 0", c.Poll)
	case c.Initial < 0 || c.Min < 0 || c.Max < 0:
		return fmt.Errorf("sim: Initial %d, Min %d and Max %d must not be negative", c.Initial, c.Min, c.Max)
	case c.Max > 0 && c.Max < c.Min:
		return fmt.Errorf("sim: Max %d is below Min %d", c.Max, c.Min)
	}
	return nil
}

// Result is what one replay cost and how well it served.
type Result struct {
	// Name labels the row in a table.
	Name string
	// Seconds is the number of simulated seconds with known demand; every
	// other figure covers those seconds only.
	Seconds int
	// TaskSeconds is the sum over seconds of tasks running or starting.
	TaskSeconds float64
	// Requests is the number of requests offered.
	Requests float64
	// RequestsOver is the number of requests above capacity: the SLO
	// violations.
	RequestsOver float64
	// SecondsOver is the number of seconds with demand above capacity.
	SecondsOver int
	// Actions is the number of times the desired count changed.
	Actions int
	// Reversals is the number of actions that reversed the direction of
	// the previous one less than FlapWindow after it: up then down, or
	// down then up, within two minutes.
	Reversals int
	// Flaps is the number of those reversals with no change in demand in
	// between (the same trace bucket): oscillation of the policy itself,
	// rather than a reaction to new traffic.
	Flaps int
	// PeakTasks is the largest count of tasks running or starting.
	PeakTasks int
}

// OverPercent is RequestsOver as a percentage of Requests.
func (r Result) OverPercent() float64 {
	if r.Requests == 0 {
		return 0
	}
	return 100 * r.RequestsOver / r.Requests
}

// TaskHours is TaskSeconds in hours.
func (r Result) TaskHours() float64 { return r.TaskSeconds / 3600 }

// FlapWindow is the span within which an action that undoes the previous
// one counts as a reversal.
const FlapWindow = 2 * time.Minute

// farm is the simulated target: ready tasks and tasks starting.
type farm struct {
	ready    int
	starting []int // second at which each starting task turns ready, in launch order
}

func (f *farm) total() int { return f.ready + len(f.starting) }

// promote makes the tasks due by second t ready.
func (f *farm) promote(t int) {
	i := 0
	for _, due := range f.starting {
		if due <= t {
			f.ready++
		} else {
			f.starting[i] = due
			i++
		}
	}
	f.starting = f.starting[:i]
}

// set makes n the number of tasks: launches tasks that turn ready after
// startup seconds, or stops the youngest starting tasks first, then ready
// ones.
func (f *farm) set(n, t, startup int) {
	for f.total() < n {
		f.starting = append(f.starting, t+startup)
	}
	for f.total() > n && len(f.starting) > 0 {
		f.starting = f.starting[:len(f.starting)-1]
	}
	if f.total() > n {
		f.ready = n
	}
}

// Run replays tr through s. Every Poll it gives s the mean rate of the
// seconds since the previous poll (no observation, with a NoData error,
// when any of them is unknown), the count in force and the ready and
// starting tasks, and applies the decision at once: launched tasks turn
// ready after Startup; removed tasks stop at once, starting ones first.
// Run returns early with ctx's error once ctx is done.
func Run(ctx context.Context, tr Trace, s scaler.Policy, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if err := tr.Validate(); err != nil {
		return Result{}, err
	}
	if s == nil {
		return Result{}, errors.New("sim: nil Scaler")
	}
	step := int(tr.Step / time.Second)
	poll := int(cfg.poll() / time.Second)
	startup := int(cfg.Startup / time.Second)
	n := len(tr.Rates) * step
	initial := cfg.Initial
	if initial == 0 {
		initial = cfg.oracleNeed(tr.Rates[0])
	}
	f := &farm{ready: initial}
	desired := initial
	lastDir, lastAt, lastBucket := 0, math.MinInt/2, -1
	flap := int(FlapWindow / time.Second)
	var res Result
	var sum float64
	sumN, unknown := 0, false
	for t := range n {
		if t%65536 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		f.promote(t)
		r := tr.Rates[t/step]
		if math.IsNaN(r) {
			unknown = true
		} else {
			res.Seconds++
			res.TaskSeconds += float64(f.total())
			res.Requests += r
			if over := r - float64(f.ready)*cfg.Capacity; over > 1e-9 {
				res.RequestsOver += over
				res.SecondsOver++
			}
			sum += r
			sumN++
		}
		res.PeakTasks = max(res.PeakTasks, f.total())
		if (t+1)%poll != 0 {
			continue
		}
		now := tr.Start.Add(time.Duration(t+1) * time.Second)
		in := scaler.Input{Now: now, Current: desired, Ready: f.ready, Starting: len(f.starting)}
		if unknown || sumN == 0 {
			in.NoData = errors.New("trace: demand unknown")
		} else {
			in.Obs = &scaler.Observation{At: now, RPS: sum / float64(sumN)}
		}
		sum, sumN, unknown = 0, 0, false
		d := s.Decide(in)
		if d.Count < 0 {
			return res, fmt.Errorf("sim: policy returned a negative count %d at %s (%s)", d.Count, now, d.Reason)
		}
		if d.Count != desired {
			dir := 1
			if d.Count < desired {
				dir = -1
			}
			if dir == -lastDir && t+1-lastAt < flap {
				res.Reversals++
				if t/step == lastBucket {
					res.Flaps++
				}
			}
			lastDir, lastAt, lastBucket = dir, t+1, t/step
			res.Actions++
			desired = d.Count
			f.set(desired, t+1, startup)
		}
	}
	return res, nil
}

// oracleNeed is the count the oracle runs for rate r.
func (c Config) oracleNeed(r float64) int {
	if math.IsNaN(r) {
		r = 0
	}
	n := int(math.Ceil(r/c.Capacity - 1e-9))
	n = max(n, c.Min)
	if c.Max > 0 {
		n = min(n, c.Max)
	}
	return n
}

// Oracle returns the cost of the policy that knows the future: every task
// is launched exactly Startup before the second it is needed and stopped
// right after the last second it is needed, unless it will be needed
// again within Startup, in which case keeping it idle is cheaper than a
// new launch. It never runs over capacity (unless Max forbids). Its
// Actions counts changes of the serving count.
func Oracle(ctx context.Context, tr Trace, cfg Config) (Result, error) {
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	if err := tr.Validate(); err != nil {
		return Result{}, err
	}
	step := int(tr.Step / time.Second)
	startup := int(cfg.Startup / time.Second)
	res := Result{Name: "oracle"}
	// last[k] is the last known second at which task k+1 was needed.
	initial := cfg.Initial
	if initial == 0 {
		initial = cfg.oracleNeed(tr.Rates[0])
	}
	last := make([]int, initial, 64)
	for k := range last {
		last[k] = -1 // ready at the start, no launch cost
	}
	launched := make([]bool, initial, 64)
	for k := range launched {
		launched[k] = true
	}
	prev := -1
	known := 0 // seconds with known demand so far; the timeline of the oracle
	for i, r := range tr.Rates {
		if i%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		if math.IsNaN(r) {
			continue
		}
		need := cfg.oracleNeed(r)
		if need != prev {
			if prev >= 0 {
				res.Actions++
			}
			prev = need
		}
		if over := r - float64(need)*cfg.Capacity; over > 1e-9 {
			res.RequestsOver += over * float64(step)
			res.SecondsOver += step
		}
		res.Requests += r * float64(step)
		res.Seconds += step
		res.PeakTasks = max(res.PeakTasks, need)
		for len(last) < need {
			last = append(last, 0)
			launched = append(launched, false)
		}
		first, end := known, known+step-1 // this bucket's seconds on the known timeline
		for k := range need {
			switch {
			case !launched[k]:
				res.TaskSeconds += float64(startup)
				launched[k] = true
			case last[k] < first-1:
				if gap := first - 1 - last[k]; gap <= startup {
					res.TaskSeconds += float64(gap)
				} else {
					res.TaskSeconds += float64(startup)
				}
			}
			res.TaskSeconds += float64(step)
			last[k] = end
		}
		known += step
	}
	return res, nil
}
