package lvs

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkStats measures the driver's own cost of a Stats reading (ID
// mapping, counter extension) over an in-memory kernel, for pools of
// several sizes. The netlink round trips come on top.
func BenchmarkStats(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("dests=%d", n), func(b *testing.B) {
			ctx := context.Background()
			k := newFakeKernel()
			bal, err := newBalancer(ctx, Config{Service: vip, Logger: quiet}, k.open, "/") // "/" exists: it stands in for /proc/net/ip_vs
			if err != nil {
				b.Fatal(err)
			}
			defer bal.Close()
			for i := range n {
				a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80)
				if err := bal.Add(ctx, be(fmt.Sprintf("task-%d", i), a.String())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s, err := bal.Stats(ctx)
				if err != nil || len(s.Backends) != n {
					b.Fatalf("Stats = %d backends, %v", len(s.Backends), err)
				}
			}
		})
	}
}
