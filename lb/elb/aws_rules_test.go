package elb_test

// Tests of issue 14: each defect of the driver that the strict fake
// (elbtest) shows, one test per defect, each failing on the driver as it
// was before the fix.

import (
	"context"
	"errors"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
	"github.com/webfarm/webfarm/scaler"
)

// fakeNLB starts a fake with an NLB (TCP) target group.
func fakeNLB(t testing.TB, delay time.Duration, termination bool) *elbtest.Server {
	t.Helper()
	s := elbtest.New(t, t0)
	s.AddTargetGroup(elbtest.TargetGroup{
		ARN: tgARN, LoadBalancerARNs: []string{nlbARN}, TargetType: "ip", Protocol: "TCP", Port: 443,
		DeregistrationDelay: delay, ConnectionTermination: termination,
	})
	return s
}

// Defect 1: AWS/NetworkELB publishes NewFlowCount by LoadBalancer (and
// AvailabilityZone, LoadBalancer), never by TargetGroup; a query by
// LoadBalancer+TargetGroup has no datapoints, and Stats read 0 flows.
func TestNLBStatsCountsFlowsOfTheLoadBalancer(t *testing.T) {
	s := fakeNLB(t, 300*time.Second, false)
	s.Traffic(nlbDim, tgDim, minute(-4), 33)   // as AWS publishes it
	s.Traffic(albDim, tgDim, minute(-4), 1000) // another load balancer
	b := newBalancer(t, s, elb.Config{})
	got, err := b.Stats(context.Background())
	if err != nil || got.Requests != 33 {
		t.Fatalf("NLB Stats = %+v, %v; want 33 new flows (NewFlowCount by LoadBalancer)", got, err)
	}
}

// Defect 2: a metric that never has datapoints (wrong dimension, name or
// region) must not read as an idle farm: by default Stats holds and then
// fails with ErrStale naming the metric and its dimensions.
func TestMissingDataHoldsByDefault(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	for m := range 8 {
		s.Advance(time.Minute)
		got, err := b.Stats(context.Background())
		if err == nil {
			t.Fatalf("minute %d without any datapoint: Stats = %d requests at %s, want no reading (hold), not zero traffic",
				m, got.Requests, got.At.Format("15:04"))
		}
		if !errors.Is(err, elb.ErrStale) {
			t.Fatalf("Stats = %v, want ErrStale", err)
		}
		for _, part := range []string{"AWS/ApplicationELB", "RequestCount", "LoadBalancer=" + albDim, "TargetGroup=" + tgDim} {
			if !strings.Contains(err.Error(), part) {
				t.Fatalf("Stats error %q does not name %s", err, part)
			}
		}
	}
	// MissingZero too reads gaps as zero only once the metric has existed.
	z := newBalancer(t, s, elb.Config{Missing: elb.MissingZero})
	if got, err := z.Stats(context.Background()); !errors.Is(err, elb.ErrStale) {
		t.Fatalf("MissingZero before any datapoint: Stats = %+v, %v; want ErrStale", got, err)
	}
}

// Defect 2, at New: a query that can never match fails New with a
// message naming namespace, metric and dimensions.
func TestNewRejectsQueriesThatNeverMatch(t *testing.T) {
	tests := []struct {
		name     string
		lbARN    string
		cfg      elb.Config
		mentions []string
	}{
		{"NLB has no RequestCount", nlbARN, elb.Config{MetricName: "RequestCount"},
			[]string{"AWS/NetworkELB RequestCount", "LoadBalancer=" + nlbDim}},
		{"ALB metric misspelt", albARN, elb.Config{MetricName: "RequestCounts"},
			[]string{"AWS/ApplicationELB RequestCounts", "LoadBalancer=" + albDim, "TargetGroup=" + tgDim}},
		{"LoadBalancer dimension of another load balancer", albARN, elb.Config{LoadBalancer: "app/other/0123456789abcdef"},
			[]string{`LoadBalancer dimension "app/other/0123456789abcdef"`, albDim}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := elbtest.New(t, t0)
			s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{tc.lbARN}, TargetType: "ip", Port: 80})
			ac := s.AWSConfig()
			tc.cfg.AWS, tc.cfg.TargetGroupARN, tc.cfg.Now = &ac, tgARN, s.Now
			_, err := elb.New(context.Background(), tc.cfg)
			if !errors.Is(err, lb.ErrInvalid) {
				t.Fatalf("New = %v, want an error wrapping lb.ErrInvalid", err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("New error %q does not name %q", err, m)
				}
			}
		})
	}
}

