package sim_test

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/baseline"
	"github.com/webfarm/webfarm/scaler/sim"
)

// perTask is ⌈rps/capacity⌉ with no memory; it holds without data and
// counts the polls that had none.
type perTask struct {
	capacity float64
	noData   int
}

func (p *perTask) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current, Count: in.Current, Reason: "hold"}
	if in.Obs == nil {
		p.noData++
		return d
	}
	d.Count = int(math.Ceil(in.Obs.RPS / p.capacity))
	return d
}

func TestRunByHand(t *testing.T) {
	// 10 s buckets: 100, 100, 300, 300 req/s. One task serves 100 req/s and
	// starts in 4 s; a poll every 2 s. The step at second 20 is seen by the
	// poll after second 21, whose 2 tasks serve from second 26: seconds 20
	// to 25 are 200 req/s over capacity.
	tr := sim.Trace{Start: time.Unix(0, 0), Step: 10 * time.Second, Rates: []float64{100, 100, 300, 300}}
	cfg := sim.Config{Capacity: 100, Startup: 4 * time.Second, Poll: 2 * time.Second}
	got, err := sim.Run(context.Background(), tr, &perTask{capacity: 100}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := sim.Result{Seconds: 40, TaskSeconds: 22 + 18*3, Requests: 8000, RequestsOver: 1200, SecondsOver: 6, Actions: 1, PeakTasks: 3}
	if got != want {
		t.Errorf("Run = %+v\nwant  %+v", got, want)
	}
	// The oracle launches 2 tasks 4 s early: 40 + 2 × (20 + 4).
	o, err := sim.Oracle(context.Background(), tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := (sim.Result{Name: "oracle", Seconds: 40, TaskSeconds: 88, Requests: 8000, Actions: 1, PeakTasks: 3}); o != want {
		t.Errorf("Oracle = %+v\nwant     %+v", o, want)
	}
}

// seesaw adds a task at one poll and removes it at the next.
type seesaw struct{ n int }

func (s *seesaw) Decide(in scaler.Input) scaler.Decision {
	s.n++
	return scaler.Decision{Current: in.Current, Count: 1 + s.n%2, Reason: "seesaw"}
}

func TestRunCountsFlaps(t *testing.T) {
	// Two 60 s buckets, a poll every 10 s: the seesaw acts at every poll
	// (12 actions, each undoing the previous one within 2 minutes: 11
	// reversals), and the reversal at 70 s follows one in the other
	// bucket, so it is not a flap.
	tr := sim.Trace{Start: time.Unix(0, 0), Step: time.Minute, Rates: []float64{50, 60}}
	got, err := sim.Run(context.Background(), tr, &seesaw{}, sim.Config{Capacity: 100, Poll: 10 * time.Second, Initial: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got.Actions != 12 || got.Reversals != 11 || got.Flaps != 10 {
		t.Errorf("seesaw: %d actions, %d reversals, %d flaps; want 12, 11, 10", got.Actions, got.Reversals, got.Flaps)
	}
}

func TestOracleKeepsIdleTasksOverShortGaps(t *testing.T) {
	tr := sim.Trace{Start: time.Unix(0, 0), Step: 10 * time.Second, Rates: []float64{300, 100, 300}}
	tests := []struct {
		name    string
		startup time.Duration
		want    float64
	}{
		{"gap longer than start-up: stop and relaunch", 4 * time.Second, 30 + 10 + 10 + 2*(4+10)},
		{"gap shorter than start-up: keep idle", 20 * time.Second, 30 + 10 + 10 + 2*(10+10)},
		{"no start-up", 0, 30 + 10 + 10 + 2*10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := sim.Oracle(context.Background(), tr, sim.Config{Capacity: 100, Startup: tc.startup})
			if err != nil {
				t.Fatal(err)
			}
			if o.TaskSeconds != tc.want || o.RequestsOver != 0 {
				t.Errorf("Oracle task-seconds %v, over %v; want %v, 0", o.TaskSeconds, o.RequestsOver, tc.want)
			}
		})
	}
}

func TestRunUnknownDemand(t *testing.T) {
	tr := sim.Trace{Start: time.Unix(0, 0), Step: 10 * time.Second, Rates: []float64{100, math.NaN(), 100}}
	p := &perTask{capacity: 100}
	got, err := sim.Run(context.Background(), tr, p, sim.Config{Capacity: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got.Seconds != 20 || got.Requests != 2000 || got.TaskSeconds != 20 {
		t.Errorf("Run over an unknown bucket = %+v, want 20 known seconds", got)
	}
	if p.noData != 5 {
		t.Errorf("policy saw %d polls without data, want 5 (the polls that cover the unknown bucket)", p.noData)
	}
}

func TestRunErrors(t *testing.T) {
	good := sim.Trace{Step: time.Second, Rates: []float64{1}}
	tests := []struct {
		name string
		tr   sim.Trace
		cfg  sim.Config
		s    scaler.Policy
		want string
	}{
		{"no capacity", good, sim.Config{}, &perTask{capacity: 1}, "Capacity 0"},
		{"NaN capacity", good, sim.Config{Capacity: math.NaN()}, &perTask{capacity: 1}, "Capacity NaN"},
		{"sub-second startup", good, sim.Config{Capacity: 1, Startup: time.Millisecond}, &perTask{capacity: 1}, "Startup 1ms"},
		{"max below min", good, sim.Config{Capacity: 1, Min: 2, Max: 1}, &perTask{capacity: 1}, "Max 1 is below Min 2"},
		{"empty trace", sim.Trace{Step: time.Second}, sim.Config{Capacity: 1}, &perTask{capacity: 1}, "no buckets"},
		{"negative rate", sim.Trace{Step: time.Second, Rates: []float64{-1}}, sim.Config{Capacity: 1}, &perTask{capacity: 1}, "rate -1"},
		{"nil scaler", good, sim.Config{Capacity: 1}, nil, "nil Scaler"},
		{"negative count", good, sim.Config{Capacity: 1, Poll: time.Second}, negative{}, "negative count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.Run(context.Background(), tc.tr, tc.s, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sim.Run(ctx, good, &perTask{capacity: 1}, sim.Config{Capacity: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context = %v", err)
	}
}

type negative struct{}

func (negative) Decide(in scaler.Input) scaler.Decision {
	return scaler.Decision{Current: in.Current, Count: -1, Reason: "broken"}
}

// policies are webfarm's default and the baselines, as examples/simulate
// runs them.
func policies(target float64) []sim.Policy {
	return []sim.Policy{
		{Name: "webfarm", New: func() (scaler.Policy, error) {
			return scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: target, Min: 1})
		}},
		{Name: "hpa", New: func() (scaler.Policy, error) {
			return baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: target, Min: 1})
		}},
		{Name: "kpa", New: func() (scaler.Policy, error) {
			return baseline.NewKPA(baseline.KPAConfig{RequestsPerTask: target, Min: 1})
		}},
		{Name: "marathon-lb", New: func() (scaler.Policy, error) {
			return baseline.NewMarathonLB(baseline.MarathonLBConfig{RequestsPerTask: target, Min: 1})
		}},
	}
}

// goal asserts the goal on a replay: webfarm within maxCost of the
// oracle's task-seconds, under maxOver % of requests over capacity, and
// better than the HPA-equivalent on cost or SLO without being worse on the
// other.
func goal(t *testing.T, res []sim.Result, maxCost, maxOver float64) {
	t.Helper()
	var b strings.Builder
	if err := sim.WriteTable(&b, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
	ours, hpa, oracle := res[0], res[1], res[len(res)-1]
	if cost := ours.TaskSeconds / oracle.TaskSeconds; cost > maxCost {
		t.Errorf("webfarm uses %.3f× the oracle's task-seconds, want ≤ %.2f×", cost, maxCost)
	}
	if ours.OverPercent() >= maxOver {
		t.Errorf("webfarm has %.3f%% of requests over capacity, want < %.2f%%", ours.OverPercent(), maxOver)
	}
	cheaper, safer := ours.TaskSeconds < hpa.TaskSeconds, ours.RequestsOver < hpa.RequestsOver
	notCostlier, notWorse := ours.TaskSeconds <= hpa.TaskSeconds, ours.RequestsOver <= hpa.RequestsOver
	if !(cheaper && notWorse || safer && notCostlier) {
		t.Errorf("webfarm (%.0f task-s, %.0f over) does not beat the HPA-equivalent (%.0f task-s, %.0f over) on one without losing on the other",
			ours.TaskSeconds, ours.RequestsOver, hpa.TaskSeconds, hpa.RequestsOver)
	}
	if ours.Flaps > hpa.Flaps {
		t.Errorf("webfarm flapped %d times (reversals with no change in demand), the HPA-equivalent %d", ours.Flaps, hpa.Flaps)
	}
	if oracle.RequestsOver != 0 {
		t.Errorf("oracle ran %v requests over capacity", oracle.RequestsOver)
	}
	for _, r := range res[:len(res)-1] {
		if r.TaskSeconds < oracle.TaskSeconds && r.RequestsOver == 0 {
			t.Errorf("%s beat the oracle: %+v vs %+v", r.Name, r, oracle)
		}
	}
}

func TestSyntheticTrace(t *testing.T) {
	tr, err := sim.LoadCSV("testdata/synthetic-2d-5m.csv")
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = tr.ScaleToPeak(5000); err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		tr = tr.Slice(0, 288)
	}
	cfg := sim.Config{Capacity: 100, Startup: 30 * time.Second, Min: 1}
	res, err := sim.Compare(context.Background(), tr, cfg, policies(90))
	if err != nil {
		t.Fatal(err)
	}
	goal(t, res, 1.15, 0.5)
}

// nasaTrace is the shared trace beside the repository; CI has it at
// ../shared/traces.
const nasaTrace = "../../../shared/traces/nasa-http-1995-5m.csv"

func TestNASASlice(t *testing.T) {
	tr, err := sim.LoadCSV(nasaTrace)
	if errors.Is(err, os.ErrNotExist) {
		testenv.Need(t, "the NASA trace "+nasaTrace, "it lives in ../shared/traces beside the clone; the synthetic trace still runs")
	}
	if err != nil {
		t.Fatal(err)
	}
	if tr, err = tr.ScaleToPeak(5000); err != nil {
		t.Fatal(err)
	}
	days := 3
	if testing.Short() {
		days = 1
	}
	// The first days of July 1995, scaled as the full replay scales them
	// (the full trace is `make simulate` and BenchmarkNASA).
	tr = tr.Slice(0, days*288)
	res, err := sim.Compare(context.Background(), tr, sim.Config{Capacity: 100, Startup: 30 * time.Second, Min: 1, Max: 1000}, policies(90))
	if err != nil {
		t.Fatal(err)
	}
	goal(t, res, 1.15, 0.5)
}
