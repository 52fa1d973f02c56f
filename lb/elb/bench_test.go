package elb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/elb"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// BenchmarkStats measures one Stats reading that calls CloudWatch: the
// real SDK client's CBOR round trip to the loopback fake, ten 60-second
// periods per answer, and the driver's accounting.
func BenchmarkStats(b *testing.B) {
	s := fakeALB(b, "ip")
	bal := newBalancer(b, s, elb.Config{TargetType: elb.TargetIP, LoadBalancer: albDim, Logger: quietLogger})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-3*time.Minute), 100)
		s.Advance(time.Minute) // a new period boundary: a real GetMetricData call
		if _, err := bal.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatsCached measures a Stats call within the same period
// boundary, which answers from the last reading without calling AWS.
func BenchmarkStatsCached(b *testing.B) {
	s := fakeALB(b, "ip")
	bal := newBalancer(b, s, elb.Config{TargetType: elb.TargetIP, LoadBalancer: albDim, Logger: quietLogger})
	ctx := context.Background()
	if _, err := bal.Stats(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bal.Stats(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddDrainRemove measures a backend's life in the pool:
// RegisterTargets, DeregisterTargets and the bookkeeping, over awsQuery.
func BenchmarkAddDrainRemove(b *testing.B) {
	s := fakeALB(b, "ip")
	bal := newBalancer(b, s, elb.Config{TargetType: elb.TargetIP, LoadBalancer: albDim, Logger: quietLogger})
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		be := backend(fmt.Sprintf("web-%d", i), fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255))
		if err := bal.Add(ctx, be); err != nil {
			b.Fatal(err)
		}
		if err := bal.Drain(ctx, be.ID); err != nil {
			b.Fatal(err)
		}
		if err := bal.Remove(ctx, be.ID); err != nil {
			b.Fatal(err)
		}
	}
}
