package elb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

// manyGroups starts a fake with n ALB target groups behind one ALB and a
// Balancer on each; target group i serves i+1 requests a minute in the
// ten minutes before t0-2min (minutes -10 … -3).
func manyGroups(t *testing.T, n int) (*elbtest.Server, []*elb.Balancer, func(i int) string) {
	t.Helper()
	s := elbtest.New(t, t0)
	arn := func(i int) string {
		return fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/svc%d/73e2d6bc24d8a067", i)
	}
	dim := func(i int) string { return fmt.Sprintf("targetgroup/svc%d/73e2d6bc24d8a067", i) }
	bs := make([]*elb.Balancer, n)
	for i := range bs {
		s.AddTargetGroup(elbtest.TargetGroup{ARN: arn(i), LoadBalancerARNs: []string{albARN}, TargetType: "ip", Protocol: "HTTP", Port: 80})
		for m := -10; m <= -3; m++ {
			s.PutMetric("AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": albDim, "TargetGroup": dim(i)}, minute(m), float64(i+1))
		}
		bs[i] = newBalancer(t, s, elb.Config{TargetGroupARN: arn(i), Logger: quietLogger})
	}
	return s, bs, dim
}

// TestGroupBatchesGetMetricData: 501 per-service controllers on one
// Group cost ⌈501/500⌉ = 2 GetMetricData calls per period, every one of
// them gets its own target group's count (the same a lone Balancer
// reads), and calls within a period cost none.
func TestGroupBatchesGetMetricData(t *testing.T) {
	const n = elb.MaxQueriesPerCall + 1
	const perRound = (n + elb.MaxQueriesPerCall - 1) / elb.MaxQueriesPerCall
	ctx := context.Background()
	s, bs, dim := manyGroups(t, n)
	lone := newBalancer(t, s, elb.Config{TargetGroupARN: fmt.Sprintf("arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/svc%d/73e2d6bc24d8a067", n-1), Logger: quietLogger})
	g, err := elb.NewGroup(bs...)
	if err != nil {
		t.Fatal(err)
	}
	poll := func() []lb.Stats {
		out := make([]lb.Stats, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i], errs[i] = g.Member(b).Stats(ctx)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for r := range 3 {
		if r > 0 { // a new period: minute r-3 is complete
			for i := range n {
				s.PutMetric("AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": albDim, "TargetGroup": dim(i)}, minute(r-3), float64(i+1))
			}
			s.Advance(time.Minute)
		}
		before := s.Calls("GetMetricData")
		out := poll()
		if got := s.Calls("GetMetricData") - before; got != perRound {
			t.Errorf("round %d: %d controllers cost %d GetMetricData calls, want %d", r, n, got, perRound)
		}
		per := uint64(8 + r) // minutes counted so far
		for i, st := range out {
			if st.Requests != per*uint64(i+1) {
				t.Fatalf("round %d: service %d read %d requests, want %d", r, i, st.Requests, per*uint64(i+1))
			}
		}
		again := s.Calls("GetMetricData")
		poll()
		if got := s.Calls("GetMetricData") - again; got != 0 {
			t.Errorf("round %d: polling again within the period cost %d calls, want 0", r, got)
		}
		alone, err := lone.Stats(ctx)
		if err != nil || alone.Requests != out[n-1].Requests || !alone.At.Equal(out[n-1].At) {
			t.Errorf("round %d: a lone Balancer on service %d reads %+v, %v; the group %+v", r, n-1, alone, err, out[n-1])
		}
	}
}

// TestGroupFailedCallFailsItsQueriesOnly: when one of the batched calls
// fails, its Balancers get the error and read again at their next Stats;
// the others have their readings.
func TestGroupFailedCallFailsItsQueriesOnly(t *testing.T) {
	const n = elb.MaxQueriesPerCall + 2
	ctx := context.Background()
	s, bs, _ := manyGroups(t, n)
	s.Fail("GetMetricData", 400, "InvalidParameterValue", 1) // the first call: services 0…499
	out, err := elb.ReadAll(ctx, bs...)
	if err == nil || !contains(err.Error(), "InvalidParameterValue") {
		t.Fatalf("ReadAll with a failed call = %v, want InvalidParameterValue", err)
	}
	if out[0].Requests != 0 || out[elb.MaxQueriesPerCall-1].Requests != 0 || out[n-1].Requests != 8*n {
		t.Errorf("readings: service 0 %d, 499 %d, %d %d; want 0, 0 (failed) and %d", out[0].Requests, out[elb.MaxQueriesPerCall-1].Requests, n-1, out[n-1].Requests, 8*n)
	}
	before := s.Calls("GetMetricData")
	g, err := elb.NewGroup(bs...)
	if err != nil {
		t.Fatal(err)
	}
	st, err := g.Member(bs[3]).Stats(ctx)
	if err != nil || st.Requests != 8*4 {
		t.Fatalf("service 3 after the failure: %+v, %v; want 32 requests", st, err)
	}
	if got := s.Calls("GetMetricData") - before; got != 1 {
		t.Errorf("reading the %d failed services again cost %d calls, want 1", elb.MaxQueriesPerCall, got)
	}
}

func TestGroupBadMembers(t *testing.T) {
	ctx := context.Background()
	s, bs, _ := manyGroups(t, 2)
	for name, in := range map[string][]*elb.Balancer{"none": nil, "nil": {bs[0], nil}, "twice": {bs[0], bs[1], bs[0]}} {
		if _, err := elb.ReadAll(ctx, in...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("ReadAll(%s) = %v, want lb.ErrInvalid", name, err)
		}
		if _, err := elb.NewGroup(in...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("NewGroup(%s) = %v, want lb.ErrInvalid", name, err)
		}
	}
	s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip", Protocol: "HTTP", Port: 80})
	other := newBalancer(t, s, elb.Config{TargetGroupARN: tgARN, Logger: quietLogger})
	g, err := elb.NewGroup(bs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Member(other).Stats(ctx); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("Stats of a non-member = %v, want lb.ErrInvalid", err)
	}
	// A closed member fails alone: a service removed from the farm does
	// not blind the others.
	if err := bs[0].Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Member(bs[0]).Stats(ctx); !errors.Is(err, lb.ErrClosed) {
		t.Errorf("Stats of a closed member = %v, want lb.ErrClosed", err)
	}
	if st, err := g.Member(bs[1]).Stats(ctx); err != nil || st.Requests != 16 {
		t.Errorf("Stats of the other member = %+v, %v; want 16 requests", st, err)
	}
}
