package mesos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/scaler"
)

// TestLocalHAProxy runs the farm behind a real HAProxy, driven through its
// runtime API: tasks join once healthy and slow-start, traffic through
// HAProxy reaches every task, and a scale-down under load drains before it
// kills, failing no request.
func TestLocalHAProxy(t *testing.T) {
	ctx := context.Background()
	p, b := startHAProxy(t)

	c := startCluster(t, nil)
	cfg := localConfig(t, c, nil)
	cfg.Balancer = b
	cfg.Task.HealthCheck = &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	cfg.SlowStart = time.Second
	cfg.DrainTimeout = 10 * time.Second
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	settled := func(n int) func() (bool, string) {
		return func() (bool, string) {
			st, _ := s.Status(ctx)
			bs, err := b.Backends(ctx)
			running := mesosTasks(c, s.FrameworkID())["TASK_RUNNING"]
			state := fmt.Sprintf("status %+v haproxy %v err %v mesos running %v", st, bs, err, running)
			return st == (scaler.Status{Desired: n, Running: n}) && len(bs) == n && len(running) == n, state
		}
	}
	if err := s.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "3 tasks in HAProxy", settled(3))

	cl := &http.Client{Timeout: 5 * time.Second}
	get := func() (string, error) {
		res, err := cl.Get(p.URL())
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return "", fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		return strings.Fields(string(body))[1], err // "port N host H"
	}
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "HAProxy spreads traffic over the 3 tasks", func() (bool, string) {
		port, err := get()
		if err == nil {
			seen[port] = true
		}
		return len(seen) == 3, fmt.Sprint(seen, err)
	})

	// Load during the scale-down: bounded in count and time.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, fail int
		errs     []string
	)
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := get()
				mu.Lock()
				if err != nil {
					fail++
					errs = append(errs, err.Error())
				} else {
					ok++
				}
				mu.Unlock()
			}
		})
	}
	okCount := func(n int) func() (bool, string) {
		return func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return ok >= n, fmt.Sprintf("%d ok, %d failed", ok, fail)
		}
	}
	eventually(t, 10*time.Second, "load running", okCount(200))
	if err := s.SetDesired(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "1 task in HAProxy", settled(1))
	mu.Lock()
	after := ok + 200
	mu.Unlock()
	eventually(t, 10*time.Second, "load after the scale-down", okCount(after))
	close(stop)
	wg.Wait()
	t.Logf("requests during the scale-down: %d ok, %d failed", ok, fail)
	if fail > 0 || ok == 0 {
		t.Errorf("%d requests failed during the scale-down (%d ok): %v", fail, ok, errs[:min(len(errs), 5)])
	}
	if m := mesosTasks(c, s.FrameworkID()); len(m["TASK_KILLED"]) != 2 {
		eventually(t, 10*time.Second, "2 tasks killed", func() (bool, string) {
			m := mesosTasks(c, s.FrameworkID())
			return len(m["TASK_KILLED"]) == 2, fmt.Sprint(m)
		})
	}
	bs, _ := b.Backends(ctx)
	if want := mesosTasks(c, s.FrameworkID())["TASK_RUNNING"]; len(bs) != 1 || !slices.Equal([]string{bs[0].ID}, want) {
		t.Errorf("HAProxy has %v, Mesos runs %v", bs, want)
	}
}

// TestLocalHAProxyRestartRepaired restarts a real HAProxy under the farm
// with a driver that does not restore its pool (no Config.Restore, no
// ConfigFile): the restarted process has an empty backend, and the
// scheduler's pool sync must put the serving tasks back so that traffic
// flows again, without launching anything.
func TestLocalHAProxyRestartRepaired(t *testing.T) {
	ctx := context.Background()
	p, b := startHAProxy(t)

	c := startCluster(t, nil)
	cfg := localConfig(t, c, nil)
	cfg.Balancer = b
	cfg.PoolSyncInterval = time.Second
	cfg.Task.HealthCheck = &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	inHAProxy := func() (bool, string) {
		bs, err := b.Backends(ctx)
		running := mesosTasks(c, s.FrameworkID())["TASK_RUNNING"]
		var ids []string
		for _, be := range bs {
			ids = append(ids, be.ID)
		}
		slices.Sort(ids)
		return err == nil && len(running) == 2 && slices.Equal(ids, running),
			fmt.Sprintf("haproxy %v err %v mesos running %v", ids, err, running)
	}
	if err := s.SetDesired(ctx, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks in HAProxy", inHAProxy)
	before := allTaskIDs(c, s.FrameworkID())

	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if bs, err := b.Backends(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("after the restart HAProxy has %v (err %v), want an empty backend: the test would prove nothing", bs, err)
	}
	start := time.Now()
	eventually(t, cfg.PoolSyncInterval+10*time.Second, "both tasks back in the restarted HAProxy", inHAProxy)
	t.Logf("pool repaired %v after the HAProxy restart (PoolSyncInterval %v)", time.Since(start).Round(time.Millisecond), cfg.PoolSyncInterval)

	cl := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]bool{}
	eventually(t, 10*time.Second, "traffic through the restarted HAProxy reaches both tasks", func() (bool, string) {
		res, err := cl.Get(p.URL())
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if f := strings.Fields(string(body)); res.StatusCode == 200 && len(f) > 1 {
			seen[f[1]] = true
		}
		return len(seen) == 2, fmt.Sprintf("%d %q seen %v", res.StatusCode, body, seen)
	})
	if got := allTaskIDs(c, s.FrameworkID()); !slices.Equal(got, before) {
		t.Errorf("Mesos tasks %v after the repair, want the same %v: nothing relaunched", got, before)
	}
}

// startHAProxy starts a real haproxy on loopback and a driver for it with
// no pool persistence, both stopped at the end of the test. It skips in
// -short mode and where haproxy is not installed.
func startHAProxy(t *testing.T) (*haproxyproc.Proc, *haproxy.Balancer) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts haproxy, mesos/local and task processes")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	p := haproxyproc.StartTest(t, haproxyproc.Config{Logger: testLogger(t).With("side", "haproxy")})
	b, err := haproxy.New(context.Background(), haproxy.Config{Socket: p.Socket(), Backend: p.Backend(), Frontend: p.Frontend(),
		Logger: testLogger(t).With("side", "driver")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return p, b
}