// Defect 3: an NLB without connection termination reports a drained
// target "unused" at the end of the deregistration delay while its flows
// go on; ActiveConns must not report it idle then.
func TestNLBDrainWaitsOutFlows(t *testing.T) {
	ctx := context.Background()
	for _, termination := range []bool{false, true} {
		name := map[bool]string{false: "flows outlive the delay", true: "connection termination"}[termination]
		t.Run(name, func(t *testing.T) {
			s := fakeNLB(t, 60*time.Second, termination)
			b := newBalancer(t, s, elb.Config{DrainPoll: time.Nanosecond})
			mustNil(t, "Add", b.Add(ctx, backend("web-1", "10.0.0.1:31001")))
			s.SetFlows(tgARN, "10.0.0.1", 31001, 5)
			mustNil(t, "Drain", b.Drain(ctx, "web-1"))
			s.Advance(61 * time.Second)
			if st := s.TargetState(tgARN, "10.0.0.1", 31001); st != "unused" {
				t.Fatalf("fake: target %s after the delay, want unused", st)
			}
			n, err := b.ActiveConns(ctx, "web-1")
			mustNil(t, "ActiveConns", err)
			flows := s.Flows(tgARN, "10.0.0.1", 31001)
			switch {
			case termination && (flows != 0 || n != 0):
				t.Fatalf("with connection termination: %d flows, ActiveConns %d after the delay; want 0, 0", flows, n)
			case !termination && (flows != 5 || n != 1):
				t.Fatalf("without connection termination: %d flows open, ActiveConns %d; want 5 flows and ActiveConns 1", flows, n)
			}
			if termination {
				return
			}
			// Config.FlowLinger (350 s, the NLB TCP idle timeout) after the delay.
			s.Advance(348 * time.Second)
			if n, _ := b.ActiveConns(ctx, "web-1"); n != 1 {
				t.Fatalf("ActiveConns 1 s before FlowLinger ends = %d, want 1", n)
			}
			s.Advance(time.Second)
			if n, _ := b.ActiveConns(ctx, "web-1"); n != 0 {
				t.Fatalf("ActiveConns after delay + FlowLinger = %d, want 0", n)
			}
		})
	}
}

// Defect 4: one terminated instance makes DescribeTargetHealth that names
// it fail with InvalidTarget; Health, ActiveConns and drains of the other
// targets must go on.
func TestTerminatedInstanceDoesNotBreakThePool(t *testing.T) {
	ctx := context.Background()
	s := fakeALB(t, "instance")
	b := newBalancer(t, s, elb.Config{InstanceID: instanceOf, DrainPoll: time.Nanosecond})
	mustNil(t, "Add a", b.Add(ctx, backend("a", "10.0.0.1:31001")))
	mustNil(t, "Add b", b.Add(ctx, backend("b", "10.0.0.2:31001")))
	s.TerminateInstance("i-a")
	h, err := b.Health(ctx)
	if err != nil {
		t.Fatalf("Health with one terminated instance = %v", err)
	}
	if h["b"] != lb.StateReady || h["a"] != lb.StateDown {
		t.Errorf("Health = %v, want b ready and the terminated a down", h)
	}
	if n, err := b.ActiveConns(ctx, "b"); n != 1 || err != nil {
		t.Errorf("ActiveConns(b) = %d, %v; want 1", n, err)
	}
	mustNil(t, "Drain of the terminated a", b.Drain(ctx, "a"))
	if n, err := b.ActiveConns(ctx, "a"); n != 0 || err != nil {
		t.Errorf("ActiveConns(a) = %d, %v; want 0 (ELB holds no terminated instance)", n, err)
	}
	mustNil(t, "WaitDrained(a)", b.WaitDrained(ctx, "a"))
	mustNil(t, "Drain b", b.Drain(ctx, "b"))
	if n, err := b.ActiveConns(ctx, "b"); n != 1 || err != nil {
		t.Errorf("ActiveConns(b) draining = %d, %v; want 1", n, err)
	}
}

