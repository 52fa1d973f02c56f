package haproxy

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
)

// BenchmarkPoolChanges runs the same 20 pool changes (2 ↔ 6 servers) under
// the same closed-loop load through a real haproxy seven ways, and prints
// requests, failures and p99 for each:
//
//   - control: no change;
//   - driver: this package (add → ready; drain → wait → maint → del);
//   - driver-nopool: the same without pool-max-conn/pool-purge-delay
//     (ServerOptions "none"), to show what the defaults are for;
//   - restart: rewrite haproxy.cfg, start a new haproxy with -sf (the
//     original Mesos web farm);
//   - reload: rewrite haproxy.cfg, SIGUSR2 to a master-worker haproxy;
//   - restart-plain, reload-plain: the same two on the seed's plain
//     configuration (haproxyproc.Config.Plain: no option
//     idle-close-on-response, no hard-stop-after), as users of the
//     original framework ran them.
//
// "cut" counts requests whose connection closed while a backend served
// them. "failed" counts what the clients saw fail, dropped keep-alive
// connections included: loadgen does not let Go's transport retry them
// (loadgen.Config.Retry is off).
//
// The machine is shared, so the ways run in turn, WEBFARM_BENCH_ROUNDS
// rounds (default 5), and the table shows medians with ranges. Heavy
// (about 5 minutes with 5 rounds): it runs only with WEBFARM_BENCH=1 (make bench).
func BenchmarkPoolChanges(b *testing.B) {
	if os.Getenv("WEBFARM_BENCH") == "" {
		b.Skip("set WEBFARM_BENCH=1 (make bench) to run")
	}
	needHAProxy(b)
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv("WEBFARM_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	ways := []string{"control", "driver", "driver-nopool", "restart", "reload", "restart-plain", "reload-plain"}
	type run struct {
		res loadgen.Result
		cut int64
	}
	runs := map[string][]run{}
	// The machine is shared: run the ways in turn, several rounds, and
	// compare medians.
	for round := range rounds {
		for k := range ways {
			way := ways[(k+round)%len(ways)]
			b.Run(way, func(b *testing.B) {
				for range b.N {
					res, cut := poolChangeRun(b, way)
					b.ReportMetric(float64(res.Failed), "failed")
					b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
					b.ReportMetric(res.RPS(), "req/s")
					runs[way] = append(runs[way], run{res, cut})
				}
			})
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n20 pool changes (2 <-> 6 servers), 32 keep-alive clients; median [min–max] of %d runs\n(failed/change: median failed per pool change; cut: max):\n", rounds)
	fmt.Fprintf(&out, "%-13s %16s %7s %4s %20s %8s %24s\n", "way", "failed", "/change", "cut", "req/s", "vs ctrl", "p99")
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	var ctrl float64
	for _, way := range ways {
		var failed, cut, rps, p99 []float64
		for _, r := range runs[way] {
			failed = append(failed, float64(r.res.Failed))
			cut = append(cut, float64(r.cut))
			rps = append(rps, r.res.RPS())
			p99 = append(p99, float64(r.res.P99.Microseconds())/1000)
		}
		if len(rps) == 0 {
			continue
		}
		m := median(rps)
		if way == "control" {
			ctrl = m
		}
		f := median(failed)
		fmt.Fprintf(&out, "%-13s %4.0f [%4.0f–%4.0f] %7.1f %4.0f %6.0f [%5.0f–%5.0f] %+7.1f%% %6.2f ms [%5.2f–%6.2f]\n", way,
			f, failed[0], failed[len(failed)-1], f/poolChanges, slices.Max(cut), m, rps[0], rps[len(rps)-1], 100*(m-ctrl)/ctrl, median(p99), p99[0], p99[len(p99)-1])
		for _, r := range runs[way] {
			if len(r.res.Errors) > 0 {
				fmt.Fprintf(&out, "              errors: %v\n", r.res.Errors)
			}
		}
	}
	fmt.Print(out.String())
}

// poolChanges is the number of pool changes in one run of a way.
const poolChanges = 20

// poolChangeRun runs one way once on a fresh haproxy and web farm.
func poolChangeRun(b *testing.B, way string) (loadgen.Result, int64) {
	farm := newWebFarm(b, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		p *haproxyproc.Proc
		w poolWay
	)
	switch way {
	case "control", "driver", "driver-nopool":
		p = startProc(b, haproxyproc.Config{})
		cfg := Config{}
		if way == "driver-nopool" {
			cfg.ServerOptions = "none"
		}
		dw := &driverWay{b: connect(b, p, cfg), farm: farm}
		if err := dw.setPool(ctx, 2); err != nil {
			b.Fatal(err)
		}
		w = dw
		if way == "control" {
			w = noWay{}
		}
	case "restart", "reload", "restart-plain", "reload-plain":
		reload := strings.HasPrefix(way, "reload")
		p = startProc(b, haproxyproc.Config{MasterWorker: reload, Plain: strings.HasSuffix(way, "-plain")})
		fw := &fileWay{p: p, farm: farm, reload: reload}
		if err := fw.setPool(ctx, 2); err != nil {
			b.Fatal(err)
		}
		w = fw
	}
	res, done, err := scaleRun{url: p.URL(), way: w, events: poolChanges, every: 300 * time.Millisecond,
		limit: time.Minute, concurrency: 32}.run(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if done != poolChanges {
		b.Fatalf("%d of %d pool changes", done, poolChanges)
	}
	return res, farm.cut.Load()
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
				mask := 2
				if mode.perServer {
					mask = 6
				}
				out, err := bal.show(ctx, fmt.Sprintf("show info;show stat webfarm %d -1", mask))
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := bal.read(ctx, mode.perServer); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(out)), "reply-bytes")
			})
		}
	}
}
