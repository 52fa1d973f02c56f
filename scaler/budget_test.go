package scaler_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/internal/policytest"
)

func mustBudget(t *testing.T, c scaler.BudgetConfig) *scaler.Budget {
	t.Helper()
	p, err := scaler.NewBudget(c)
	if err != nil {
		t.Fatalf("NewBudget(%+v) = %v", c, err)
	}
	return p
}

func TestBudgetConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  scaler.BudgetConfig
		want string
	}{
		{"no capacity", scaler.BudgetConfig{}, "Capacity 0"},
		{"NaN capacity", scaler.BudgetConfig{Capacity: math.NaN()}, "Capacity NaN"},
		{"budget 1", scaler.BudgetConfig{Capacity: 1, Budget: 1}, "Budget 1 must be a share"},
		{"negative budget", scaler.BudgetConfig{Capacity: 1, Budget: -0.1}, "Budget -0.1"},
		{"factor too small", scaler.BudgetConfig{Capacity: 1, HeadroomFactor: 0.01}, "HeadroomFactor 0.01"},
		{"factor NaN", scaler.BudgetConfig{Capacity: 1, HeadroomFactor: math.NaN()}, "HeadroomFactor NaN"},
		{"max below min", scaler.BudgetConfig{Capacity: 1, Min: 3, Max: 2}, "Max 2 is below Min 3"},
		{"negative startup", scaler.BudgetConfig{Capacity: 1, Startup: -time.Second}, "Startup -1s"},
		{"negative feedback", scaler.BudgetConfig{Capacity: 1, FeedbackTime: -time.Hour}, "FeedbackTime -1h0m0s"},
		{"mean longer than volatility", scaler.BudgetConfig{Capacity: 1, MeanWindow: time.Hour}, "MeanWindow 1h0m0s is longer"},
		{"floor above max", scaler.BudgetConfig{Capacity: 1, Max: 5, Floors: []scaler.Floor{{Tasks: 6}}}, "Floors[0].Tasks 6"},
		{"floor time of day", scaler.BudgetConfig{Capacity: 1, Floors: []scaler.Floor{{Tasks: 1, From: 25 * time.Hour}}}, "times of day"},
		{"floor end before start", scaler.BudgetConfig{Capacity: 1, Floors: []scaler.Floor{{Tasks: 1, Start: t0, End: t0}}}, "End"},
		{"floor bad day", scaler.BudgetConfig{Capacity: 1, Floors: []scaler.Floor{{Tasks: 1, Days: []time.Weekday{7}}}}, "day 7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := scaler.NewBudget(tc.cfg)
			if !errors.Is(err, scaler.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewBudget = %v, %v; want ErrInvalid mentioning %q", p, err, tc.want)
			}
		})
	}
}

func TestBudgetDefaults(t *testing.T) {
	c := mustBudget(t, scaler.BudgetConfig{Capacity: 100}).Config()
	if c.Budget != scaler.DefaultBudget || c.Startup != scaler.DefaultStartup || c.MeanWindow != scaler.DefaultMeanWindow ||
		c.VolatilityWindow != scaler.DefaultVolatilityWindow || c.FeedbackTime != scaler.DefaultFeedbackTime ||
		c.HeadroomFactor != scaler.DefaultHeadroomFactor || c.DownDelay != scaler.DefaultDownDelay ||
		c.MaxAge != scaler.DefaultMaxAge || c.Max != 1000 || c.Location != time.UTC {
		t.Errorf("defaults = %+v", c)
	}
}

