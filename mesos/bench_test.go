package mesos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// BenchmarkLaunch200 measures launching 200 tasks on mesos/local and
// registering each in the balancer: from SetDesired(200) until 200
// backends are in the pool (ms-to-serve), and until all 200 were launched
// (ms-to-launch: REVIVE, offers, ACCEPTs; the rest is the agents starting
// processes and reporting RUNNING). The cluster runs in a child process, so the
// reported allocations are the scheduler's (and the in-memory balancer's).
// Tasks are /bin/sleep processes: 200 real processes on two agents.
func BenchmarkLaunch200(b *testing.B) {
	const n = 200
	if testing.Short() {
		b.Skip("starts 200 processes")
	}
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	sleep := testenv.LookPath(b, "coreutils provides it", "sleep")
	b.ReportAllocs()
	var total, launched time.Duration
	for b.Loop() {
		b.StopTimer()
		url, stop := startClusterProcess(b, exe)
		mem := lbtest.NewMemory()
		s, err := New(context.Background(), Config{
			Masters:  []string{url},
			Balancer: mem,
			Task:     TaskTemplate{Name: "bench", Command: []string{sleep, "600"}, CPUs: 0.01, Mem: 8},
			Tick:     50 * time.Millisecond, ReconnectMin: 50 * time.Millisecond,
			Logger: testLogger(b),
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		for !s.Connected() {
			time.Sleep(5 * time.Millisecond)
		}
		b.StartTimer()
		start := time.Now()
		if err := s.SetDesired(ctx, n); err != nil {
			b.Fatal(err)
		}
		deadline := start.Add(2 * time.Minute)
		launchedAt := time.Duration(0)
		for {
			st, _ := s.Status(ctx)
			if launchedAt == 0 && st.Running+st.Starting == n {
				launchedAt = time.Since(start)
			}
			if st.Running == n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("after 2m: %+v", st)
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		launched += launchedAt
		b.StopTimer()
		if pool, _ := mem.Backends(ctx); len(pool) != n {
			b.Fatalf("pool has %d backends, want %d", len(pool), n)
		}
		cancel()
		<-done
		stop()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()*1e3/float64(b.N), "ms-to-serve")
	b.ReportMetric(launched.Seconds()*1e3/float64(b.N), "ms-to-launch")
}

// startClusterProcess runs mesos/local in a child process (see
// serveCluster) and returns its URL and a func that stops it.
func startClusterProcess(b *testing.B, exe string) (string, func()) {
	b.Helper()
	pb, release, err := portblock.Mesos.Pick(1000) // one per b.Loop round: handed back by stop
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(release) // if startChildCluster fails; release is idempotent
	url, stop := startChildCluster(b, exe, fmt.Sprintf("%s=%d-%d", clusterEnv, pb.Begin, pb.End))
	return url, func() { stop(); release() }
}

// startChildCluster runs this test binary with env (NAME=value) added,
// reads the master's URL from the first line it prints, and returns it
// with a func that closes its stdin (which ends it) and waits.
func startChildCluster(b *testing.B, exe, env string) (string, func()) {
	b.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), env)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b.Fatalf("cluster process: %q %v", line, err)
	}
	return strings.TrimSpace(line), func() {
		_ = stdin.Close()
		waited := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, stdout); _ = cmd.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	}
}
