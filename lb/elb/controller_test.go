package elb_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/scaler"
)

// countTarget is a scaler.Runner whose tasks are ready at once.
type countTarget struct {
	mu sync.Mutex
	n  int
}

func (c *countTarget) Status(context.Context) (scaler.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return scaler.Status{Desired: c.n, Running: c.n}, nil
}

func (c *countTarget) SetDesired(_ context.Context, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = n
	return nil
}

// delayedPolicy is the TargetTracking configuration the package doc
// recommends for CloudWatch's delayed 60-second sums.
func delayedPolicy(t *testing.T, maxAge time.Duration) scaler.Policy {
	t.Helper()
	p, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
		RequestsPerTask: 10, Min: 2, Max: 20,
		StableWindow:      3 * time.Minute,
		PanicWindow:       2 * time.Minute,
		DownStabilization: 10 * time.Minute,
		MaxAge:            maxAge,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestControllerOnCloudWatch drives scaler.Controller with the driver
// through a timeline, a minute per tick on the fake's clock: traffic of 60
// requests/s reaches the policy Offset + one period (3 minutes) after it
// began, and scales the farm to 3, then a minute later to 6; a CloudWatch outage holds the count (never down); traffic
// gone scales down only after the stabilisation window.
func TestControllerOnCloudWatch(t *testing.T) {
	s := fakeALB(t, "ip")
	// MissingZero: the farm scales in when traffic stops (ALB then
	// publishes no RequestCount at all).
	b := newBalancer(t, s, elb.Config{Missing: elb.MissingZero})
	tgt := &countTarget{n: 2}
	c := &scaler.Controller{Balancer: b, Runner: tgt, Policy: delayedPolicy(t, 4*time.Minute),
		Interval: time.Minute, MaxGap: 3 * time.Minute, Now: s.Now, Logger: testLogger(t)}
	ctx := context.Background()
	// The farm served traffic before the controller started: MissingZero
	// reads gaps as zero only for a metric that has had a datapoint.
	s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(-5), 60)
	rps := 0.0
	var lastBusy time.Time // when the policy last saw traffic
	tick := func(name string, want int) scaler.Report {
		t.Helper()
		// The minute now-1m…now is when rps flowed; CloudWatch has it
		// (the driver reads it once it is Offset old).
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-time.Minute), rps*60)
		s.Advance(time.Minute)
		r, _ := c.Tick(ctx)
		if r.Input.Obs != nil && r.Input.Obs.RPS > 0 {
			lastBusy = s.Now()
		}
		if tgt.n != want {
			t.Fatalf("%s at %s: %d tasks, want %d (%s; err %v)", name, s.Now().Format("15:04"), tgt.n, want, r.Decision, r.Err)
		}
		return r
	}
	for i := range 4 {
		tick("idle farm holds at the minimum", 2)
		_ = i
	}
	rps = 60
	tick("the surge's first minute is not 2 minutes old yet", 2)
	tick("one minute of surge in the 2-minute panic window: 30 rps", 3)
	r := tick("60 rps at 10 per task", 6)
	if r.Input.Obs == nil || r.Input.Now.Sub(r.Input.Obs.At) < 2*time.Minute {
		t.Fatalf("the decision used data %v old, want ≥ 2m (the offset)", r.Input.Now.Sub(r.Input.Obs.At))
	}
	tick("steady", 6)
	s.Fail("GetMetricData", http.StatusInternalServerError, "InternalFailure", 1000)
	for range 3 {
		if r := tick("CloudWatch down: hold, never scale down", 6); r.Err == nil || !strings.Contains(r.Err.Error(), "InternalFailure") {
			t.Fatalf("the report of a failed poll carries %v, want the AWS error", r.Err)
		}
	}
	s.ClearFaults()
	rps = 0
	var firstDown time.Time
	for range 30 {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-time.Minute), 0)
		s.Advance(time.Minute)
		r, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Input.Obs != nil && r.Input.Obs.RPS > 0 {
			lastBusy = s.Now()
		}
		if tgt.n < 6 && firstDown.IsZero() {
			firstDown = s.Now()
		}
	}
	// The outage outlasted MaxGap, so the first reading after it is a new
	// baseline: the last busy sample the policy saw is the one before it.
	if firstDown.IsZero() || firstDown.Sub(lastBusy) < 10*time.Minute {
		t.Errorf("first scale-down %s after the last busy sample, want ≥ the 10m stabilisation", firstDown.Sub(lastBusy))
	}
	if tgt.n != 2 {
		t.Errorf("after 30 idle minutes: %d tasks, want the minimum 2", tgt.n)
	}
}

// TestControllerDefaultMaxAgeNeverActs documents the pitfall the package
// doc warns about: with TargetTracking's default MaxAge (30s), CloudWatch
// data (2-3 minutes old by design) is always too old, and the policy
// never scales.
func TestControllerDefaultMaxAgeNeverActs(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	tgt := &countTarget{n: 2}
	c := &scaler.Controller{Balancer: b, Runner: tgt, Policy: delayedPolicy(t, 0),
		Interval: time.Minute, MaxGap: 3 * time.Minute, Now: s.Now, Logger: testLogger(t)}
	var last scaler.Report
	for range 10 {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-time.Minute), 600*60)
		s.Advance(time.Minute)
		last, _ = c.Tick(context.Background())
	}
	if tgt.n != 2 {
		t.Fatalf("with the default MaxAge the policy scaled to %d; the doc's warning is out of date", tgt.n)
	}
	t.Logf("last decision: %s", last.Decision)
}

// TestControllerHoldsOnStale: with MissingUnknown, a silent CloudWatch
// makes Stats fail with ErrStale after MaxStaleness; the controller
// reports it and holds the count instead of scaling down on no data.
func TestControllerHoldsOnStale(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{Missing: elb.MissingUnknown})
	tgt := &countTarget{n: 2}
	c := &scaler.Controller{Balancer: b, Runner: tgt, Policy: delayedPolicy(t, 4*time.Minute),
		Interval: time.Minute, MaxGap: 3 * time.Minute, Now: s.Now, Logger: testLogger(t)}
	ctx := context.Background()
	for range 4 {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-time.Minute), 60*60)
		s.Advance(time.Minute)
		if _, err := c.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if tgt.n != 6 {
		t.Fatalf("60 rps gave %d tasks, want 6", tgt.n)
	}
	var stale int
	for range 12 { // CloudWatch publishes nothing for 12 minutes
		s.Advance(time.Minute)
		r, err := c.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if errors.Is(r.Err, elb.ErrStale) {
			stale++
		}
		if tgt.n != 6 {
			t.Fatalf("silence changed the count to %d (%s)", tgt.n, r.Decision)
		}
	}
	// MaxStaleness is Offset 2m + 5 periods = 7m. The newest datapoint's
	// period ended 1m before the silence began, so the first 6 silent polls
	// see a reading that is merely old (no new rate: hold) and the next 6
	// a stale one.
	if stale != 6 {
		t.Errorf("%d of 12 silent polls reported ErrStale, want 6", stale)
	}
}
