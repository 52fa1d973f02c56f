package mesos

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

// webVersionEnv is the version the test web server prints; with
// webStatusEnv set it answers every path but /healthz with that status.
const (
	webVersionEnv = "WEBFARM_MESOS_TEST_VERSION"
	webStatusEnv  = "WEBFARM_MESOS_TEST_STATUS"
)

// webStatus writes the status webStatusEnv asks for, if any.
func webStatus(w http.ResponseWriter, r *http.Request) {
	if code, err := strconv.Atoi(os.Getenv(webStatusEnv)); err == nil && r.URL.Path != "/healthz" {
		w.WriteHeader(code)
	}
}

// webTaskV returns webTask with a version the test web server prints
// (a different template: a different TemplateVersion).
func webTaskV(t testing.TB, v string) TaskTemplate {
	tt := webTask(t)
	tt.Env = maps.Clone(tt.Env)
	tt.Env[webVersionEnv] = v
	return tt
}

// deployedAll reports whether the deployment is done with n tasks, each
// of its new version, running in Mesos and (all of them, nothing else)
// in the balancer.
func deployedAll(ctx context.Context, c interface{ URL() string }, s *Scheduler, b lb.Balancer, n int,
	mesosRunning func() []string) func() (bool, string) {
	return func() (bool, string) {
		st, err := s.DeployStatus(s.defName)
		bs, berr := b.Backends(ctx)
		var inLB []string
		for _, be := range bs {
			inLB = append(inLB, be.ID)
		}
		slices.Sort(inLB)
		var ours []string
		good := err == nil && berr == nil && st.State == DeployDone && st.New == n && st.Old == 0
		for _, tk := range s.Tasks() {
			ours = append(ours, tk.ID)
			good = good && tk.Version == st.To && tk.InLB && !tk.Draining
		}
		slices.Sort(ours)
		running := mesosRunning()
		good = good && slices.Equal(ours, inLB) && slices.Equal(ours, running) && len(ours) == n
		return good, fmt.Sprintf("deploy %+v err %v; scheduler %v; balancer %v (%v); mesos running %v",
			st, err, ours, inLB, berr, running)
	}
}

// TestLocalHAProxyDeploy rolls 6 tasks to a new version behind a real
// HAProxy under steady keep-alive load: every new task is health-checked
// and slow-started before an old one is drained and killed, and no
// request fails.
func TestLocalHAProxyDeploy(t *testing.T) {
	ctx := context.Background()
	h := startHAProxyDeployFarm(t, 6, "/", 100)
	p, b, c, s, cfg, load, stopLoad := h.p, h.b, h.c, h.s, h.cfg, h.load, h.stopLoad
	before := load.Snapshot()

	newT := webTaskV(t, "2")
	newT.HealthCheck = cfg.Task.HealthCheck
	if err := s.Deploy(ctx, s.defName, newT, DeployOptions{MaxSurge: 2}); err != nil {
		t.Fatal(err)
	}
	// The policy's count holds during the deployment: at no point do
	// fewer than 6 tasks serve, nor more than 6+2 run.
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	minServing, maxLive := 6, 0
	for {
		st, err := s.DeployStatus(s.defName)
		if err != nil {
			t.Fatal(err)
		}
		serving, live := 0, 0
		for _, tk := range s.Tasks() {
			if !tk.Draining {
				live++
				if tk.InLB {
					serving++
				}
			}
		}
		minServing, maxLive = min(minServing, serving), max(maxLive, live)
		if st.State == DeployDone {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("deployment not done after 90s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	eventually(t, 30*time.Second, "6 tasks of the new version, alone in HAProxy and Mesos",
		deployedAll(ctx, c, s, b, 6, func() []string { return mesosTasks(c, s.FrameworkID())["TASK_RUNNING"] }))
	during := load.Snapshot().Since(before)
	eventually(t, 10*time.Second, "load after the deployment", func() (bool, string) {
		r := load.Snapshot()
		return r.OK >= before.OK+during.OK+100, r.String()
	})
	// Traffic now reaches the new version only.
	cl := &http.Client{Timeout: 5 * time.Second}
	for range 20 {
		res, err := cl.Get(p.URL())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), "version 2") {
			t.Fatalf("after the deployment HAProxy answered %q, want version 2", body)
		}
	}
	stopLoad()
	r, err := load.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rolled 6 tasks in %v (surge 2); serving at least %d, at most %d live; load during the deployment: %v; whole run: %v",
		took.Round(time.Millisecond), minServing, maxLive, during, r)
	if r.Failed > 0 || r.OK == 0 || during.OK == 0 {
		t.Errorf("%d requests failed (%d ok, %d during the deployment): %v", r.Failed, r.OK, during.OK, r.Errors)
	}
	if minServing < 6 || maxLive > 8 {
		t.Errorf("serving went down to %d (want ≥ 6), live up to %d (want ≤ 8)", minServing, maxLive)
	}
}

