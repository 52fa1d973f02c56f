package calc

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// MaxCount bounds every count a policy computes, whatever its inputs, so
// float → int conversions never overflow.
const MaxCount = 1 << 30

// DefaultMax is the Max of a policy whose Max is zero.
const DefaultMax = 1000

// CeilCount returns ⌈x⌉ as a count in [0, MaxCount]. NaN gives 0. A tiny
// epsilon keeps float noise (3.0000000001) from adding a task.
func CeilCount(x float64) int {
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	case x >= MaxCount:
		return MaxCount
	}
	return int(math.Ceil(x - 1e-9))
}

// Clamp returns n bounded to [lo, hi].
func Clamp(n, lo, hi int) int {
	return max(lo, min(n, hi))
}

// Finite reports whether x is a usable metric value: not NaN, not ±Inf, not
// negative.
func Finite(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0
}

// CheckBounds validates a policy's Min and Max (after defaults); its
// errors wrap invalid.
func CheckBounds(policy string, lo, hi int, invalid error) error {
	switch {
	case lo < 0:
		return fmt.Errorf("%s: Min %d is negative: %w", policy, lo, invalid)
	case hi < 0:
		return fmt.Errorf("%s: Max %d is negative: %w", policy, hi, invalid)
	case hi < lo:
		return fmt.Errorf("%s: Max %d is below Min %d: %w", policy, hi, lo, invalid)
	case hi > MaxCount:
		return fmt.Errorf("%s: Max %d exceeds %d: %w", policy, hi, MaxCount, invalid)
	}
	return nil
}

// CheckDuration validates a duration field that must not be negative; its
// error wraps invalid.
func CheckDuration(policy, field string, d time.Duration, invalid error) error {
	if d < 0 {
		return fmt.Errorf("%s: %s %s is negative: %w", policy, field, d, invalid)
	}
	return nil
}

// OrDuration returns d, or def when d is zero.
func OrDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// FmtRate formats a rate for a reason: no decimals from 100 up, at most
// one below.
func FmtRate(x float64) string {
	if math.Abs(x) >= 100 || math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Sprintf("%.0f", x)
	}
	return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
}
