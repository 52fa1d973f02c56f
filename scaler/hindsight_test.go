package scaler

import (
	"math"
	"testing"
	"time"
)

// TestHindsightCharges checks the replay's model of the farm on a step,
// by hand: tasks serve Startup after their launch and stop at once, as in
// scaler/sim's farm, where the same step (polls every 2 s, 30 s start-up)
// lets (30 s + 2 s) × 400 req/s over.
func TestHindsightCharges(t *testing.T) {
	h := newHindsight(1, 30*time.Second, 100, 1, 1000)
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var prev time.Time
	feed := func(k int, rps float64) {
		at := t0.Add(time.Duration(k) * 2 * time.Second)
		dt := 2.0
		if prev.IsZero() {
			dt = 0
		}
		h.observe(prev, at, dt, rps, []float64{rps}, 0, 1) // no decay
		prev = at
	}
	k := 0
	for ; k < 30; k++ { // a minute at 400 req/s: 4 tasks
		feed(k, 400)
	}
	for ; k < 90; k++ { // two at 800: the step, then 8 tasks
		feed(k, 800)
	}
	for ; k < 120; k++ { // a minute back at 400: down at once
		feed(k, 400)
	}
	a := h.fams[0].arms[0] // the last rate, no headroom
	if a.factor != 0 {
		t.Fatalf("arm 0 has factor %v", a.factor)
	}
	// The count 8 asked for at the first poll that sees 800 serves from
	// 30 s later: 16 polls of 2 s at 400 req/s over 4 tasks' capacity.
	if want := 16 * 2 * 400.0; a.over != want {
		t.Errorf("over = %v, want %v", a.over, want)
	}
	// Task-seconds: 4 tasks for the first minute (29 polls charged), 8
	// for two minutes, 4 for the last; 4 launches of 30 s.
	if want := 4*2*29 + 8*2*60 + 4*2*30 + 4*30.0; a.cost != want {
		t.Errorf("cost = %v, want %v", a.cost, want)
	}
	if want := 2 * (29*400 + 60*800 + 30*400.0); h.req != want {
		t.Errorf("requests = %v, want %v", h.req, want)
	}
	// A headroom of 100% of the level covers the step: nothing over.
	for i, x := range levelFactors {
		if x >= 1 {
			if h.fams[0].arms[i].over != 0 {
				t.Errorf("factor %v: over %v, want 0", x, h.fams[0].arms[i].over)
			}
			break
		}
	}
	c := h.best(0.004)
	if !c.ok || c.over > 0.004 || c.factor <= 0 || c.factor > 1 || math.IsNaN(c.cost) {
		t.Errorf("best = %+v, want a factor in (0, 1] within 0.4%%", c)
	}
}
