package mesos

import (
	"context"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
)

// BenchmarkDeploy100 measures a rolling deployment of 100 tasks with a
// surge of 10 % (MaxSurge 10) on mesos/local (20 agents, in-process
// tasks, the cluster in a child process, lbtest.Memory): from Deploy to
// the deployment done, every task of the new template serving
// (ms-to-roll). WEBFARM_BENCH=1 runs it (make bench).
func BenchmarkDeploy100(b *testing.B) {
	const n = 100
	needBench(b)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		url, stopCluster := startBigCluster(b, 20)
		mem := lbtest.NewMemory()
		f := startBenchFarm(b, Config{Masters: []string{url}, Balancer: mem, Task: cheapTask("web"),
			Tick: 50 * time.Millisecond, ReconnectMin: 50 * time.Millisecond, Logger: testLogger(b)})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := f.s.SetDesired(ctx, n); err != nil {
			b.Fatal(err)
		}
		for st, _ := f.s.Status(ctx); st.Running < n; st, _ = f.s.Status(ctx) {
			if ctx.Err() != nil {
				b.Fatalf("%d tasks: %+v", n, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
		v2 := cheapTask("web")
		v2.Command = append(v2.Command, "v2")
		b.StartTimer()
		start := time.Now()
		if err := f.s.Deploy(ctx, "web", v2, DeployOptions{MaxSurge: n / 10}); err != nil {
			b.Fatal(err)
		}
		st, err := f.s.WaitDeploy(ctx, "web")
		total += time.Since(start)
		b.StopTimer()
		if err != nil || st.State != DeployDone || st.New != n || st.Old != 0 || st.Rollback {
			b.Fatalf("deployment: %+v, %v", st, err)
		}
		if pool, _ := mem.Backends(ctx); len(pool) != n {
			b.Fatalf("pool has %d backends, want %d", len(pool), n)
		}
		cancel()
		f.stop()
		stopCluster()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()*1e3/float64(b.N), "ms-to-roll")
}
