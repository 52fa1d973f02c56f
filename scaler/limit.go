package scaler

import (
	"fmt"
	"math"
	"time"
)

// RateLimit bounds how fast a policy changes the count in one direction:
// within any Period, by at most the larger of Tasks and Percent % of the
// count at the start of the period (the way the Kubernetes HPA's scaling
// policies combine with selectPolicy: Max). The zero RateLimit does not
// limit; a Period with neither Tasks nor Percent is an error (it would
// silently not limit).
type RateLimit struct {
	// Tasks is the change allowed per Period in tasks.
	Tasks int
	// Percent is the change allowed per Period in percent of the count.
	Percent float64
	// Period is the span the limit applies to. If zero, 60s is used.
	Period time.Duration
}

// Enabled reports whether l limits at all: whether Tasks or Percent is set.
func (l RateLimit) Enabled() bool { return l.Tasks > 0 || l.Percent > 0 }

func (l RateLimit) period() time.Duration { return orDuration(l.Period, time.Minute) }

// Validate reports a limit that cannot apply: a negative Tasks or Period,
// a Percent that is not a number in [0, 1e6], or a Period with neither
// Tasks nor Percent (it would silently not limit). The error names the
// limit as field (for example "UpLimit.Tasks -1 is negative") and wraps
// [ErrInvalid].
func (l RateLimit) Validate(field string) error {
	switch {
	case l.Tasks < 0:
		return fmt.Errorf("%s.Tasks %d is negative: %w", field, l.Tasks, ErrInvalid)
	case !finite(l.Percent) || l.Percent > 1e6:
		return fmt.Errorf("%s.Percent %v must be in [0, 1e6]: %w", field, l.Percent, ErrInvalid)
	case l.Period < 0:
		return fmt.Errorf("%s.Period %s is negative: %w", field, l.Period, ErrInvalid)
	case l.Period != 0 && !l.Enabled():
		return fmt.Errorf("%s.Period %s is set but neither Tasks nor Percent is: the limit would not limit: %w", field, l.Period, ErrInvalid)
	}
	return nil
}

// validate is Validate with the policy's name in front.
func (l RateLimit) validate(policy, field string) error {
	if err := l.Validate(field); err != nil {
		return fmt.Errorf("%s: %w", policy, err)
	}
	return nil
}

// String describes the limit for a reason: "4 tasks or 100% per 15s".
func (l RateLimit) String() string {
	if !l.Enabled() {
		return "unlimited"
	}
	return fmt.Sprintf("%d tasks or %g%% per %s", l.Tasks, l.Percent, l.period())
}

// limiter remembers the counts in force over the longest limit period.
type limiter struct {
	counts window
}

// record notes the count in force at now.
func (m *limiter) record(now time.Time, count int, keep time.Duration) {
	m.counts.Add(now, float64(count), keep)
}

// upTo returns the highest count up allows at now, given the current count.
func (m *limiter) upTo(now time.Time, current int, up RateLimit) int {
	if !up.Enabled() {
		return maxCount
	}
	base := int(m.counts.Min(now, up.period(), float64(current)))
	base = min(base, current)
	byPct := ceilCount(float64(base) * (1 + up.Percent/100))
	return min(maxCount, max(base+up.Tasks, byPct, 1))
}

// downTo returns the lowest count down allows at now, given the current count.
func (m *limiter) downTo(now time.Time, current int, down RateLimit) int {
	if !down.Enabled() {
		return 0
	}
	base := int(m.counts.Max(now, down.period(), float64(current)))
	base = max(base, current)
	byPct := int(math.Floor(float64(base) * (1 - down.Percent/100)))
	return max(0, min(base-down.Tasks, byPct))
}