func TestBudget(t *testing.T) {
	base := scaler.BudgetConfig{Capacity: 100, Min: 1, MeanWindow: 2 * time.Minute, DownDelay: 2 * time.Minute}
	tests := []struct {
		name string
		cfg  scaler.BudgetConfig
		cur  int
		run  func(x *policytest.Timeline)
	}{
		{"steady traffic: no headroom, ⌈rate/capacity⌉", base, 4, func(x *policytest.Timeline) {
			x.Feed(3*time.Minute, 450)
			x.Expect("450 rps", 5, "budget: rps 450 (2m0s mean 450) + headroom 0")
			if o := x.Last.Over; o == nil || o.Volatility != 0 || o.Over != 0 || o.TotalOver != 0 || o.Budget != 0.005 {
				x.T.Fatalf("Over = %+v, want no volatility and nothing over", o)
			}
		}},
		{"scales up at once, never below the last rate", base, 4, func(x *policytest.Timeline) {
			x.Feed(3*time.Minute, 400)
			x.Poll(1000)
			// The step is itself a rise over 30 s, but the mean (410) and
			// the headroom it gives are still below the last rate.
			x.Expect("step to 1,000", 10, "rps 1000 (2m0s mean 410) + headroom")
			if o := x.Last.Over; 410+o.Headroom >= 1000 || o.Headroom <= 0 {
				x.T.Fatalf("headroom %v after a step from 400 to 1,000 req/s", o.Headroom)
			}
		}},
		{"headroom from volatility", base, 5, func(x *policytest.Timeline) {
			// A square wave between 400 and 600 req/s with a 60 s period:
			// half the 30 s rises are +200, the rest are falls (zero), so
			// the volatility is √(200²/2) ≈ 141 req/s.
			for i := range 60 {
				if i%2 == 0 {
					x.Feed(30*time.Second, 400)
				} else {
					x.Feed(30*time.Second, 600)
				}
			}
			o := x.Last.Over
			if o == nil || o.Volatility < 120 || o.Volatility > 160 {
				x.T.Fatalf("Over = %+v, want a volatility near 141", o)
			}
			// On top of the 2-minute mean of 500, never below the 600 now.
			if want := int(math.Ceil(math.Max(500+o.Headroom, 600) / 100)); x.Cur != want || o.Headroom <= 0 || !strings.Contains(x.Last.Reason, "mean 500") {
				x.T.Fatalf("count %d at 600 req/s with headroom %.0f, want %d (%s)", x.Cur, o.Headroom, want, x.Last)
			}
		}},
		{"over capacity from the rate beyond ready capacity", base, 4, func(x *policytest.Timeline) {
			x.Ready = 4
			x.Feed(3*time.Minute, 300)
			x.Poll(600)
			o := x.Last.Over
			if o.Over != 400 || o.Requests != 1200 || o.TotalOver != 400 {
				x.T.Fatalf("Over = %+v, want 400 of 1,200 requests over this poll", o)
			}
			x.Expect("600 on 4 ready", 6, "over capacity now: 400 requests (rps 600 > 4 ready × 100)")
		}},
		{"over capacity from the balancer's queue", base, 4, func(x *policytest.Timeline) {
			x.Ready = 4
			x.Feed(3*time.Minute, 300)
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now, RPS: 300, Queued: 7})))
			if o := x.Last.Over; o.Over != 7 {
				x.T.Fatalf("Over = %+v, want the 7 queued requests", o)
			}
			x.Expect("7 queued", 3, "(7 queued at the balancer)")
		}},
		{"feedback lowers the headroom while nothing is over", with(base, func(c *scaler.BudgetConfig) { c.FeedbackTime = time.Hour }), 5, func(x *policytest.Timeline) {
			x.Feed(time.Hour, 450)
			// ln(factor) falls by dt/τ a poll when the rate is steady: e⁻¹
			// after τ.
			if f := x.Last.Over.Factor; math.Abs(f-math.Exp(-1)) > 0.01 {
				x.T.Fatalf("factor %v after an hour without over-capacity, want e⁻¹", f)
			}
		}},
		{"feedback raises the headroom after over-capacity", with(base, func(c *scaler.BudgetConfig) { c.FeedbackTime = time.Hour }), 5, func(x *policytest.Timeline) {
			x.Ready = 5
			x.Feed(10*time.Minute, 450)
			before := x.Last.Over.Factor
			// 20 s at 600 req/s on 500 of capacity: 2,000 of 12,000
			// requests over, 1/6 against a budget of 1/200.
			x.Feed(20*time.Second, 600)
			after := x.Last.Over.Factor
			// Δ ln(factor) = (2000/0.005 − 12000) / (mean rate × 3600 s).
			if after <= before*math.Exp(0.1) {
				x.T.Fatalf("factor %v → %v after 17%% over capacity, want it raised", before, after)
			}
			if !strings.Contains(x.Last.Reason, "over capacity recently") || x.Last.Over.Recent <= 0.005 {
				x.T.Fatalf("recent share %v, reason %q", x.Last.Over.Recent, x.Last.Reason)
			}
		}},
		{"scale-down waits for DownDelay", base, 4, func(x *policytest.Timeline) {
			x.Feed(5*time.Minute, 900)
			x.Expect("900", 9, "rps 900")
			x.Feed(time.Minute, 300)
			x.Expect("a minute after the drop", 9, "largest count of the last 2m0s is 9")
			x.Feed(2*time.Minute, 300)
			if x.Cur >= 9 {
				x.T.Fatalf("count %d three minutes after the drop to 300 req/s: %s", x.Cur, x.Last)
			}
		}},
		{"no scale-down before a full mean window", base, 10, func(x *policytest.Timeline) {
			x.Poll(100)
			x.Expect("first sample", 10, "no scale-down before a full 2m0s")
		}},
		{"degraded input never scales down", with(base, func(c *scaler.BudgetConfig) { c.DownDelay = -1 }), 4, func(x *policytest.Timeline) {
			x.Feed(3*time.Minute, 900)
			for range 60 { // 2 minutes: the mean falls to 100
				x.Now = x.Now.Add(2 * time.Second)
				in := x.Input(&scaler.Observation{At: x.Now, RPS: 100})
				in.Degraded = errors.New("cpu source failed")
				x.Apply(x.P.Decide(in))
			}
			x.Expect("degraded", 9, "degraded input (cpu source failed); no scale-down")
			x.Poll(100)
			x.Expect("not degraded", 1, "rps 100")
		}},
		{"no data, stale and repeated samples hold", base, 6, func(x *policytest.Timeline) {
			x.Feed(time.Minute, 200)
			x.Now = x.Now.Add(2 * time.Second)
			x.Apply(x.P.Decide(scaler.Input{Now: x.Now, Current: x.Cur, Ready: x.Cur, NoData: errors.New("balancer down")}))
			x.Expect("no data", 6, "budget: no data (balancer down): hold at 6")
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now.Add(-time.Minute), RPS: 0})))
			x.Expect("stale", 6, "over MaxAge 30s")
			at := x.Now.Add(-2 * time.Second) // the last sample's time
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: at, RPS: 0})))
			x.Expect("repeated", 6, "not newer than the previous one")
			x.Apply(x.P.Decide(x.Input(&scaler.Observation{At: x.Now, RPS: math.NaN()})))
			x.Expect("NaN", 6, "rps NaN is not a rate")
		}},
		{"from zero on the first request", with(base, func(c *scaler.BudgetConfig) { c.Min = 0 }), 0, func(x *policytest.Timeline) {
			x.Poll(5)
			x.Expect("5 rps", 1, "→ 1")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(newTimeline(t, mustBudget(t, tc.cfg), tc.cur)) })
	}
}

