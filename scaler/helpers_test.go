package scaler_test

import (
	"testing"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

// t0 is the start of every timeline.
var t0 = policytest.T0

func newTimeline(t *testing.T, p scaler.Policy, cur int) *policytest.Timeline {
	return policytest.New(t, p, cur)
}

func nan() float64 { var z float64; return z / z }
