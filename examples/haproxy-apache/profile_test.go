package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDemoProfile(t *testing.T) {
	p, err := demoProfile(400, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.length(); got < 119*time.Second || got > 121*time.Second {
		t.Errorf("length = %s, want about 2m", got)
	}
	if got := p.peak(); got != 400 {
		t.Errorf("peak = %v, want 400", got)
	}
	tests := []struct {
		name      string
		at        time.Duration
		wantPhase string
		wantRate  float64
	}{
		{"start", 0, "warm-up", 40},
		{"middle of the ramp up", 9600*time.Millisecond + 12*time.Second, "ramp up", 120},
		{"plateau", 40 * time.Second, "plateau", 200},
		{"spike", 65 * time.Second, "spike", 400},
		{"quiet tail", 110 * time.Second, "quiet", 20},
		{"after the end", 3 * time.Minute, "", 0},
		{"negative time", -time.Second, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ph, r := p.at(tc.at)
			if ph != tc.wantPhase || math.Abs(r-tc.wantRate) > 1e-6 {
				t.Errorf("at(%s) = %q %.3f, want %q %.3f", tc.at, ph, r, tc.wantPhase, tc.wantRate)
			}
			if r2 := p.rate(tc.at); r2 != r {
				t.Errorf("rate(%s) = %v, at gave %v", tc.at, r2, r)
			}
		})
	}
}

func TestDemoProfileInvalid(t *testing.T) {
	tests := []struct {
		name   string
		peak   float64
		length time.Duration
	}{
		{"zero peak", 0, time.Minute},
		{"negative peak", -5, time.Minute},
		{"NaN peak", math.NaN(), time.Minute},
		{"infinite peak", math.Inf(1), time.Minute},
		{"too short", 100, time.Second},
		{"too long", 100, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := demoProfile(tc.peak, tc.length); err == nil {
				t.Errorf("demoProfile(%v, %s) = nil error, want one", tc.peak, tc.length)
			}
		})
	}
}

// TestShapeProfiles: every shape of a multi-service demo reaches its peak,
// lasts the total and ends quiet (so its service scales back down); an
// unknown shape is an error naming it.
func TestShapeProfiles(t *testing.T) {
	for shape := range shapes {
		p, err := shapeProfile(shape, 200, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", shape, err)
		}
		sum := 0.0
		for _, x := range shapes[shape] {
			sum += x.share
		}
		if math.Abs(sum-1) > 1e-9 || p.peak() != 200 || p.length().Round(time.Second) != time.Minute {
			t.Errorf("%s: shares sum to %v, peak %v, length %s; want 1, 200, 1m", shape, sum, p.peak(), p.length())
		}
		if _, r := p.at(p.length() - time.Second); r > 0.05*200 {
			t.Errorf("%s: rate %v at the end, want quiet (≤ 10)", shape, r)
		}
	}
	if _, err := shapeProfile("sawtooth", 200, time.Minute); err == nil || !strings.Contains(err.Error(), `"sawtooth"`) {
		t.Errorf("unknown shape: err %v, want one naming it", err)
	}
}
