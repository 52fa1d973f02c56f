package zk_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/zktest"
)

// BenchmarkTakeover measures a scheduler takeover: the leading replica
// dies (its connections break, its session is left to expire), and the
// clock runs until the standby is elected and until it has re-subscribed
// as the same framework (its first action as leader). Each round starts a
// fresh standby behind the new leader. It reports the medians over b.N
// rounds with the session timeout haSession:
//
//	go test -run '^$' -bench Takeover -benchtime 10x ./mesos/zk
func BenchmarkTakeover(b *testing.B) {
	c, o, lead, standby, fid := startPair(b, nil, "r0", "r1")
	waitFor(b, "2 tasks", func() bool { return len(running(c, fid)) == 2 })
	srv, path := zktest.Shared(b), lead.path
	var elected, subscribed []time.Duration
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(200 * time.Millisecond) // the standby has joined
		killed := time.Now()
		lead.kill()
		next := leaderOf(b, o, standby)
		subscribed = append(subscribed, time.Since(killed))
		elected = append(elected, next.electedAt().Sub(killed))
		if got := next.scheduler().FrameworkID(); got != fid {
			b.Fatalf("round %d: framework %q, want %q", i, got, fid)
		}
		lead, standby = next, startReplica(b, fmt.Sprintf("r%d", i+2), srv.Addr, path, c, o)
	}
	b.StopTimer()
	med := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Milliseconds())
	}
	b.ReportMetric(med(elected), "ms-elected-median")
	b.ReportMetric(med(subscribed), "ms-subscribed-median")
	b.ReportMetric(float64(haSession.Milliseconds()), "ms-session-timeout")
	b.Logf("elected %v, subscribed %v", elected, subscribed)
	if n := len(running(c, fid)); n != 2 {
		b.Errorf("%d tasks running after %d takeovers, want 2", n, b.N)
	}
	o.mu.Lock()
	for _, v := range o.violations {
		b.Errorf("split brain: %s", v)
	}
	o.mu.Unlock()
}
