// Package policytest drives a scaler.Policy by hand, for the tests of
// scaler and scaler/baseline.
package policytest

import (
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
)

// T0 is the start of every timeline.
var T0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Timeline drives a policy by hand: a poll every 2 s, the decision applied
// at once, tasks ready at once unless a test says otherwise.
type Timeline struct {
	T        testing.TB
	P        scaler.Policy
	Now      time.Time
	Cur      int
	Ready    int // -1: ready follows Cur
	Starting int
	Last     scaler.Decision
}

// New returns a timeline at T0 for p with cur tasks in force.
func New(t testing.TB, p scaler.Policy, cur int) *Timeline {
	return &Timeline{T: t, P: p, Now: T0, Cur: cur, Ready: -1}
}

// Input returns the input for one poll with obs (nil for no data).
func (x *Timeline) Input(obs *scaler.Observation) scaler.Input {
	ready := x.Ready
	if ready < 0 {
		ready = x.Cur
	}
	return scaler.Input{Now: x.Now, Current: x.Cur, Ready: ready, Starting: x.Starting, Obs: obs}
}

// Poll advances 2 s and decides on one observation of rps.
func (x *Timeline) Poll(rps float64) scaler.Decision {
	x.Now = x.Now.Add(2 * time.Second)
	return x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now, RPS: rps})))
}

// Apply checks that d answers the count in force and puts it in force.
func (x *Timeline) Apply(d scaler.Decision) scaler.Decision {
	x.T.Helper()
	if d.Current != x.Cur {
		x.T.Fatalf("decision %v: Current %d, want %d", d, d.Current, x.Cur)
	}
	x.Cur, x.Last = d.Count, d
	return d
}

// Feed polls every 2 s for span at rps, returning the last decision.
func (x *Timeline) Feed(span time.Duration, rps float64) scaler.Decision {
	var d scaler.Decision
	for range int(span / (2 * time.Second)) {
		d = x.Poll(rps)
	}
	return d
}

// Expect checks the count in force and that the last reason mentions reason.
func (x *Timeline) Expect(step string, count int, reason string) {
	x.T.Helper()
	if x.Cur != count {
		x.T.Fatalf("%s (t+%s): count %d, want %d (%s)", step, x.Now.Sub(T0), x.Cur, count, x.Last)
	}
	if !strings.Contains(x.Last.Reason, reason) {
		x.T.Fatalf("%s (t+%s): reason %q, want it to contain %q", step, x.Now.Sub(T0), x.Last.Reason, reason)
	}
}
