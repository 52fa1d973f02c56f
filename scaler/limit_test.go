package scaler

import (
	"testing"
	"time"
)

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
