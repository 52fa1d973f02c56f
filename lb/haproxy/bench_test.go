package haproxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
)

// BenchmarkPoolChanges runs the same 20 pool changes (2 ↔ 6 servers) under
// the same closed-loop load through a real haproxy seven ways, and prints
// requests, failures and p99 for each:
//
//   - control: no change, 2 servers all along (the pool the driver
//     starts from and returns to);
//   - control-6: no change, 6 servers all along (the pool the driver
//     spends part of the run at), so that the driver is compared with
//     both ends of its range;
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
// For the ways that keep one HAProxy process (control, control-6, driver,
// driver-nopool) the table also gives the CPU time HAProxy used and the
// CPU time this process used (the load generator, the six backends and
// the driver all run in it), each per 1,000 requests, to show where the
// driver's extra cost goes; a Go CPU profile of the driver way alone
// (-bench 'BenchmarkPoolChanges/^driver$' -cpuprofile) shows which of its
// functions, and WEBFARM_BENCH_PERF=DIR records HAProxy with `perf record
// -g` into DIR/WAY.perf.data. "server conns" counts the connections the
// backends accepted: servers added at run time start with empty
// connection pools.
//
// To run some ways only, mind that the second round's sub-benchmarks are
// named "driver#01" and so on: -bench
// 'BenchmarkPoolChanges/^(control|control-6|driver)(#[0-9]+)?$'.
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
	ways := []string{"control", "control-6", "driver", "driver-nopool", "restart", "reload", "restart-plain", "reload-plain"}
	type run struct {
		res loadgen.Result
		cut int64
		cpu runCPU
	}
	runs := map[string][]run{}
	// The machine is shared: run the ways in turn, several rounds, and
	// compare medians.
	for round := range rounds {
		for k := range ways {
			way := ways[(k+round)%len(ways)]
			b.Run(way, func(b *testing.B) {
				for range b.N {
					res, cut, cpu := poolChangeRun(b, way)
					b.ReportMetric(float64(res.Failed), "failed")
					b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
					b.ReportMetric(res.RPS(), "req/s")
					runs[way] = append(runs[way], run{res, cut, cpu})
				}
			})
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "\n20 pool changes (2 <-> 6 servers), 32 keep-alive clients; median [min–max] of %d runs\n(failed/change: median failed per pool change; cut: max):\n", rounds)
	fmt.Fprintf(&out, "%-13s %16s %7s %4s %20s %8s %8s %24s %18s\n", "way", "failed", "/change", "cut", "req/s", "vs ctrl", "vs ctl6", "p99", "cpu ms/1k req; conns")
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	medianRPS := func(way string) float64 {
		var xs []float64
		for _, r := range runs[way] {
			xs = append(xs, r.res.RPS())
		}
		if len(xs) == 0 {
			return 0
		}
		return median(xs)
	}
	vs := func(m, base float64) string {
		if base == 0 {
			return "-"
		}
		return fmt.Sprintf("%+.1f%%", 100*(m-base)/base)
	}
	ctrl, ctrl6 := medianRPS("control"), medianRPS("control-6")
	for _, way := range ways {
		var failed, cut, rps, p99, hcpu, gcpu, conns []float64
		for _, r := range runs[way] {
			failed = append(failed, float64(r.res.Failed))
			cut = append(cut, float64(r.cut))
			rps = append(rps, r.res.RPS())
			p99 = append(p99, float64(r.res.P99.Microseconds())/1000)
			if r.cpu.haproxy > 0 && r.res.Requests > 0 {
				k := float64(r.res.Requests) / 1000
				hcpu = append(hcpu, float64(r.cpu.haproxy.Microseconds())/1000/k)
				gcpu = append(gcpu, float64(r.cpu.self.Microseconds())/1000/k)
				conns = append(conns, float64(r.cpu.conns))
			}
		}
		if len(rps) == 0 {
			continue
		}
		m := median(rps)
		f := median(failed)
		cpu := "-"
		if len(hcpu) > 0 {
			cpu = fmt.Sprintf("haproxy %.1f go %.1f; %.0f server conns", median(hcpu), median(gcpu), median(conns))
		}
		fmt.Fprintf(&out, "%-13s %4.0f [%4.0f–%4.0f] %7.1f %4.0f %6.0f [%5.0f–%5.0f] %8s %8s %6.2f ms [%5.2f–%6.2f] %s\n", way,
			f, failed[0], failed[len(failed)-1], f/poolChanges, slices.Max(cut), m, rps[0], rps[len(rps)-1], vs(m, ctrl), vs(m, ctrl6),
			median(p99), p99[0], p99[len(p99)-1], cpu)
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

// runCPU is the CPU time (user + system) HAProxy and this process used
// during one run; zero for the ways that replace the HAProxy process.
type runCPU struct {
	haproxy, self time.Duration
	conns         int64 // server-side connections the backends accepted
}

// procCPU returns the user + system CPU time of process pid so far, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ is
// 100 on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// perfRecord samples process pid with `perf record -g` into out until the
// returned function is called (WEBFARM_BENCH_PERF=DIR: where HAProxy's
// CPU goes, kernel side included; Debian's haproxy is stripped, so its own
// frames show as addresses).
func perfRecord(b *testing.B, pid int, out string) (stop func()) {
	cmd := exec.Command("perf", "record", "-q", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
	if err := cmd.Start(); err != nil {
		b.Fatalf("perf record: %v", err)
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}

// selfCPU returns this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// poolChangeRun runs one way once on a fresh haproxy and web farm.
func poolChangeRun(b *testing.B, way string) (loadgen.Result, int64, runCPU) {
	farm := newWebFarm(b, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		p *haproxyproc.Proc
		w poolWay
	)
	oneProc := false
	switch way {
	case "control", "control-6", "driver", "driver-nopool":
		oneProc = true
		p = startProc(b, haproxyproc.Config{})
		cfg := Config{}
		if way == "driver-nopool" {
			cfg.ServerOptions = "none"
		}
		dw := &driverWay{b: connect(b, p, cfg), farm: farm}
		n := 2
		if way == "control-6" {
			n = 6
		}
		if err := dw.setPool(ctx, n); err != nil {
			b.Fatal(err)
		}
		w = dw
		if strings.HasPrefix(way, "control") {
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
	var cpu runCPU
	var h0, s0 time.Duration
	if dir := os.Getenv("WEBFARM_BENCH_PERF"); dir != "" && oneProc {
		stop := perfRecord(b, p.PID(), filepath.Join(dir, way+".perf.data"))
		defer stop()
	}
	if oneProc {
		var err error
		if h0, err = procCPU(p.PID()); err != nil {
			b.Fatal(err)
		}
		s0 = selfCPU()
	}
	res, done, err := scaleRun{url: p.URL(), way: w, events: poolChanges, every: 300 * time.Millisecond,
		limit: time.Minute, concurrency: 32}.run(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if oneProc {
		h1, err := procCPU(p.PID())
		if err != nil {
			b.Fatal(err)
		}
		cpu = runCPU{haproxy: h1 - h0, self: selfCPU() - s0, conns: farm.conns.Load()}
	}
	if done != poolChanges {
		b.Fatalf("%d of %d pool changes", done, poolChanges)
	}
	return res, farm.cut.Load(), cpu
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
