package lb_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// A Meter turns a balancer's cumulative request counters into rates: the
// first reading is the baseline, each later one gives the rate since the
// previous reading, and a counter that goes down (the balancer restarted)
// counts from zero instead of going negative.
func ExampleMeter() {
	var m lb.Meter
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	readings := []lb.Stats{
		{At: t0, Requests: 1000},
		{At: t0.Add(2 * time.Second), Requests: 1300},
		{At: t0.Add(4 * time.Second), Requests: 1900},
		{At: t0.Add(6 * time.Second), Requests: 80}, // restarted: 80 since
	}
	for _, s := range readings {
		r, err := m.Observe(s)
		if errors.Is(err, lb.ErrNoRate) {
			fmt.Println("baseline:", s.Requests, "requests")
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%.0f req/s over %s (reset: %v)\n", r.PerSecond, r.Interval, r.Reset)
	}
	// Output:
	// baseline: 1000 requests
	// 150 req/s over 2s (reset: false)
	// 300 req/s over 2s (reset: false)
	// 40 req/s over 2s (reset: true)
}

// MaxGap restarts the meter after a long outage of the stats source: an
// average over the outage would hide what traffic does now.
func ExampleMeter_maxGap() {
	m := lb.Meter{MaxGap: 10 * time.Second}
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for _, s := range []lb.Stats{
		{At: t0, Requests: 0},
		{At: t0.Add(time.Minute), Requests: 6000}, // a minute of silence: no rate
		{At: t0.Add(time.Minute + 5*time.Second), Requests: 6500},
	} {
		r, err := m.Observe(s)
		switch {
		case errors.Is(err, lb.ErrNoRate):
			fmt.Println("no rate:", err)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%.0f req/s\n", r.PerSecond)
		}
	}
	// Output:
	// no rate: lb: no rate from this reading: first reading
	// no rate: lb: no rate from this reading: gap of 1m0s between readings exceeds 10s
	// 100 req/s
}
