package scaler

import (
	"fmt"
	"time"

	"github.com/webfarm/webfarm/scaler/internal/calc"
)

// maxCount bounds every count a policy computes (calc.MaxCount).
const maxCount = calc.MaxCount

// defaultMax is the Max of a policy whose Max is zero.
const defaultMax = calc.DefaultMax

// window keeps the samples of the last span of time.
type window = calc.Window

func ceilCount(x float64) int                       { return calc.CeilCount(x) }
func clamp(n, lo, hi int) int                       { return calc.Clamp(n, lo, hi) }
func finite(x float64) bool                         { return calc.Finite(x) }
func orDuration(d, def time.Duration) time.Duration { return calc.OrDuration(d, def) }
func fmtRate(x float64) string                      { return calc.FmtRate(x) }
func checkBounds(policy string, lo, hi int) error {
	return calc.CheckBounds(policy, lo, hi, ErrInvalid)
}
func checkDuration(policy, field string, d time.Duration) error {
	return calc.CheckDuration(policy, field, d, ErrInvalid)
}

// checkFloat validates a float field that must be finite and not negative.
func checkFloat(policy, field string, x float64) error {
	if !finite(x) {
		return fmt.Errorf("%s: %s %v must be a finite number ≥ 0: %w", policy, field, x, ErrInvalid)
	}
	return nil
}
