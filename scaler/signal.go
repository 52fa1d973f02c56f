package scaler

import "fmt"

// Names of the signals every [Observation] carries. Any other name refers
// to a key of Observation.Signals.
const (
	// SignalRPS is Observation.RPS, requests per second over the farm.
	SignalRPS = "rps"
	// SignalActive is Observation.Active, requests in flight.
	SignalActive = "active"
	// SignalQueued is Observation.Queued, requests waiting for a backend.
	SignalQueued = "queued"
)

// Signal is one metric a policy tracks, with the value per task to aim for.
//
// A total signal (requests per second, requests in flight, queue length)
// is summed over the farm and asks for ⌈value / ValuePerTask⌉ tasks. A
// per-task signal (CPU utilization, response time) is already an average
// over the ready tasks and asks for ⌈Ready × value / ValuePerTask⌉ tasks,
// as the HPA and the Nomad Autoscaler's target-value strategy compute it.
type Signal struct {
	// Name is SignalRPS, SignalActive, SignalQueued, or a key of
	// Observation.Signals (for example "cpu" or "latency_ms").
	Name string
	// ValuePerTask is the value per task to aim for (5 queued requests
	// per task; for a PerTask signal, the average to hold, such as 0.6
	// CPU). Must be > 0.
	ValuePerTask float64
	// PerTask says the value is an average over ready tasks rather than a
	// total over the farm.
	PerTask bool
}

func (s Signal) validate(policy string) error {
	switch {
	case s.Name == "":
		return fmt.Errorf("%s: signal with no name: %w", policy, ErrInvalid)
	case !finite(s.ValuePerTask) || s.ValuePerTask == 0:
		return fmt.Errorf("%s: signal %q: ValuePerTask %v must be a finite number > 0: %w", policy, s.Name, s.ValuePerTask, ErrInvalid)
	}
	return nil
}

// value returns the signal's value in o, and whether o has one.
func (s Signal) value(o *Observation) (float64, bool) {
	switch s.Name {
	case SignalRPS:
		return o.RPS, true
	case SignalActive:
		return float64(o.Active), true
	case SignalQueued:
		return float64(o.Queued), true
	}
	v, ok := o.Signals[s.Name]
	return v, ok
}

// need returns the number of tasks (not rounded) value asks for with ready
// tasks serving, and false when it cannot tell (a per-task signal with no
// ready task).
func (s Signal) need(value float64, ready int) (float64, bool) {
	if !s.PerTask {
		return value / s.ValuePerTask, true
	}
	if ready <= 0 {
		return 0, false
	}
	return float64(ready) * value / s.ValuePerTask, true
}
