package scaler

import (
	"math"
	"time"
)

// sample is one value of a signal at an instant.
type sample struct {
	at time.Time
	v  float64
}

// rolling keeps the samples of the last span of time, in time order, with
// their running sum and sum of squares, so means over long windows cost
// O(1) a sample instead of a scan.
type rolling struct {
	s       []sample
	head    int // s[head:] are the samples in the window
	sum, sq float64
}

// add appends a sample and forgets those at or before at-keep. A sample not
// after the last one is ignored. v must be finite.
func (r *rolling) add(at time.Time, v float64, keep time.Duration) {
	if n := len(r.s); n > r.head && !at.After(r.s[n-1].at) {
		return
	}
	r.s = append(r.s, sample{at, v})
	r.sum += v
	r.sq += v * v
	cut := at.Add(-keep)
	for r.head < len(r.s) && !r.s[r.head].at.After(cut) {
		old := r.s[r.head].v
		r.sum -= old
		r.sq -= old * old
		r.head++
	}
	if r.head >= 64 && r.head > len(r.s)/2 {
		// Compact, and recompute the sums so rounding cannot accumulate.
		r.s = append(r.s[:0], r.s[r.head:]...)
		r.head = 0
		r.sum, r.sq = 0, 0
		for _, x := range r.s {
			r.sum += x.v
			r.sq += x.v * x.v
		}
	}
}

// n is the number of samples in the window.
func (r *rolling) n() int { return len(r.s) - r.head }

// mean is the mean of the samples, 0 when there is none.
func (r *rolling) mean() float64 {
	if r.n() == 0 {
		return 0
	}
	return max(0, r.sum/float64(r.n()))
}

// rms is the root mean square of the samples, 0 when there is none.
func (r *rolling) rms() float64 {
	if r.n() == 0 {
		return 0
	}
	return math.Sqrt(max(0, r.sq/float64(r.n())))
}

// before returns the newest sample at or before t.
func (r *rolling) before(t time.Time) (float64, bool) {
	for i := len(r.s) - 1; i >= r.head; i-- {
		if !r.s[i].at.After(t) {
			return r.s[i].v, true
		}
	}
	return 0, false
}
