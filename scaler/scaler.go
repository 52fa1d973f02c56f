package scaler

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Observation is what one poll of the load balancer saw.
type Observation struct {
	// At is the instant the reading describes (lb.Stats.At), which for a
	// delayed source is older than the poll.
	At time.Time
	// RPS is the request rate over the interval that ends at At.
	RPS float64
	// Active and Queued are the balancer's gauges at At.
	Active, Queued int
	// Signals holds further metrics by name (for example "latency_ms" or
	// "cpu"), for policies that use them. Nil when there are none.
	Signals map[string]float64
}

// Input is what a policy decides from.
type Input struct {
	// Now is the time of the decision.
	Now time.Time
	// Current is the desired count in force: what the runner was last told.
	Current int
	// Ready is the number of tasks serving traffic now. Tasks still
	// starting are not ready.
	Ready int
	// Starting is the number of tasks launched but not yet serving. They
	// carry no traffic, so policies leave them out of per-task figures.
	Starting int
	// Obs is this poll's observation, or nil when there is none (the
	// balancer failed, or the reading gave no rate yet). A policy holds the
	// count when there is no data; it never scales down because of it.
	Obs *Observation
	// NoData says why Obs is nil, for the decision's reason.
	NoData error
	// Degraded, when not nil, says that some signal source failed this
	// poll: Obs holds what the others gave. A policy must not scale down
	// on a degraded input, since the missing signal might have asked for
	// more.
	Degraded error
}

// Decision is a policy's answer.
type Decision struct {
	// At is Input.Now.
	At time.Time
	// Current is Input.Current; Count is the desired count.
	Current, Count int
	// Reason says why, in words an operator reads: "rps 812 over 4 tasks,
	// target 150/task → 6".
	Reason string
	// Over is the over-capacity measure of a policy that keeps one
	// ([Budget]), for metrics; nil for the others.
	Over *OverCapacity
}

// Direction is the sign of a decision.
type Direction int

// Directions of a decision.
const (
	Hold Direction = iota
	Up
	Down
)

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return "hold"
}

// Direction reports whether d scales up, down, or holds.
func (d Decision) Direction() Direction {
	switch {
	case d.Count > d.Current:
		return Up
	case d.Count < d.Current:
		return Down
	}
	return Hold
}

// String returns "current→count: reason".
func (d Decision) String() string {
	return fmt.Sprintf("%d→%d: %s", d.Current, d.Count, d.Reason)
}

// Policy decides how many tasks to run: observations and the current count
// in, a desired count and a reason out.
//
// Decide is called once per poll with inputs in time order. An
// implementation may keep history between calls (windows, cooldowns) but
// must do no I/O and read no clock: the same sequence of inputs gives the
// same sequence of decisions. It must not panic on any input (NaN, Inf or
// negative rates, zero or negative counts) and never returns a negative
// count. A Policy is used by one goroutine at a time.
type Policy interface {
	Decide(in Input) Decision
}

// Scaler is the former name of [Policy].
//
// Deprecated: use Policy.
type Scaler = Policy

// Status is what a [Runner] runs.
type Status struct {
	// Desired is the count the runner was last told to run.
	Desired int
	// Running is the number of tasks serving (running, and in the balancer).
	Running int
	// Starting is the number of tasks launched but not yet serving.
	Starting int
}

// Runner runs the tasks: it is told how many to run and reports how many
// run. The Mesos scheduler (and each of its services) implements it. Its
// methods must be safe for concurrent use and return promptly once ctx is
// done.
type Runner interface {
	// Status reports the desired and actual counts.
	Status(ctx context.Context) (Status, error)
	// SetDesired asks the runner to run n tasks. It returns once the
	// request is recorded, not when the tasks run.
	SetDesired(ctx context.Context, n int) error
}

// Target is the former name of [Runner].
//
// Deprecated: use Runner.
type Target = Runner

// ErrInvalid is wrapped by errors from invalid configuration.
var ErrInvalid = errors.New("scaler: invalid configuration")
