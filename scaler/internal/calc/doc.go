// Package calc holds the arithmetic the policies of scaler and
// scaler/baseline share: bounded counts, metric checks, and a window of
// timed samples. Policies do no I/O, so nothing here does either.
package calc
