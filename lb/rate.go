package lb

import (
	"errors"
	"fmt"
	"time"
)

// ErrNoRate is returned by [Meter.Observe] when the reading does not yield a
// rate: the first reading, a duplicate, a clock that stepped back, or a gap
// longer than the meter allows. The reading that caused it becomes the new
// baseline (except a duplicate), so the next one yields a rate again. It is
// not a failure: callers skip the tick.
var ErrNoRate = errors.New("lb: no rate from this reading")

// Rate is the request rate between two [Stats] readings.
type Rate struct {
	// At is the later reading's Stats.At: the end of the interval.
	At time.Time
	// Interval is the time between the two readings.
	Interval time.Duration
	// Requests is the number of requests counted in the interval. After a
	// reset it is the count since the restart, a lower bound.
	Requests uint64
	// PerSecond is Requests divided by Interval in seconds.
	PerSecond float64
	// Reset reports that the total counter went down between the readings:
	// the balancer restarted or its counters were cleared.
	Reset bool
	// Backends holds the per-backend rate in requests per second, for each
	// backend of the later reading. A backend absent from the earlier
	// reading is counted from zero (it was added in the interval).
	Backends map[string]float64
	// Active and Queued are copied from the later reading.
	Active, Queued int
}

// Meter turns successive cumulative [Stats] readings into rates. Rates come
// from counter deltas, which are exact, never from a balancer's own
// smoothed rate fields. The zero Meter is ready to use and allows gaps of
// any length. A Meter is not safe for concurrent use.
type Meter struct {
	// MaxGap is the longest interval between readings that still yields a
	// rate. A longer gap restarts the meter: an average over a long outage
	// of the stats source hides what traffic does now. If zero, there is no
	// limit.
	MaxGap time.Duration

	prev Stats
	have bool
}

// Observe records s and returns the rate since the previous reading.
//
//   - The first reading returns ErrNoRate.
//   - A reading with a zero At returns an error wrapping ErrInvalid and is
//     ignored.
//   - A reading whose At equals the previous one (a duplicate, or a clock too
//     coarse) returns ErrNoRate and is ignored.
//   - A reading older than the previous one (the clock stepped back, or data
//     arrived out of order) returns ErrNoRate and becomes the new baseline.
//   - A reading more than MaxGap after the previous one returns ErrNoRate and
//     becomes the new baseline.
//   - A counter that went down is a reset: the new value is the count since
//     the restart, and Rate.Reset is set.
func (m *Meter) Observe(s Stats) (Rate, error) {
	if s.At.IsZero() {
		return Rate{}, fmt.Errorf("%w: stats reading without a time", ErrInvalid)
	}
	if !m.have {
		m.prev, m.have = s, true
		return Rate{}, fmt.Errorf("%w: first reading", ErrNoRate)
	}
	prev := m.prev
	d := s.At.Sub(prev.At)
	switch {
	case d == 0:
		return Rate{}, fmt.Errorf("%w: duplicate reading at %s", ErrNoRate, s.At.Format(time.RFC3339Nano))
	case d < 0:
		m.prev = s
		return Rate{}, fmt.Errorf("%w: reading at %s is %s older than the previous one",
			ErrNoRate, s.At.Format(time.RFC3339Nano), -d)
	case m.MaxGap > 0 && d > m.MaxGap:
		m.prev = s
		return Rate{}, fmt.Errorf("%w: gap of %s between readings exceeds %s", ErrNoRate, d, m.MaxGap)
	}
	m.prev = s
	n, reset := delta(prev.Requests, s.Requests)
	sec := d.Seconds()
	r := Rate{
		At:        s.At,
		Interval:  d,
		Requests:  n,
		PerSecond: float64(n) / sec,
		Reset:     reset,
		Active:    s.Active,
		Queued:    s.Queued,
	}
	if s.Backends != nil {
		r.Backends = make(map[string]float64, len(s.Backends))
		for id, b := range s.Backends {
			var before uint64
			if p, ok := prev.Backends[id]; ok {
				before = p.Requests
			}
			bn, _ := delta(before, b.Requests)
			r.Backends[id] = float64(bn) / sec
		}
	}
	return r, nil
}

// Reset forgets the baseline; the next reading starts afresh.
func (m *Meter) Reset() { m.prev, m.have = Stats{}, false }

// delta returns the increase from a to b of a cumulative counter, treating a
// decrease as a reset to zero in between.
func delta(a, b uint64) (n uint64, reset bool) {
	if b < a {
		return b, true
	}
	return b - a, false
}
