package elb_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
	"github.com/webfarm/webfarm/lb/lbtest"
)

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestConformance runs the lbtest suite against the driver for every kind
// of load balancer, each case on a fresh fake AWS, with traffic published
// to CloudWatch and the clock moved a minute between Stats readings so
// that the counters move.
func TestConformance(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *elbtest.Server) elb.Config
		dims  map[string]string
		ns    string
		name2 string
	}{
		{"ALB IP targets", func(s *elbtest.Server) elb.Config {
			s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip", Protocol: "HTTP", Port: 80, DeregistrationDelay: 300 * time.Second})
			return elb.Config{TargetGroupARN: tgARN}
		}, albDims, "AWS/ApplicationELB", "RequestCount"},
		{"ALB instance targets", func(s *elbtest.Server) elb.Config {
			s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "instance", Protocol: "HTTP", Port: 80, DeregistrationDelay: 30 * time.Second, HealthyAfter: time.Minute})
			return elb.Config{TargetGroupARN: tgARN, InstanceID: instanceOf}
		}, albDims, "AWS/ApplicationELB", "RequestCount"},
		{"NLB IP targets with adoption", func(s *elbtest.Server) elb.Config {
			s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{nlbARN}, TargetType: "ip", Protocol: "TCP", Port: 80})
			return elb.Config{TargetGroupARN: tgARN, Adopt: true}
		}, map[string]string{"LoadBalancer": nlbDim}, "AWS/NetworkELB", "NewFlowCount"},
		{"classic ELB", func(s *elbtest.Server) elb.Config {
			s.AddClassic(elbtest.ClassicLB{Name: classicLB, DrainTimeout: 300 * time.Second})
			return elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf}
		}, map[string]string{"LoadBalancerName": classicLB}, "AWS/ELB", "RequestCount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s *elbtest.Server
			lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
				s = elbtest.New(t, t0)
				// The load balancer has served traffic before: Stats has
				// a reading from the first call.
				s.PutMetric(tc.ns, tc.name2, tc.dims, t0.Add(-5*time.Minute), 120)
				return newBalancer(t, s, tc.setup(s))
			}, lbtest.Config{
				Addr: func(i int) netip.AddrPort {
					if tc.ns == "AWS/ELB" {
						// A classic load balancer sends traffic to its
						// listener's instance port (80 in the fake).
						return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}), 80)
					}
					return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.10"), uint16(31000+i))
				},
				Traffic: func(context.Context, lb.Balancer) (int, error) {
					// Publish 120 requests for the minute that becomes
					// complete when the clock moves on by a minute.
					s.PutMetric(tc.ns, tc.name2, tc.dims, s.Now().Add(-2*time.Minute), 120)
					s.Advance(time.Minute)
					return 120, nil
				},
			})
		})
	}
}

// TestConformanceCountersMove checks that the traffic the conformance
// cases publish really moves the counter (so CountersMonotonic compared
// moving numbers, not zeros).
func TestConformanceCountersMove(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	ctx := context.Background()
	var last lb.Stats
	for i := range 4 {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-2*time.Minute), 120)
		s.Advance(time.Minute)
		st, err := b.Stats(ctx)
		if err != nil {
			t.Fatalf("reading %d: Stats() = %v", i, err)
		}
		if i > 0 && (st.Requests != last.Requests+120 || st.At.Sub(last.At) != time.Minute) {
			t.Fatalf("reading %d: %d at %s after %d at %s, want +120 and +1m", i, st.Requests, st.At, last.Requests, last.At)
		}
		last = st
	}
}
