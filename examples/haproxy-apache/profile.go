package main

import (
	"fmt"
	"math"
	"time"
)

// phase is one stretch of a load profile: the rate moves linearly from
// `from` to `to` requests/s over `length`.
type phase struct {
	name     string
	length   time.Duration
	from, to float64
}

// profile is a bounded load profile: phases one after the other, then no
// load.
type profile []phase

// demoProfile is the built-in profile, scaled so its spike is peak
// requests/s and it lasts about total: warm-up, ramp up, plateau, spike,
// ramp down, quiet tail. With peak 400 and a target of 50 requests/s per
// task the farm goes from 2 tasks to about 4 on the plateau, 8 in the spike
// and back down in the tail.
func demoProfile(peak float64, total time.Duration) (profile, error) {
	return shapeProfile(shapeClassic, peak, total)
}

// Load shapes of the services of a multi-service demo (-services).
const (
	shapeClassic = "classic" // warm-up, ramp up, plateau, spike, ramp down, quiet (demoProfile)
	shapeSpike   = "spike"   // quiet, then a sudden spike, then quiet again
	shapeWave    = "wave"    // a slow rise to the peak and a slow fall
)

// part is one phase of a shape: a share of the total length, its rate
// moving from `from` to `to`, fractions of the peak.
type part struct {
	name     string
	share    float64
	from, to float64
}

// shapes holds each shape's phases; the shares sum to 1, and every shape
// ends quiet so the farm scales back down within the profile.
var shapes = map[string][]part{
	shapeClassic: {
		{"warm-up", 0.08, 0.1, 0.1},
		{"ramp up", 0.20, 0.1, 0.5},
		{"plateau", 0.20, 0.5, 0.5},
		{"spike", 0.12, 1, 1},
		{"ramp down", 0.20, 0.5, 0.05},
		{"quiet", 0.20, 0.05, 0.05},
	},
	shapeSpike: {
		{"quiet", 0.30, 0.1, 0.1},
		{"spike", 0.20, 1, 1},
		{"quiet", 0.50, 0.05, 0.05},
	},
	shapeWave: {
		{"rise", 0.35, 0.1, 1},
		{"fall", 0.30, 1, 0.05},
		{"quiet", 0.35, 0.05, 0.05},
	},
}

// shapeProfile is the profile of the named shape, scaled so its highest
// rate is peak requests/s and it lasts about total.
func shapeProfile(shape string, peak float64, total time.Duration) (profile, error) {
	if !(peak > 0) || math.IsInf(peak, 0) {
		return nil, fmt.Errorf("load profile: peak %v req/s must be a positive number", peak)
	}
	if total < 10*time.Second || total > 10*time.Minute {
		return nil, fmt.Errorf("load profile: length %s must be between 10s and 10m", total)
	}
	parts, ok := shapes[shape]
	if !ok {
		return nil, fmt.Errorf("load profile: unknown shape %q (want %s, %s or %s)", shape, shapeClassic, shapeSpike, shapeWave)
	}
	p := make(profile, len(parts))
	for i, x := range parts {
		p[i] = phase{x.name, time.Duration(x.share * float64(total)).Round(time.Millisecond), x.from * peak, x.to * peak}
	}
	return p, nil
}

// length is the profile's total duration.
func (p profile) length() time.Duration {
	var d time.Duration
	for _, ph := range p {
		d += ph.length
	}
	return d
}

// at returns the phase and rate at elapsed; after the last phase, ("", 0).
func (p profile) at(elapsed time.Duration) (string, float64) {
	if elapsed < 0 {
		return "", 0
	}
	for _, ph := range p {
		if elapsed < ph.length {
			f := float64(elapsed) / float64(ph.length)
			return ph.name, ph.from + (ph.to-ph.from)*f
		}
		elapsed -= ph.length
	}
	return "", 0
}

// rate is the profile as loadgen.Config.RateFunc.
func (p profile) rate(elapsed time.Duration) float64 {
	_, r := p.at(elapsed)
	return r
}

// peak is the highest rate of the profile.
func (p profile) peak() float64 {
	m := 0.0
	for _, ph := range p {
		m = max(m, ph.from, ph.to)
	}
	return m
}
