package main

import (
	"math"
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