// TestLocalDeployRestart stops the scheduler half-way through a
// deployment and starts a new one with the original configuration (the
// old template): it reads the deployment from the state file, adopts
// both versions' tasks and finishes it, through a master failover too.
func TestLocalDeployRestart(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.StateFile = filepath.Join(t.TempDir(), "state.json")
	cfg.Task = webTaskV(t, "1")
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "4 tasks serving", func() (bool, string) {
		st, _ := f.s.Status(ctx)
		return st.Running == 4, fmt.Sprintf("%+v", st)
	})
	// MinReady slows the deployment down so that it is stopped mid-way.
	if err := f.s.Deploy(ctx, f.s.defName, webTaskV(t, "2"), DeployOptions{MaxSurge: 1, MinReady: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "deployment half-way", func() (bool, string) {
		st, _ := f.s.DeployStatus(f.s.defName)
		return st.Old >= 1 && st.Old <= 3 && st.Ready >= 1, fmt.Sprintf("%+v", st)
	})
	mid, _ := f.s.DeployStatus(f.s.defName)
	f.stop()

	f2 := startFarm(t, cfg) // the original configuration: version 1
	st, err := f2.s.DeployStatus(f2.s.defName)
	if err != nil || st.State != DeployRunning || st.To != mid.To {
		t.Fatalf("restarted scheduler: deployment %+v, %v; want running to %s", st, err, mid.To)
	}
	// And the master fails over while the new scheduler goes on.
	eventually(t, 30*time.Second, "the new scheduler replaces a task", func() (bool, string) {
		st, _ := f2.s.DeployStatus(f2.s.defName)
		return st.Old < mid.Old || st.State == DeployDone, fmt.Sprintf("%+v", st)
	})
	subs := f2.s.subscriptionCount()
	if err := c.FailoverMaster(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "re-subscribed after the master failover", func() (bool, string) {
		return f2.s.subscriptionCount() > subs, fmt.Sprint(f2.s.subscriptionCount(), " subscriptions")
	})
	eventually(t, 60*time.Second, "the restarted scheduler finishes the deployment",
		deployedAll(ctx, c, f2.s, mem, 4, func() []string { return mesosTasks(c, f2.s.FrameworkID())["TASK_RUNNING"] }))
	t.Logf("stopped at %+v; finished by the restarted scheduler", mid)
}

// TestLocalHAProxyDeployErrorsRollBack deploys, behind a real HAProxy
// under load, a version that passes its health check but answers every
// request with a 500: HAProxy's per-server 5xx counters show its error
// rate, the deployment rolls back automatically, the version is drained
// at once, and at most maxBad requests reach it.
func TestLocalHAProxyDeployErrorsRollBack(t *testing.T) {
	const maxBad = 60 // MinRequests + what 100 req/s bring in the time to read and drain
	ctx := context.Background()
	h := startHAProxyDeployFarm(t, 4, "/healthz", 100)
	b, c, s, cfg, load, stopLoad := h.b, h.c, h.s, h.cfg, h.load, h.stopLoad

	bad := webTaskV(t, "2")
	bad.Env[webStatusEnv] = "500"
	bad.HealthCheck = cfg.Task.HealthCheck
	opts := DeployOptions{MaxSurge: 1, ErrorMargin: 0.1, MinRequests: 10, ErrorCheckEvery: 200 * time.Millisecond}
	if err := s.Deploy(ctx, s.defName, bad, opts); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, err := s.WaitDeploy(wctx, s.defName)
	if err != nil || !st.Rollback || !strings.Contains(st.Reason, "error rate") {
		t.Fatalf("WaitDeploy: %+v, %v; want an automatic rollback for the error rate", st, err)
	}
	eventually(t, 30*time.Second, "4 tasks of the old version, alone in HAProxy and Mesos",
		deployedAll(ctx, c, s, b, 4, func() []string { return mesosTasks(c, s.FrameworkID())["TASK_RUNNING"] }))
	after := load.Snapshot()
	eventually(t, 10*time.Second, "load after the rollback", func() (bool, string) {
		r := load.Snapshot()
		return r.OK >= after.OK+100, r.String()
	})
	stopLoad()
	r, err := load.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; load: %v", st.Reason, r)
	if n := r.Errors["status 500"]; n == 0 || n > maxBad || r.Failed != n {
		t.Errorf("%d requests answered 500 (want 1 to %d), %d failed in all (want only those): %v", n, maxBad, r.Failed, r.Errors)
	}
	if r.Since(after).Failed != 0 {
		t.Errorf("requests failed after the rollback: %v", r.Since(after))
	}
}

