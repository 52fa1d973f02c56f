package calc

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w Window
	for s, v := range []float64{1, 2, 3, 4, 5, 6} {
		w.Add(at(2*s), v, 6*time.Second)
	}
	w.Add(at(10), 100, 6*time.Second) // a duplicate instant is ignored
	w.Add(at(3), 100, 6*time.Second)  // so is one from the past
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
		{"Window ending earlier", at(8), 4 * time.Second, 4.5, 2, 5, 4},
		{"empty span", at(20), 2 * time.Second, 0, 0, -1, 99},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, n := w.Mean(tc.end, tc.span)
			if m != tc.mean || n != tc.n {
				t.Errorf("mean = %v over %d, want %v over %d", m, n, tc.mean, tc.n)
			}
			if got := w.Max(tc.end, tc.span, -1); got != tc.max {
				t.Errorf("max = %v, want %v", got, tc.max)
			}
			if got := w.Min(tc.end, tc.span, 99); got != tc.min_ {
				t.Errorf("min = %v, want %v", got, tc.min_)
			}
		})
	}
	if len(w.s) > 4 {
		t.Errorf("Window keeps %d samples, want at most 4 for a 6 s span at 2 s", len(w.s))
	}
}
