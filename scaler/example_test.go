package scaler_test

import (
	"fmt"
	"time"

	"github.com/webfarm/webfarm/scaler"
)

// A TargetTracking policy deciding on a few observations: a burst scales
// up within the panic window, a quiet minute does not scale down before
// the stable window and the scale-down stabilization have passed, and a
// poll without data holds.
func ExampleTargetTracking() {
	p, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
		RequestsPerTask:   100, // req/s each ready task should serve
		Min:               2,
		Max:               20,
		DownStabilization: 30 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	count := 2
	decide := func(sec int, rps float64) scaler.Decision {
		now := start.Add(time.Duration(sec) * time.Second)
		in := scaler.Input{Now: now, Current: count, Ready: count}
		if rps >= 0 {
			in.Obs = &scaler.Observation{At: now, RPS: rps}
		} else {
			in.NoData = fmt.Errorf("stats socket unreachable")
		}
		d := p.Decide(in)
		count = d.Count
		return d
	}

	// A minute at 180 req/s: two tasks are right.
	for s := 0; s < 60; s++ {
		decide(s, 180)
	}
	fmt.Println("steady:", count)
	// A burst to 900 req/s: the panic window sees it within seconds.
	fmt.Println("first second of the burst:", decide(60, 900).Direction())
	for s := 61; s < 70; s++ {
		decide(s, 900)
	}
	fmt.Println("burst:", count, decide(70, 900).Direction())
	// No data holds the count.
	fmt.Println("no data:", decide(71, -1).Direction())
	// Traffic falls back; the farm shrinks only after the windows pass,
	// then by at most 10% of its tasks (at least one) a minute.
	for s := 72; s < 86; s++ {
		decide(s, 180)
	}
	fmt.Println("14 s after the burst:", count)
	for s := 86; s < 700; s++ {
		decide(s, 180)
	}
	fmt.Println("10 min later:", count)
	// Output:
	// steady: 2
	// first second of the burst: up
	// burst: 9 hold
	// no data: hold
	// 14 s after the burst: 9
	// 10 min later: 2
}