// TestLocalHAProxyCanaryErrorsAbort runs, behind a real HAProxy under
// load, a canary at 10 % whose version passes its health check but answers
// every request with a 500: HAProxy's per-server 5xx counters (hrsp_5xx)
// show its error rate, the canary is aborted automatically (ErrorMargin)
// without Promote, its task is drained at once, and at most maxBad
// requests reach it; the old tasks serve on at full weight.
func TestLocalHAProxyCanaryErrorsAbort(t *testing.T) {
	// MinRequests + what 10 % of 100 req/s bring in the time to read
	// HAProxy's counters (ErrorCheckEvery) and drain.
	const maxBad = 30
	ctx := context.Background()
	h := startHAProxyDeployFarm(t, 4, "/healthz", 100)
	b, c, s, load := h.b, h.c, h.s, h.load
	oldVer := s.defLocked().version

	bad := webTaskV(t, "2")
	bad.Env[webStatusEnv] = "500"
	bad.HealthCheck = h.cfg.Task.HealthCheck
	opts := CanaryOptions{Percent: 10, Deploy: DeployOptions{ErrorMargin: 0.1, MinRequests: 10, ErrorCheckEvery: 200 * time.Millisecond}}
	if err := s.Canary(ctx, s.defName, bad, opts); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, err := s.WaitDeploy(wctx, s.defName)
	if err != nil || !st.Rollback || st.To != oldVer || !strings.Contains(st.Reason, "error rate") {
		t.Fatalf("WaitDeploy: %+v, %v; want the canary aborted automatically for its error rate", st, err)
	}
	eventually(t, 30*time.Second, "4 tasks of the old version, alone in HAProxy and Mesos",
		deployedAll(ctx, c, s, b, 4, func() []string { return mesosTasks(c, s.FrameworkID())["TASK_RUNNING"] }))
	after := load.Snapshot()
	eventually(t, 10*time.Second, "load after the abort", func() (bool, string) {
		r := load.Snapshot()
		return r.OK >= after.OK+100, r.String()
	})
	h.stopLoad()
	r, err := load.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s; %v; load: %v", st.Reason, st, r)
	if n := r.Errors["status 500"]; n == 0 || n > maxBad || r.Failed != n {
		t.Errorf("%d requests answered 500 (want 1 to %d), %d failed in all (want only those): %v", n, maxBad, r.Failed, r.Errors)
	}
	if r.Since(after).Failed != 0 {
		t.Errorf("requests failed after the abort: %v", r.Since(after))
	}
}

// haproxyDeployFarm is a farm of version "1" behind a real HAProxy with n
// tasks serving and a bounded keep-alive load (rate requests a second)
// running through HAProxy.
type haproxyDeployFarm struct {
	p        *haproxyproc.Proc
	b        *haproxy.Balancer
	c        *local.Cluster
	s        *Scheduler
	cfg      Config
	load     *loadgen.Load
	stopLoad context.CancelFunc
}

