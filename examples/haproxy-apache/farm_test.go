package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/status"
)

// TestMain lets the test binary be the web-server task: the scheduler
// launches os.Executable() with "serve", as the demo binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "farm" { // the demo command, for TestInterruptLeavesNothing
		os.Exit(farmMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// descendants lists the processes below pid (children, grandchildren, …).
func descendants(pid int) []string {
	parent := map[int]int{}
	cmd := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] == "Z" { // a zombie is already dead
			continue
		}
		parent[p], _ = strconv.Atoi(f[1])
		cmd[p] = s[:i+1]
	}
	var out []string
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, cmd[p])
				break
			}
		}
	}
	return out
}

// TestDemoScalesUpAndDown runs the whole demo for a bounded time: embedded
// Mesos, real HAProxy, web-server tasks (Apache when installed, else the
// built-in Go server), the controller and a 45 s load profile. It asserts
// that the farm scaled up and back down with zero failed requests, that
// the status page and /metrics answered while it ran, that -deploy-after
// rolled every task to the new version under that load (the status page
// showing it), and that nothing it started is left running.
func TestDemoScalesUpAndDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about a minute; skipped with -short")
	}
	needHAProxy(t)
	// -deploy-after: the farm also rolls to a new task version under the
	// load, while it scales (one run keeps the package's test time down).
	d := startDemo(t, []string{"-duration", "45s", "-peak", "300", "-max", "8", "-exit-after-load", "-deploy-after", "5s"}, 130*time.Second)
	cfg, statusURL := d.cfg, d.statusURL
	t.Logf("backend %s, profile %s peaking at %.0f req/s, target %.0f req/s per task", cfg.backend, cfg.length, cfg.peak, cfg.target)

	var snap status.Snapshot
	getSnap := func() bool { // GET /api/status into snap
		resp, err := http.Get(statusURL + "api/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		snap = status.Snapshot{}
		return json.NewDecoder(resp.Body).Decode(&snap) == nil
	}
	waitFor(t, d.done, func() string {
		if !getSnap() || snap.Last == nil || snap.Last.RPS == nil ||
			*snap.Last.RPS < 10 || len(snap.Pool) < cfg.min {
			return ""
		}
		// The chart check below wants a line, not a dot: wait for three
		// measured points (the first polls give no rate yet).
		rated := 0
		for _, p := range snap.Points {
			if p.RPS != nil {
				rated++
			}
		}
		if rated < 3 {
			return ""
		}
		return "ok"
	})
	checkLivePage(t, statusURL)
	if n := len(descendants(os.Getpid())); n < 1+cfg.min { // haproxy and the tasks
		t.Errorf("found %d processes below the test while the farm runs, want ≥ %d: the leak check at the end would prove nothing", n, 1+cfg.min)
	}
	resp, err := http.Get(statusURL + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"webfarm_requests_per_second ", "webfarm_tasks_running ", "webfarm_tasks_desired ",
		`webfarm_scaling_decisions_total{direction="hold"}`, "webfarm_balancer_stats_errors_total 0",
		"webfarm_drain_duration_seconds_count", `webfarm_client_requests_total{result="ok"}`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The deployment: /api/status shows it running with both versions
	// serving, then done with every task on the new version.
	var during *status.DeployView
	waitFor(t, d.done, func() string {
		if !getSnap() || snap.Deploy == nil {
			return ""
		}
		v := snap.Deploy
		if during == nil && v.State == "running" && len(v.Versions) == 2 && v.Versions[0].RPS != nil && *v.Versions[0].RPS > 0 &&
			v.Versions[1].RPS != nil && *v.Versions[1].RPS > 0 {
			during = v
			t.Logf("during the deployment: %d new (%d ready), %d old of %d; %s %.0f req/s, %s %.0f req/s",
				v.New, v.Ready, v.Old, v.Desired, v.From, *v.Versions[0].RPS, v.To, *v.Versions[1].RPS)
		}
		if v.State != "done" {
			return ""
		}
		return "done"
	})
	if during == nil {
		t.Errorf("/api/status never showed the running deployment with both versions' request rates above 0")
	}
	if v := snap.Deploy; v.Rollback || v.Old != 0 || v.New != v.Desired || v.Ready != v.Desired || v.From == v.To {
		t.Errorf("/api/status deploy after the end = %+v, want %s→%s done, every task (and no old one) on the new version", v, v.From, v.To)
	}

	s := d.wait(t)
	t.Logf("%s", s)
	if st := s.deploy; !s.deployed || st.State != mesos.DeployDone || st.Rollback || st.Old != 0 || st.New != st.Desired || st.Ready != st.Desired {
		t.Errorf("deployment: started %v, last status %s; want done, every task on the new version", s.deployed, st)
	}
	if !s.loadRan || s.load.Failed != 0 || s.load.OK < 2000 {
		t.Errorf("load: %s; want ≥ 2000 requests, 0 failed", s.load)
	}
	if s.ups == 0 || s.peakTasks < 4 {
		t.Errorf("scaled up %d times, peak %d running tasks; want the spike to take the farm to ≥ 4 tasks", s.ups, s.peakTasks)
	}
	if s.downs == 0 || s.endTasks > cfg.min+1 {
		t.Errorf("scaled down %d times, %d tasks at the end; want the farm back near -min %d", s.downs, s.endTasks, cfg.min)
	}
	if s.counts.Drains == 0 || s.counts.Removes != s.counts.Adds {
		t.Errorf("pool changes %+v: want drains, and every added backend removed once the farm stopped", s.counts)
	}
	if s.counts.StatsErrors != 0 {
		t.Errorf("%d failed stats polls of HAProxy", s.counts.StatsErrors)
	}
	for _, line := range []string{`msg="scaler: decision"`, `msg="mesos: backend added"`, `msg="mesos: backend draining"`,
		`msg="deploy: started"`, `msg="deploy: progress"`, `msg="deploy: ended"`} {
		if !strings.Contains(d.logs.String(), line) {
			t.Errorf("logs lack %s lines", line)
		}
	}
	checkNothingLeft(t)
}

// demo is a demo run by a test: runFarm in a goroutine.
type demo struct {
	cfg        farmConfig
	out, logs  *testenv.Buffer
	done       chan demoResult
	ctx        context.Context
	statusURL  string
	timeoutMsg string
}

// demoResult is what runFarm returned.
type demoResult struct {
	sum summary
	err error
}

// startDemo runs the demo with args (parseFarm's flags, with this test
// binary as the task) for at most timeout, waits until it prints its
// status page address, and on failure logs its output and logs.
func startDemo(t *testing.T, args []string, timeout time.Duration) *demo {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, apacheErr := os.Stat("/usr/sbin/apache2")
	cfg, _, err := parseFarm(args, io.Discard, apacheErr == nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.taskExe = exe
	cfg.settle = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	d := &demo{cfg: cfg, out: &testenv.Buffer{}, logs: &testenv.Buffer{}, done: make(chan demoResult, 1), ctx: ctx,
		timeoutMsg: fmt.Sprintf("the demo did not finish within %s", timeout)}
	log := slog.New(slog.NewTextHandler(d.logs, nil))
	go func() {
		s, err := runFarm(ctx, cfg, d.out, log)
		d.done <- demoResult{s, err}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s\nlogs (last 8 KiB):\n%s", d.out.String(), tail(d.logs.String(), 8<<10))
		}
	})
	d.statusURL = waitFor(t, d.done, func() string {
		m := regexp.MustCompile(`status page at (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(d.out.String())
		if m == nil {
			return ""
		}
		return m[1]
	})
	return d
}

// wait waits for the demo to end and returns its summary.
func (d *demo) wait(t *testing.T) summary {
	t.Helper()
	var r demoResult
	select {
	case r = <-d.done:
	case <-d.ctx.Done():
		t.Fatal(d.timeoutMsg)
	}
	if r.err != nil {
		t.Fatalf("runFarm: %v", r.err)
	}
	return r.sum
}

// checkNothingLeft fails the test if, 10 s after the demo stopped, a
// process it started (haproxy, a task, apache) is still below this one.
func checkNothingLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for left := descendants(os.Getpid()); len(left) > 0; left = descendants(os.Getpid()) {
		if time.Now().After(deadline) {
			t.Errorf("processes left running after the demo stopped: %q", left)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFor polls f every 200 ms until it returns non-empty, failing the test
// if the demo ends first or 60 s pass.
func waitFor[T any](t *testing.T, done <-chan T, f func() string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if v := f(); v != "" {
			return v
		}
		select {
		case r := <-done:
			t.Fatalf("the demo ended early: %+v", r)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("gave up after 60s")
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// checkLivePage loads the running farm's status page in headless Chromium
// and checks that it drew the chart and filled the tiles and the pool from
// the live farm. Without chromium it skips (fails under WEBFARM_REQUIRE=1).
func checkLivePage(t *testing.T, url string) {
	t.Helper()
	bin := testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install chromium)", "chromium", "chromium-browser")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "--virtual-time-budget=3000", url)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Errorf("chromium --dump-dom %s: %v", url, err)
		return
	}
	dom := string(out)
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(dom)
		if m == nil {
			t.Errorf("live page DOM lacks %s", re)
			return ""
		}
		return m[1]
	}
	if n, _ := strconv.Atoi(find(`<body data-polls="(\d+)"`)); n < 2 {
		t.Errorf("live page polled %d times, want ≥ 2", n)
	}
	if n, _ := strconv.Atoi(find(`<b id="running">(\d+)</b>`)); n < 2 {
		t.Errorf("live page shows %d running tasks, want ≥ 2", n)
	}
	if rps, err := strconv.Atoi(find(`<b id="rps">(\d+)</b>`)); err != nil || rps <= 0 {
		t.Errorf("live page shows requests/s %d (%v), want a positive rate", rps, err)
	}
	if pts := strings.Fields(find(`id="line-rps"[^>]*points="([^"]*)"`)); len(pts) < 3 {
		t.Errorf("live chart's rate line has %d vertices, want ≥ 3", len(pts))
	}
	if !regexp.MustCompile(`<td>127\.0\.0\.1:\d+</td><td class="ready">ready</td>`).MatchString(dom) {
		t.Errorf("live pool table lists no ready backend on 127.0.0.1")
	}
}

