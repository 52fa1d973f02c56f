package calc

import "time"

// sample is one value of a signal at an instant.
type sample struct {
	at time.Time
	v  float64
}

// Window keeps the samples of the last span of time, in time order.
type Window struct {
	s []sample
}

// Add appends a sample and forgets those older than keep before it. A
// sample not after the last one is ignored (inputs come in time order; a
// duplicate must not count twice).
func (w *Window) Add(at time.Time, v float64, keep time.Duration) {
	if n := len(w.s); n > 0 && !at.After(w.s[n-1].at) {
		return
	}
	w.s = append(w.s, sample{at, v})
	cut := at.Add(-keep)
	i := 0
	for i < len(w.s) && w.s[i].at.Before(cut) {
		i++
	}
	if i > 0 {
		w.s = append(w.s[:0], w.s[i:]...)
	}
}

// Mean returns the mean of the samples in (end-span, end] and their count.
func (w *Window) Mean(end time.Time, span time.Duration) (float64, int) {
	start := end.Add(-span)
	var sum float64
	n := 0
	for i := len(w.s) - 1; i >= 0; i-- {
		s := w.s[i]
		if !s.at.After(start) {
			break
		}
		if s.at.After(end) {
			continue
		}
		sum += s.v
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), n
}

// Max returns the largest sample in (end-span, end], or def when there is none.
func (w *Window) Max(end time.Time, span time.Duration, def float64) float64 {
	start := end.Add(-span)
	m := def
	for i := len(w.s) - 1; i >= 0 && w.s[i].at.After(start); i-- {
		if w.s[i].v > m && !w.s[i].at.After(end) {
			m = w.s[i].v
		}
	}
	return m
}

// Min returns the smallest sample in (end-span, end], or def when there is none.
func (w *Window) Min(end time.Time, span time.Duration, def float64) float64 {
	start := end.Add(-span)
	m := def
	for i := len(w.s) - 1; i >= 0 && w.s[i].at.After(start); i-- {
		if w.s[i].v < m && !w.s[i].at.After(end) {
			m = w.s[i].v
		}
	}
	return m
}
