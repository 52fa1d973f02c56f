package haproxy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/scaler"
)

// BenchmarkReadAll100x100 reads 100 backends of 100 servers each (one
// HAProxy, one service per backend) in one round trip with ReadAll, with
// a row per server and totals only (Config.TotalsOnly: what a scaling
// controller needs), and, for comparison, with one Read per backend. It
// reports the time of one read of all 100 (ms/read-all,
// ms/read-all-totals), this process's CPU per read (cpu-ms/…; polled once
// a second, n cpu-ms is n/10 % of one core), and the same for 100
// separate reads (ms/separate-reads, cpu-ms/separate-reads). It runs with WEBFARM_BENCH=1
// (make bench).
func BenchmarkReadAll100x100(b *testing.B) {
	if os.Getenv("WEBFARM_BENCH") == "" {
		b.Skip("set WEBFARM_BENCH=1 (make bench) to run")
	}
	needHAProxy(b)
	const backends, servers = 100, 100
	bs, totals := startManyBackends(b, backends, servers)
	ctx := context.Background()
	rs, err := ReadAll(ctx, bs...)
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range rs {
		if len(r.Backends) != servers {
			b.Fatalf("backend %s: %d servers read, want %d", bs[i].cfg.Backend, len(r.Backends), servers)
		}
	}
	measure := func(read func() error) (wall, cpu time.Duration) {
		const n = 20
		c0, t0 := cpuTime(), time.Now()
		for range n {
			if err := read(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0) / n, (cpuTime() - c0) / n
	}
	for b.Loop() {
		allWall, allCPU := measure(func() error { _, err := ReadAll(ctx, bs...); return err })
		totWall, totCPU := measure(func() error { _, err := ReadAll(ctx, totals...); return err })
		sepWall, sepCPU := measure(func() error {
			for _, bal := range bs {
				if _, err := bal.Read(ctx); err != nil {
					return err
				}
			}
			return nil
		})
		b.ReportMetric(ms(allWall), "ms/read-all")
		b.ReportMetric(ms(allCPU), "cpu-ms/read-all")
		b.ReportMetric(ms(totWall), "ms/read-all-totals")
		b.ReportMetric(ms(totCPU), "cpu-ms/read-all-totals")
		b.ReportMetric(ms(sepWall), "ms/separate-reads")
		b.ReportMetric(ms(sepCPU), "cpu-ms/separate-reads")
	}
}

// startManyBackends starts a HAProxy with n backends (one service each)
// of servers servers, and returns a Balancer per backend with a row per
// server, and another with TotalsOnly.
func startManyBackends(b *testing.B, n, servers int) (bs, totals []*Balancer) {
	b.Helper()
	var routes []string
	for i := 1; i < n; i++ {
		routes = append(routes, fmt.Sprintf("svc%03d", i))
	}
	p := startProc(b, haproxyproc.Config{Routes: routes})
	ctx := context.Background()
	for _, name := range append([]string{p.Backend()}, routes...) {
		bal := connect(b, p, Config{Backend: name})
		totals = append(totals, connect(b, p, Config{Backend: name, TotalsOnly: true}))
		var cmd []string // fill the backend in one round trip
		for j := range servers {
			srv := fmt.Sprintf("bench-%d", j)
			cmd = append(cmd, fmt.Sprintf("add server %s/%s 127.0.0.1:%d", name, srv, 20000+j),
				fmt.Sprintf("set server %s/%s state ready", name, srv))
		}
		out, err := bal.raw(ctx, strings.Join(cmd, ";"))
		if err == nil {
			err = severityError(out)
		}
		if err != nil {
			b.Fatal(err)
		}
		bs = append(bs, bal)
	}
	return bs, totals
}

// BenchmarkControllers100 runs 100 scaling controllers, one per service,
// each polling its backend of one real HAProxy (100 backends × 100
// servers) every second through a Group of TotalsOnly members, for 10 s.
// It reports this process's CPU as a share of one core (cpu-%) and the
// reads the group made per second (reads/s: one per round if the
// controllers share them). It runs with WEBFARM_BENCH=1 (make bench).
func BenchmarkControllers100(b *testing.B) {
	if os.Getenv("WEBFARM_BENCH") == "" {
		b.Skip("set WEBFARM_BENCH=1 (make bench) to run")
	}
	needHAProxy(b)
	const services, servers = 100, 100
	_, totals := startManyBackends(b, services, servers)
	for b.Loop() {
		g, err := NewGroup(500*time.Millisecond, totals...)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		c0, t0 := cpuTime(), time.Now()
		for _, bal := range totals {
			policy, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 100, Min: 1, Max: 10})
			if err != nil {
				b.Fatal(err)
			}
			ctl := &scaler.Controller{Balancer: g.Member(bal), Policy: policy, Runner: &fixedTarget{n: 1},
				Interval: time.Second, Logger: quiet()}
			wg.Go(func() { _ = ctl.Run(ctx) })
		}
		wg.Wait()
		cancel()
		elapsed, cpu := time.Since(t0), cpuTime()-c0
		b.ReportMetric(100*cpu.Seconds()/elapsed.Seconds(), "cpu-%")
		b.ReportMetric(float64(g.Reads())/elapsed.Seconds(), "reads/s")
	}
}

// fixedTarget is a scaler.Runner that runs whatever it is asked to, at once.
type fixedTarget struct {
	mu sync.Mutex
	n  int
}

func (f *fixedTarget) Status(context.Context) (scaler.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return scaler.Status{Desired: f.n, Running: f.n}, nil
}

func (f *fixedTarget) SetDesired(_ context.Context, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n = n
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cpuTime is this process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