func TestBudgetFloors(t *testing.T) {
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	floors := []scaler.Floor{
		{Name: "office hours", Tasks: 10, Days: weekdays, From: 9 * time.Hour, To: 17 * time.Hour},
		{Name: "friday night batch", Tasks: 6, Days: []time.Weekday{time.Friday}, From: 22 * time.Hour, To: 2 * time.Hour},
		{Name: "launch", Tasks: 20, Start: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)},
	}
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name string
		loc  *time.Location
		at   time.Time
		want int
		note string
	}{
		{"Monday 10:00", nil, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), 10, "[raised to office hours: 10]"},
		{"Monday 17:00 (To is exclusive)", nil, time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC), 1, "hold at 1"},
		{"Saturday 10:00", nil, time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC), 1, "hold at 1"},
		{"Friday 23:00", nil, time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC), 6, "[raised to friday night batch: 6]"},
		{"Saturday 01:00: the span started on Friday", nil, time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC), 6, "friday night batch"},
		{"Saturday 23:00", nil, time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC), 1, "hold at 1"},
		{"launch during office hours: the highest floor", nil, time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC), 20, "[raised to launch: 20]"},
		{"after the launch", nil, time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC), 10, "office hours"},
		{"EST: 14:30 UTC is 09:30", est, time.Date(2026, 11, 30, 14, 30, 0, 0, time.UTC), 10, "office hours"},
		{"EST: 09:30 UTC is 04:30", est, time.Date(2026, 11, 30, 9, 30, 0, 0, time.UTC), 1, "hold at 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustBudget(t, scaler.BudgetConfig{Capacity: 100, Min: 1, Floors: floors, Location: tc.loc})
			d := p.Decide(scaler.Input{Now: tc.at, Current: 1, Ready: 1})
			if d.Count != tc.want || !strings.Contains(d.Reason, tc.note) {
				t.Fatalf("%s: %v, want %d with %q", tc.at, d, tc.want, tc.note)
			}
			// With data: the floor holds the count up while the traffic
			// needs one task.
			d = p.Decide(scaler.Input{Now: tc.at.Add(2 * time.Second), Current: d.Count, Ready: d.Count,
				Obs: &scaler.Observation{At: tc.at.Add(2 * time.Second), RPS: 50}})
			if d.Count != tc.want {
				t.Fatalf("%s with 50 req/s: %v, want %d", tc.at, d, tc.want)
			}
		})
	}
}
