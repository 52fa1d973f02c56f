package scaler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/scaler"
)

// perTask is a test policy: ceil(rps/target), holding without data.
type perTask struct{ target float64 }

func (p perTask) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current, Count: in.Current}
	if in.Obs == nil {
		d.Reason = fmt.Sprintf("no data (%v): hold", in.NoData)
		return d
	}
	d.Count = int(math.Ceil(in.Obs.RPS / p.target))
	d.Reason = fmt.Sprintf("rps %.0f / %.0f", in.Obs.RPS, p.target)
	return d
}

type fakeTarget struct {
	mu      sync.Mutex
	desired int
	err     error
	sets    []int
}

func (f *fakeTarget) Status(context.Context) (scaler.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return scaler.Status{Desired: f.desired, Running: f.desired}, nil
}

func (f *fakeTarget) SetDesired(_ context.Context, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.desired = n
	f.sets = append(f.sets, n)
	return nil
}

func TestControllerTimeline(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	m := &lbtest.Memory{Now: func() time.Time { return now }}
	tgt := &fakeTarget{desired: 2}
	var reports []scaler.Report
	c := &scaler.Controller{Balancer: m, Policy: perTask{target: 10}, Runner: tgt, Interval: time.Second,
		Now: func() time.Time { return now }, OnDecision: func(r scaler.Report) { reports = append(reports, r) }}

	step := func(name string, serve uint64, wantDesired int, wantApplied bool) {
		t.Helper()
		m.Serve(serve)
		r, err := c.Tick(ctx)
		if err != nil {
			t.Fatalf("%s: Tick = %v", name, err)
		}
		if tgt.desired != wantDesired || r.Applied != wantApplied {
			t.Fatalf("%s: desired %d applied %v, want %d %v (%s)", name, tgt.desired, r.Applied, wantDesired, wantApplied, r.Decision)
		}
		now = now.Add(time.Second)
	}
	step("first reading gives no rate: hold", 0, 2, false)
	step("50 rps → 5", 50, 5, true)
	step("same rate: hold", 50, 5, false)
	m.FailStats(errors.New("socket gone"))
	step("stats fail: hold, never zero", 0, 5, false)
	m.FailStats(nil)
	m.Restart()
	step("counter reset is not negative traffic; 60 requests over the 2 s since the last good reading", 60, 3, true)
	if len(reports) != 5 {
		t.Errorf("OnDecision called %d times, want 5", len(reports))
	}
	if reports[3].Err == nil || reports[3].Input.Obs != nil {
		t.Errorf("failed poll report = %+v, want Err set and no observation", reports[3])
	}
}

func TestControllerDryRun(t *testing.T) {
	now := time.Unix(0, 0)
	m := &lbtest.Memory{Now: func() time.Time { return now }}
	tgt := &fakeTarget{desired: 1}
	c := &scaler.Controller{Balancer: m, Policy: perTask{target: 1}, Runner: tgt, DryRun: true, Now: func() time.Time { return now }}
	for range 3 {
		m.Serve(100)
		r, err := c.Tick(context.Background())
		if err != nil || r.Applied {
			t.Fatalf("dry-run Tick = %+v, %v", r, err)
		}
		now = now.Add(time.Second)
	}
	if len(tgt.sets) != 0 {
		t.Errorf("dry run set the target: %v", tgt.sets)
	}
}

func TestControllerSetDesiredError(t *testing.T) {
	now := time.Unix(0, 0)
	m := &lbtest.Memory{Now: func() time.Time { return now }}
	boom := errors.New("mesos down")
	tgt := &fakeTarget{desired: 1, err: boom}
	c := &scaler.Controller{Balancer: m, Policy: perTask{target: 1}, Runner: tgt, Now: func() time.Time { return now }}
	_, _ = c.Tick(context.Background())
	now = now.Add(time.Second)
	m.Serve(10)
	if _, err := c.Tick(context.Background()); !errors.Is(err, boom) {
		t.Errorf("Tick with failing target = %v, want it to wrap %v", err, boom)
	}
}

func TestControllerRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &scaler.Controller{Balancer: lbtest.NewMemory(), Policy: perTask{target: 1}, Runner: &fakeTarget{}, Interval: time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestControllerValidates(t *testing.T) {
	var _ lb.Balancer = lbtest.NewMemory()
	c := &scaler.Controller{}
	if err := c.Run(context.Background()); !errors.Is(err, scaler.ErrInvalid) {
		t.Errorf("Run with no fields = %v, want ErrInvalid", err)
	}
}

// recorder is a policy that holds and keeps what it saw.
type recorder struct{ inputs []scaler.Input }

func (r *recorder) Decide(in scaler.Input) scaler.Decision {
	r.inputs = append(r.inputs, in)
	return scaler.Decision{At: in.Now, Current: in.Current, Count: in.Current, Reason: "hold"}
}

func TestControllerSources(t *testing.T) {
	now := time.Unix(0, 0)
	m := &lbtest.Memory{Now: func() time.Time { return now }}
	rec := &recorder{}
	cpuErr := errors.New("cpu exporter down")
	var failCPU bool
	c := &scaler.Controller{Balancer: m, Policy: rec, Runner: &fakeTarget{desired: 3}, Now: func() time.Time { return now },
		Sources: []scaler.MetricSource{
			scaler.MetricSourceFunc(func(ctx context.Context) (map[string]float64, error) {
				if failCPU {
					return nil, cpuErr
				}
				return map[string]float64{"cpu": 0.7}, nil
			}),
			scaler.MetricSourceFunc(func(ctx context.Context) (map[string]float64, error) {
				return map[string]float64{"latency_ms": 40}, nil
			}),
		}}
	tick := func() scaler.Input {
		t.Helper()
		m.Serve(10)
		if _, err := c.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Second)
		return rec.inputs[len(rec.inputs)-1]
	}
	tick()
	in := tick()
	if in.Obs == nil || in.Obs.Signals["cpu"] != 0.7 || in.Obs.Signals["latency_ms"] != 40 || in.Degraded != nil {
		t.Fatalf("input with two sources = %+v (obs %+v), want both signals and no degradation", in, in.Obs)
	}
	failCPU = true
	in = tick()
	if !errors.Is(in.Degraded, cpuErr) || in.Obs.Signals["latency_ms"] != 40 {
		t.Fatalf("input with a failed source = %+v, want Degraded wrapping %v and the other signal", in, cpuErr)
	}
	if _, ok := in.Obs.Signals["cpu"]; ok {
		t.Errorf("failed source still gave a cpu value: %v", in.Obs.Signals)
	}
}

func TestControllerStartingTasks(t *testing.T) {
	rec := &recorder{}
	st := statusTarget{s: scaler.Status{Desired: 6, Running: 2, Starting: 4}}
	c := &scaler.Controller{Balancer: lbtest.NewMemory(), Policy: rec, Runner: st}
	if _, err := c.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if in := rec.inputs[0]; in.Current != 6 || in.Ready != 2 || in.Starting != 4 {
		t.Errorf("input = %+v, want Current 6, Ready 2, Starting 4", in)
	}
}

type statusTarget struct{ s scaler.Status }

func (s statusTarget) Status(context.Context) (scaler.Status, error) { return s.s, nil }
func (s statusTarget) SetDesired(context.Context, int) error         { return nil }

func TestControllerFallback(t *testing.T) {
	tests := []struct {
		name     string
		current  int
		fallback int
		after    int
		want     []int // desired after each failed tick
	}{
		{"raises after 3 failed polls by default", 2, 5, 0, []int{2, 2, 5, 5}},
		{"after 1", 2, 5, 1, []int{5, 5}},
		{"never lowers", 8, 5, 1, []int{8, 8}},
		{"off when zero", 2, 0, 1, []int{2, 2, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := lbtest.NewMemory()
			m.FailStats(errors.New("socket gone"))
			tgt := &fakeTarget{desired: tc.current}
			var reps []scaler.Report
			c := &scaler.Controller{Balancer: m, Policy: perTask{target: 10}, Runner: tgt, Fallback: tc.fallback,
				FallbackAfter: tc.after, OnDecision: func(r scaler.Report) { reps = append(reps, r) }}
			for i, want := range tc.want {
				if _, err := c.Tick(context.Background()); err != nil {
					t.Fatal(err)
				}
				if tgt.desired != want {
					t.Fatalf("tick %d: desired %d, want %d (%v)", i+1, tgt.desired, want, reps[i].Decision)
				}
			}
			last := reps[len(reps)-1]
			if raised := tc.want[len(tc.want)-1] != tc.current; raised != (last.Fallback || reps[len(reps)-2].Fallback) {
				t.Errorf("Report.Fallback = %v, want %v", last.Fallback, raised)
			}
		})
	}
}

