package scaler

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w window
	for s, v := range []float64{1, 2, 3, 4, 5, 6} {
		w.add(at(2*s), v, 6*time.Second)
	}
	w.add(at(10), 100, 6*time.Second) // a duplicate instant is ignored
	w.add(at(3), 100, 6*time.Second)  // so is one from the past
	tests := []struct {
		name      string
		end       time.Time
		span      time.Duration
		mean      float64
		n         int
		max, min_ float64
	}{
		{"last 6 s holds 4, 5, 6 (older ones pruned)", at(10), 6 * time.Second, 5, 3, 6, 4},
		{"last 2 s", at(10), 2 * time.Second, 6, 1, 6, 6},
		{"window ending earlier", at(8), 4 * time.Second, 4.5, 2, 5, 4},
		{"empty span", at(20), 2 * time.Second, 0, 0, -1, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, n := w.mean(tc.end, tc.span)
			if m != tc.mean || n != tc.n {
				t.Errorf("mean = %v over %d, want %v over %d", m, n, tc.mean, tc.n)
			}
			if got := w.max(tc.end, tc.span, -1); got != tc.max {
				t.Errorf("max = %v, want %v", got, tc.max)
			}
			if got := w.min(tc.end, tc.span, 99); got != tc.min_ {
				t.Errorf("min = %v, want %v", got, tc.min_)
			}
		})
	}
	if len(w.s) > 4 {
		t.Errorf("window keeps %d samples, want at most 4 for a 6 s span at 2 s", len(w.s))
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	up := RateLimit{Tasks: 4, Percent: 100, Period: 15 * time.Second}
	down := RateLimit{Percent: 10, Period: time.Minute}
	tests := []struct {
		name           string
		history        []int // counts in force, one per 5 s, the last one now
		upTo, downTo   int
		unlimitedUpTo  int
		unlimitedDownT int
	}{
		{"from 2: +4 beats +100%", []int{2}, 6, 1, maxCount, 0},
		{"from 10: +100% beats +4", []int{10}, 20, 9, maxCount, 0},
		{"base is the lowest count of the period going up", []int{3, 6, 10}, 7, 9, maxCount, 0},
		{"base is the highest count of the period going down", []int{20, 18, 18}, 36, 18, maxCount, 0},
		{"from 0 at least one task", []int{0}, 4, 0, maxCount, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var l limiter
			now := t0
			for _, c := range tc.history {
				now = now.Add(5 * time.Second)
				l.record(now, c, time.Minute)
			}
			cur := tc.history[len(tc.history)-1]
			if got := l.upTo(now, cur, up); got != tc.upTo {
				t.Errorf("upTo = %d, want %d", got, tc.upTo)
			}
			if got := l.downTo(now, cur, down); got != tc.downTo {
				t.Errorf("downTo = %d, want %d", got, tc.downTo)
			}
			if got := l.upTo(now, cur, RateLimit{}); got != tc.unlimitedUpTo {
				t.Errorf("unlimited upTo = %d", got)
			}
			if got := l.downTo(now, cur, RateLimit{}); got != tc.unlimitedDownT {
				t.Errorf("unlimited downTo = %d", got)
			}
		})
	}
}
