package haproxy

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
)

// BenchmarkPoolChanges runs the same 20 pool changes (2 ↔ 6 servers) under
// the same closed-loop load through a real haproxy four ways, and prints
// requests, failures and p99 for each:
//
//   - control: no change;
//   - driver: this package (add → ready; drain → wait → maint → del);
//   - restart: rewrite haproxy.cfg, start a new haproxy with -sf (the
//     original Mesos web farm);
//   - reload: rewrite haproxy.cfg, SIGUSR2 to a master-worker haproxy.
//
// "cut" counts requests whose connection closed while a backend served
// them. The client's "failed" can under-count: Go's transport silently
// retries a GET whose reused keep-alive connection was closed.
//
// Heavy (about a minute): it runs only with WEBFARM_BENCH=1 (make bench).
func BenchmarkPoolChanges(b *testing.B) {
	if os.Getenv("WEBFARM_BENCH") == "" {
		b.Skip("set WEBFARM_BENCH=1 (make bench) to run")
	}
	needHAProxy(b)
	type row struct {
		way string
		res loadgen.Result
		cut int64
	}
	var table []row
	for _, way := range []string{"control", "driver", "restart", "reload"} {
		b.Run(way, func(b *testing.B) {
			for range b.N {
				farm := newWebFarm(b, 6)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				var (
					p *haproxyproc.Proc
					w poolWay
				)
				switch way {
				case "control", "driver":
					p = startProc(b, haproxyproc.Config{})
					dw := &driverWay{b: connect(b, p, Config{}), farm: farm}
					if err := dw.setPool(ctx, 2); err != nil {
						b.Fatal(err)
					}
					w = dw
					if way == "control" {
						w = noWay{}
					}
				case "restart", "reload":
					p = startProc(b, haproxyproc.Config{MasterWorker: way == "reload", Servers: nil})
					fw := &fileWay{p: p, farm: farm, reload: way == "reload"}
					if err := fw.setPool(ctx, 2); err != nil {
						b.Fatal(err)
					}
					w = fw
				}
				res, done, err := scaleRun{url: p.URL(), way: w, events: 20, every: 500 * time.Millisecond,
					limit: time.Minute, concurrency: 32}.run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if done != 20 {
					b.Fatalf("%d of 20 pool changes", done)
				}
				b.ReportMetric(float64(res.Failed), "failed")
				b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
				b.ReportMetric(res.RPS(), "req/s")
				table = append(table, row{way, res, farm.cut.Load()})
			}
		})
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n%-8s %10s %7s %5s %9s %8s  %s\n", "way", "requests", "failed", "cut", "req/s", "p99", "errors")
	for _, r := range table {
		fmt.Fprintf(&out, "%-8s %10d %7d %5d %9.0f %8s  %v\n", r.way, r.res.Requests, r.res.Failed, r.cut, r.res.RPS(), r.res.P99.Round(10*time.Microsecond), r.res.Errors)
	}
	fmt.Print(out.String())
}

// BenchmarkStats reads Stats with 10, 100 and 1,000 servers in the
// backend, totals only (`show stat <backend> 2 -1`) and with a row per
// server. It reports the size of HAProxy's answer.
func BenchmarkStats(b *testing.B) {
	needHAProxy(b)
	for _, n := range []int{10, 100, 1000} {
		p := startProc(b, haproxyproc.Config{})
		bal := connect(b, p, Config{})
		ctx := context.Background()
		// Fill the backend fast: 100 servers per round trip.
		for i := 0; i < n; i += 100 {
			var cmd []string
			for j := i; j < min(i+100, n); j++ {
				name := fmt.Sprintf("bench-%d", j)
				cmd = append(cmd, fmt.Sprintf("add server webfarm/%s 127.0.0.1:%d", name, 20000+j),
					fmt.Sprintf("set server webfarm/%s state ready", name))
			}
			out, err := bal.raw(ctx, strings.Join(cmd, ";"))
			if err == nil {
				err = severityError(out)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, mode := range []struct {
			name      string
			perServer bool
		}{{"totals", false}, {"per-server", true}} {
			b.Run(fmt.Sprintf("servers=%d/%s", n, mode.name), func(b *testing.B) {
				r, err := bal.read(ctx, mode.perServer)
				if err != nil {
					b.Fatal(err)
				}
				if mode.perServer && len(r.Backends) != n {
					b.Fatalf("Backends has %d entries, want %d", len(r.Backends), n)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := bal.read(ctx, mode.perServer); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