// TestDemoExternalMaster runs the farm with -master pointing at a Mesos
// master it did not start (mesos/local stands in for a real cluster), with
// no built-in load: the tasks serve through HAProxy, and stopping the farm
// drains and kills them on that master instead of relying on the cluster
// going away.
func TestDemoExternalMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mesos master, HAProxy and tasks; skipped with -short")
	}
	needHAProxy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pb, release, err := portblock.HAProxyApache.Pick(100)
	if err != nil {
		t.Fatal(err)
	}
	defer release() // after the cluster's Close, deferred below
	cluster, err := local.Start(context.Background(), local.Config{Agents: 1, Ports: local.PortRange{Begin: pb.Begin, End: pb.End}})
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg, _, err := parseFarm([]string{"-master", cluster.URL(), "-load=false", "-task-bind", "127.0.0.1", "-backend", "go",
		"-task-exe", exe}, io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx) // stop() is the user's Ctrl-C
	defer stop()
	var out, logs testenv.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := runFarm(runCtx, cfg, &out, slog.New(slog.NewTextHandler(&logs, nil)))
		done <- err
	}()
	defer func() {
		if t.Failed() {
			t.Logf("output:\n%s\nlogs (last 8 KiB):\n%s", out.String(), tail(logs.String(), 8<<10))
		}
	}()
	farmURL := waitFor(t, done, func() string {
		m := regexp.MustCompile(`farm at (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(out.String())
		if m == nil {
			return ""
		}
		return m[1]
	})
	served := map[string]bool{}
	waitFor(t, done, func() string {
		resp, err := http.Get(farmURL)
		if err != nil {
			return ""
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body), "Hello from the web farm") {
			served[resp.Header.Get("X-Served-By")] = true
		}
		if len(served) < cfg.min {
			return ""
		}
		return "ok"
	})
	running := 0
	for _, ti := range cluster.Tasks() {
		if ti.State == "TASK_RUNNING" {
			running++
		}
	}
	if running != cfg.min {
		t.Errorf("external master runs %d tasks, want -min %d", running, cfg.min)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("runFarm after stop: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the farm did not stop within 90s")
	}
	for _, ti := range cluster.Tasks() {
		if ti.State != "TASK_KILLED" {
			t.Errorf("task %s is %s after the farm stopped, want TASK_KILLED (drained, then killed)", ti.TaskID, ti.State)
		}
	}
	if !strings.Contains(logs.String(), `msg="mesos: backend draining"`) {
		t.Errorf("the farm stopped without draining its backends")
	}
}

// needHAProxy skips the test where haproxy is not installed.
func needHAProxy(t *testing.T) {
	t.Helper()
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
}
