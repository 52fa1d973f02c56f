package zk_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/mesos"
)

// TestChaosKillLeaderMidScaleDown runs two replicas in front of a real
// HAProxy under a steady load. The leader scales 3 → 1 and dies while
// both drains are open; the standby takes over and finishes the
// scale-down. No request may fail, and no two replicas act at once.
func TestChaosKillLeaderMidScaleDown(t *testing.T) {
	p, bal := startHAProxy(t)
	o := newOffice(bal)
	o.task = webTask(t)
	c, _, a, b, fid := startPair(t, o, "a", "b")
	if err := a.scheduler().SetDesired(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 tasks serving in HAProxy", func() bool { return len(readyIDs(o)) == 3 && len(running(c, fid)) == 3 })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := loadgen.Start(ctx, loadgen.Config{URL: p.URL(), Concurrency: 8, Rate: 200, Duration: 30 * time.Second})
	time.Sleep(time.Second)
	t.Logf("load before the scale-down: %s", load.Snapshot())
	if err := a.scheduler().SetDesired(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two drains open", func() bool { return len(readyIDs(o)) == 1 })
	before := load.Snapshot()
	t.Logf("load when the drains opened: %s", before)
	killed := time.Now()
	a.kill()
	leaderOf(t, o, b)
	took := time.Since(killed)
	waitFor(t, "the standby finished the scale-down", func() bool {
		return len(running(c, fid)) == 1 && len(poolIDs(o)) == 1
	})
	during := load.Snapshot().Since(before)
	time.Sleep(time.Second)
	cancel()
	res, _ := load.Wait()
	t.Logf("takeover under load: subscribed %v after the kill (session %v); during takeover and drain: %s; whole run: %s",
		took.Round(time.Millisecond), haSession, during, res)
	if res.Failed != 0 || res.OK == 0 {
		t.Errorf("load: %d failed of %d (%v), want 0 failed", res.Failed, res.Requests, res.Errors)
	}
	o.check(t)
}

// readyIDs returns the backends HAProxy sends new requests to.
func readyIDs(o *office) []string {
	st, err := o.bal.Stats(context.Background())
	if err != nil {
		return nil
	}
	var ids []string
	for id, b := range st.Backends {
		if b.State == lb.StateReady {
			ids = append(ids, id)
		}
	}
	return ids
}

// startHAProxy starts a real HAProxy and its driver.
func startHAProxy(t *testing.T) (*haproxyproc.Proc, *haproxy.Balancer) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts haproxy, mesos/local and task processes")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	p := haproxyproc.StartTest(t, haproxyproc.Config{Logger: testLogger(t).With("side", "haproxy")})
	bal, err := haproxy.New(context.Background(), haproxy.Config{Socket: p.Socket(), Backend: p.Backend(), Frontend: p.Frontend(),
		Logger: testLogger(t).With("side", "driver")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bal.Close() })
	return p, bal
}

// webTask is a task that serves HTTP (this test binary; see TestMain),
// joining the balancer once its health check passes.
func webTask(t *testing.T) *mesos.TaskTemplate {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &mesos.TaskTemplate{Name: "web", Command: []string{exe, "-test.run=^$"}, Env: map[string]string{webServerEnv: "1"},
		CPUs: 0.1, Mem: 16, KillGracePeriod: 2 * time.Second,
		// A task joins HAProxy once it answers, not when its process starts.
		HealthCheck: &mesos.HealthCheck{Path: "/healthz", Interval: 200 * time.Millisecond, Timeout: time.Second, GracePeriod: 5 * time.Second}}
}

// TestChaosKillLeadingMasterThroughZooKeeper: three masters in
// ZooKeeper, a scheduler that knows only the zk:// URL, 200 req/s through
// a real HAProxy. The leading master fails over twice; the scheduler
// follows the leader ZooKeeper names each time and scales up through the
// new one. No request fails.
func TestChaosKillLeadingMasterThroughZooKeeper(t *testing.T) {
	p, bal := startHAProxy(t)
	srv := zktest.Shared(t)
	c := startCluster(t, 3)
	u := zkURL(t, srv.Addr)
	publish(t, u, c)
	cfg := farmConfig(t, "zk://"+srv.Addr+u.Path, nil)
	cfg.Balancer, cfg.Task, cfg.InitialCount = bal, *webTask(t), 2
	s, err := mesos.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	serving := func(n int) func() bool {
		return func() bool {
			st, err := s.Status(context.Background())
			return err == nil && st.Running == n && st.Starting == 0 && len(readyIDs(&office{bal: bal})) == n
		}
	}
	waitFor(t, "2 tasks serving", serving(2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load := loadgen.Start(ctx, loadgen.Config{URL: p.URL(), Concurrency: 8, Rate: 200, Duration: 30 * time.Second})
	urls := c.URLs()
	for i, n := range []int{3, 4} {
		time.Sleep(500 * time.Millisecond)
		if err := c.FailoverMaster(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := urls[(i+1)%3]
		waitFor(t, "the scheduler at "+want, func() bool { return s.Leader() == want && s.Connected() })
		if err := s.SetDesired(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "scaled up through the new leader", serving(n))
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	res, _ := load.Wait()
	t.Logf("master failovers under load: %s", res)
	if res.Failed != 0 || res.OK == 0 {
		t.Errorf("load: %d failed of %d (%v), want 0 failed", res.Failed, res.Requests, res.Errors)
	}
}