// Defect 5: classic ELB reports a draining instance InService with
// "Instance deregistration currently in progress" and lets go of it as
// soon as its connections end; the driver must see that, not wait out
// the whole connection-draining timeout.
func TestClassicDrainEndsWhenELBSaysSo(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddClassic(elbtest.ClassicLB{Name: classicLB, DrainTimeout: 300 * time.Second})
	b := newBalancer(t, s, elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf, DrainPoll: time.Nanosecond})
	mustNil(t, "Add", b.Add(ctx, backend("a", "10.0.0.1:80")))
	mustNil(t, "Drain", b.Drain(ctx, "a"))
	s.Advance(10 * time.Second)
	if n, _ := b.ActiveConns(ctx, "a"); n != 1 {
		t.Fatalf("ActiveConns while ELB drains = %d, want 1", n)
	}
	s.EndConnections(classicLB, "i-a")
	s.Advance(time.Second)
	if n, err := b.ActiveConns(ctx, "a"); n != 0 || err != nil {
		t.Fatalf("ActiveConns after ELB ended the drain (11 s of a 300 s timeout) = %d, %v; want 0", n, err)
	}
	mustNil(t, "WaitDrained", b.WaitDrained(ctx, "a"))
}

// Defect 5: a classic load balancer sends traffic to its listeners'
// InstancePort; a backend on another port would never get any.
func TestClassicBackendPortMustBeTheInstancePort(t *testing.T) {
	ctx := context.Background()
	s := elbtest.New(t, t0)
	s.AddClassic(elbtest.ClassicLB{Name: classicLB, Listeners: []elbtest.Listener{{Protocol: "HTTP", LoadBalancerPort: 80, InstancePort: 8080}}})
	b := newBalancer(t, s, elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf})
	err := b.Add(ctx, backend("a", "10.0.0.1:31000"))
	if !errors.Is(err, lb.ErrInvalid) || !strings.Contains(err.Error(), "8080") || !strings.Contains(err.Error(), "31000") {
		t.Fatalf("Add on port 31000 behind a listener to instance port 8080 = %v; want lb.ErrInvalid naming both ports", err)
	}
	if got := s.Instances(classicLB); len(got) != 0 {
		t.Errorf("a refused Add registered %v", got)
	}
	mustNil(t, "Add on the instance port", b.Add(ctx, backend("a", "10.0.0.1:8080")))
}

// Defect 6: the package doc must state AWS's target group health-check
// defaults (30 s interval, 5 healthy checks: 150 s before a new target
// gets traffic) and, per kind, the metric read, its delay and how drain
// completion is observed.
func TestDocStatesAWSDefaultsPerKind(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(f.Doc.Text()), " ")
	for _, want := range []string{
		"30 s × 5 = 150 s",
		"ALB: CloudWatch AWS/ApplicationELB RequestCount by LoadBalancer and TargetGroup",
		"NLB: CloudWatch AWS/NetworkELB NewFlowCount by LoadBalancer",
		"Classic ELB: CloudWatch AWS/ELB RequestCount by LoadBalancerName",
		"Instance deregistration currently in progress",
		"deregistration_delay.connection_termination.enabled",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("package doc does not say %q", want)
		}
	}
	if strings.Contains(doc, "10 s × 5") {
		t.Error("package doc still gives a 10 s health-check interval; AWS's default is 30 s")
	}
}

// An NLB farm scales up under load: flows published as AWS publishes
// them reach scaler.Controller through Stats and raise the count.
func TestNLBFarmScalesUpUnderLoad(t *testing.T) {
	s := fakeNLB(t, 300*time.Second, false)
	b := newBalancer(t, s, elb.Config{})
	tgt := &countTarget{n: 2}
	c := &scaler.Controller{Balancer: b, Runner: tgt, Policy: delayedPolicy(t, 4*time.Minute),
		Interval: time.Minute, MaxGap: 3 * time.Minute, Now: s.Now, Logger: testLogger(t)}
	ctx := context.Background()
	counts := []int{}
	for m := range 10 {
		flowsPerSec := 5.0
		if m >= 3 {
			flowsPerSec = 60 // load: 60 new flows/s at 10 per task
		}
		s.Traffic(nlbDim, tgDim, s.Now().Add(-time.Minute), flowsPerSec*60)
		s.Advance(time.Minute)
		r, _ := c.Tick(ctx)
		counts = append(counts, tgt.n)
		t.Logf("%s: %d tasks (%s; err %v)", s.Now().Format("15:04"), tgt.n, r.Decision, r.Err)
	}
	if counts[0] != 2 || counts[len(counts)-1] != 6 {
		t.Fatalf("task counts per minute = %v; want 2 at first and 6 (60 flows/s ÷ 10) under load", counts)
	}
}
