package scaler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
)

// t0 is the start of every timeline.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// timeline drives a policy by hand: a poll every 2 s, the decision applied
// at once, tasks ready at once unless a test says otherwise.
type timeline struct {
	t        *testing.T
	p        scaler.Scaler
	now      time.Time
	cur      int
	ready    int // -1: ready follows cur
	starting int
	last     scaler.Decision
}

func newTimeline(t *testing.T, p scaler.Scaler, cur int) *timeline {
	return &timeline{t: t, p: p, now: t0, cur: cur, ready: -1}
}

// input returns the input for one poll with obs (nil for no data).
func (x *timeline) input(obs *scaler.Observation) scaler.Input {
	ready := x.ready
	if ready < 0 {
		ready = x.cur
	}
	return scaler.Input{Now: x.now, Current: x.cur, Ready: ready, Starting: x.starting, Obs: obs}
}

// poll advances 2 s and decides on one observation of rps.
func (x *timeline) poll(rps float64) scaler.Decision {
	x.now = x.now.Add(2 * time.Second)
	return x.apply(x.p.Decide(x.input(&scaler.Observation{At: x.now, RPS: rps})))
}

func (x *timeline) apply(d scaler.Decision) scaler.Decision {
	x.t.Helper()
	if d.Current != x.cur {
		x.t.Fatalf("decision %v: Current %d, want %d", d, d.Current, x.cur)
	}
	x.cur, x.last = d.Count, d
	return d
}

// feed polls every 2 s for span at rps, returning the last decision.
func (x *timeline) feed(span time.Duration, rps float64) scaler.Decision {
	var d scaler.Decision
	for range int(span / (2 * time.Second)) {
		d = x.poll(rps)
	}
	return d
}

// expect checks the count in force and that the last reason mentions want.
func (x *timeline) expect(step string, count int, reason string) {
	x.t.Helper()
	if x.cur != count {
		x.t.Fatalf("%s (t+%s): count %d, want %d (%s)", step, x.now.Sub(t0), x.cur, count, x.last)
	}
	if !strings.Contains(x.last.Reason, reason) {
		x.t.Fatalf("%s (t+%s): reason %q, want it to contain %q", step, x.now.Sub(t0), x.last.Reason, reason)
	}
}

func nan() float64 { var z float64; return z / z }