func TestControllerValidation(t *testing.T) {
	ok := scaler.Controller{Balancer: lbtest.NewMemory(), Policy: perTask{target: 1}, Runner: &fakeTarget{}}
	tests := []struct {
		name string
		edit func(c *scaler.Controller)
		want string
	}{
		{"negative interval", func(c *scaler.Controller) { c.Interval = -time.Second }, "Interval -1s"},
		{"negative fallback", func(c *scaler.Controller) { c.Fallback = -1 }, "Fallback -1"},
		{"nil source", func(c *scaler.Controller) { c.Sources = []scaler.MetricSource{nil} }, "Sources[0] is nil"},
		{"no target", func(c *scaler.Controller) { c.Runner = nil }, "Runner is nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			_, err := c.Tick(context.Background())
			if !errors.Is(err, scaler.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Tick = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

// TestControllerTargetTrackingNeverScalesDownOnMissingData drives the real
// policy through the controller: five minutes of balancer errors, and a
// recovery to low traffic, never drop the count before a full stable
// window of fresh samples.
func TestControllerTargetTrackingNeverScalesDownOnMissingData(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(0, 0)
	m := &lbtest.Memory{Now: func() time.Time { return now }}
	tgt := &fakeTarget{desired: 2}
	p, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 10, Min: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := &scaler.Controller{Balancer: m, Policy: p, Runner: tgt, Interval: 2 * time.Second, Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)}
	tick := func(serve uint64) scaler.Report {
		t.Helper()
		m.Serve(serve)
		r, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Second)
		return r
	}
	for range 30 {
		tick(160) // 80 rps: 8 tasks
	}
	if tgt.desired != 8 {
		t.Fatalf("after a minute at 80 rps desired = %d, want 8", tgt.desired)
	}
	m.FailStats(errors.New("stats socket gone"))
	for i := range 150 {
		if r := tick(0); tgt.desired != 8 || !strings.Contains(r.Reason, "stats socket gone") {
			t.Fatalf("failed poll %d: desired %d, reason %q; want a hold at 8 naming the error", i, tgt.desired, r.Reason)
		}
	}
	m.FailStats(nil)
	for i := range 30 {
		if r := tick(2); tgt.desired != 8 {
			t.Fatalf("poll %d after recovery at 1 rps: desired %d (%s), want 8 until a full stable window", i, tgt.desired, r.Reason)
		}
	}
}

// blockingBalancer's Stats waits for ctx to end, as a poll cut short by
// the controller's own stop does.
type blockingBalancer struct {
	*lbtest.Memory
	polling chan struct{}
}

func (b blockingBalancer) Stats(ctx context.Context) (lb.Stats, error) {
	b.polling <- struct{}{}
	<-ctx.Done()
	return lb.Stats{}, fmt.Errorf("stats socket: %w", ctx.Err())
}

func TestControllerCancelIsQuiet(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelInfo})
	bal := blockingBalancer{Memory: lbtest.NewMemory(), polling: make(chan struct{}, 1)}
	rec := &recorder{}
	var reps []scaler.Report
	c := &scaler.Controller{Balancer: bal, Policy: rec, Runner: &fakeTarget{desired: 2}, Fallback: 5, FallbackAfter: 1,
		Interval: time.Millisecond, Logger: slog.New(h), OnDecision: func(r scaler.Report) { reps = append(reps, r) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-bal.polling
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() != 0 {
		t.Errorf("a controller stopped by its own ctx logged:\n%s", logs.String())
	}
	if len(rec.inputs) != 0 {
		t.Errorf("the policy was asked %d times on a cut-short poll: %+v", len(rec.inputs), rec.inputs)
	}
	if len(reps) != 1 || !errors.Is(reps[0].Err, context.Canceled) || reps[0].Fallback {
		t.Errorf("reports %+v, want one wrapping context.Canceled and no fallback", reps)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
