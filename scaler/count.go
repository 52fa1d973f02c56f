package scaler

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxCount bounds every count a policy computes, whatever its inputs, so
// float → int conversions never overflow.
const maxCount = 1 << 30

// defaultMax is the Max of a policy whose Max is zero.
const defaultMax = 1000

// ceilCount returns ⌈x⌉ as a count in [0, maxCount]. NaN gives 0. A tiny
// epsilon keeps float noise (3.0000000001) from adding a task.
func ceilCount(x float64) int {
	switch {
	case math.IsNaN(x) || x <= 0:
		return 0
	case x >= maxCount:
		return maxCount
	}
	return int(math.Ceil(x - 1e-9))
}

// clamp returns n bounded to [lo, hi].
func clamp(n, lo, hi int) int {
	return max(lo, min(n, hi))
}

// finite reports whether x is a usable metric value: not NaN, not ±Inf, not
// negative.
func finite(x float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0
}

// checkBounds validates a policy's Min and Max (after defaults).
func checkBounds(policy string, lo, hi int) error {
	switch {
	case lo < 0:
		return fmt.Errorf("%s: Min %d is negative: %w", policy, lo, ErrInvalid)
	case hi < 0:
		return fmt.Errorf("%s: Max %d is negative: %w", policy, hi, ErrInvalid)
	case hi < lo:
		return fmt.Errorf("%s: Max %d is below Min %d: %w", policy, hi, lo, ErrInvalid)
	case hi > maxCount:
		return fmt.Errorf("%s: Max %d exceeds %d: %w", policy, hi, maxCount, ErrInvalid)
	}
	return nil
}

// checkDuration validates a duration field that must not be negative.
func checkDuration(policy, field string, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("%s: %s %s is negative: %w", policy, field, d, ErrInvalid)
	}
	return nil
}

// checkFloat validates a float field that must be finite and not negative.
func checkFloat(policy, field string, x float64) error {
	if !finite(x) {
		return fmt.Errorf("%s: %s %v must be a finite number ≥ 0: %w", policy, field, x, ErrInvalid)
	}
	return nil
}

// orDuration returns d, or def when d is zero.
func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// fmtRate formats a rate for a reason: no decimals from 100 up, at most
// one below.
func fmtRate(x float64) string {
	if math.Abs(x) >= 100 || math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Sprintf("%.0f", x)
	}
	return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
}