func startHAProxyDeployFarm(t *testing.T, n int, healthPath string, rate float64) *haproxyDeployFarm {
	t.Helper()
	ctx := context.Background()
	h := &haproxyDeployFarm{}
	h.p, h.b = startHAProxy(t)
	h.c = startCluster(t, nil)
	cfg := localConfig(t, h.c, nil)
	cfg.Balancer = h.b
	cfg.Task = webTaskV(t, "1")
	cfg.Task.HealthCheck = &HealthCheck{Path: healthPath, Interval: 200 * time.Millisecond, Timeout: time.Second}
	cfg.SlowStart = time.Second
	cfg.DrainTimeout = 5 * time.Second
	h.cfg = cfg
	h.s = startFarmMem(t, cfg, nil).s
	if err := h.s.SetDesired(ctx, n); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, fmt.Sprintf("%d tasks in HAProxy", n), func() (bool, string) {
		st, _ := h.s.Status(ctx)
		bs, err := h.b.Backends(ctx)
		return st.Running == n && len(bs) == n, fmt.Sprintf("status %+v haproxy %v %v", st, bs, err)
	})
	loadCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	h.stopLoad = stop
	h.load = loadgen.Start(loadCtx, loadgen.Config{URL: h.p.URL(), Rate: rate, Concurrency: 4,
		Duration: 2 * time.Minute, MaxRequests: 12000})
	eventually(t, 10*time.Second, "load running", func() (bool, string) {
		r := h.load.Snapshot()
		return r.OK >= 100, r.String()
	})
	return h
}

// TestLocalHAProxyCanary runs a canary at 10 % behind a real HAProxy
// under load: from HAProxy's per-server counters, the canary task
// serves 10 % ± 2 % of the requests, at 5 tasks and again after the
// policy's count went to 8; then Promote rolls the rest with no failed
// request.
func TestLocalHAProxyCanary(t *testing.T) {
	ctx := context.Background()
	h := startHAProxyDeployFarm(t, 5, "/", 250)
	b, s, load := h.b, h.s, h.load
	oldVer := s.defLocked().version
	newT := webTaskV(t, "2")
	newT.HealthCheck = h.cfg.Task.HealthCheck
	if err := s.Canary(ctx, s.defName, newT, CanaryOptions{Percent: 10, Deploy: DeployOptions{MaxSurge: 4}}); err != nil {
		t.Fatal(err)
	}
	// measure returns the canary's share of the requests HAProxy's
	// servers served while at least n more requests went through.
	measure := func(n int64) (float64, string) {
		t.Helper()
		read := func() map[string]uint64 {
			st, err := b.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]uint64{}
			for id, bs := range st.Backends {
				out[id] = bs.Requests
			}
			return out
		}
		version := map[string]string{}
		for _, tk := range s.Tasks() {
			version[tk.ID] = tk.Version
		}
		before, start := read(), load.Snapshot().OK
		eventually(t, 30*time.Second, "load goes on", func() (bool, string) {
			r := load.Snapshot()
			return r.OK >= start+n, r.String()
		})
		after := read()
		var all, canary uint64
		for id, n := range after {
			d := n - before[id]
			all += d
			if v, ok := version[id]; ok && v != oldVer {
				canary += d
			}
		}
		return float64(canary) / float64(all), fmt.Sprintf("%d of %d requests", canary, all)
	}
	for _, n := range []int{5, 8} {
		if err := s.SetDesired(ctx, n); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, fmt.Sprintf("a canary beside %d old tasks, weights set", n-1), func() (bool, string) {
			st, err := s.DeployStatus(s.defName)
			ws := ""
			for _, tk := range s.Tasks() {
				ws += fmt.Sprintf("%s:%v ", tk.ID, tk.InLB)
			}
			return err == nil && st.State == DeployCanary && st.Ready == 1 && st.Old == n-1 &&
				math.Abs(st.Share-0.1) < 0.005, fmt.Sprintf("%+v %v %s", st, err, ws)
		})
		got, what := measure(1000)
		t.Logf("desired %d: canary served %.2f%% (%s)", n, 100*got, what)
		if got < 0.08 || got > 0.12 {
			t.Errorf("desired %d: canary served %.2f%% of the requests (%s), want 10%% ± 2%%", n, 100*got, what)
		}
		if st, _ := s.DeployStatus(s.defName); st.NewRequests == 0 || st.OldRequests == 0 {
			t.Errorf("desired %d: DeployStatus %v: want both versions' request counts", n, st)
		}
	}
	if err := s.Promote(ctx, s.defName); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "promoted: 8 tasks of the new version",
		deployedAll(ctx, h.c, s, b, 8, func() []string { return mesosTasks(h.c, s.FrameworkID())["TASK_RUNNING"] }))
	h.stopLoad()
	r, err := load.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load: %v", r)
	if r.Failed > 0 {
		t.Errorf("%d requests failed: %v", r.Failed, r.Errors)
	}
}
