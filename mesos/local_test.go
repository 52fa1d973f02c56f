package mesos

// Tests against mesos/local: a real v1 master and agents on loopback that
// run tasks as processes. The tasks are this test binary re-executed as a
// small web server (see TestMain).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

const webServerEnv = "WEBFARM_MESOS_TEST_WEBSERVER"

const clusterEnv = "WEBFARM_MESOS_TEST_CLUSTER"

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(webServerEnv) == "1":
		os.Exit(serveWeb())
	case os.Getenv(clusterEnv) != "":
		os.Exit(serveCluster(os.Getenv(clusterEnv)))
	}
	os.Exit(m.Run())
}

// serveCluster runs mesos/local in this process for a benchmark in the
// parent, so that the parent's allocations are the scheduler's alone. It
// prints the master's URL and runs until stdin closes. ports is
// "BEGIN-END".
func serveCluster(ports string) int {
	var pr local.PortRange
	if _, err := fmt.Sscanf(ports, "%d-%d", &pr.Begin, &pr.End); err != nil {
		fmt.Fprintln(os.Stderr, "bad ports:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := local.Start(ctx, local.Config{Agents: 2, Ports: pr, AllocationInterval: 100 * time.Millisecond,
		HeartbeatInterval: time.Second, KillGracePeriod: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	defer c.Close()
	fmt.Println(c.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// serveWeb is the task: an HTTP server on 127.0.0.1:$PORT0 that answers
// with its task's port, until SIGTERM.
func serveWeb() int {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("PORT0")))
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		webStatus(w, r) // deploy_local_test.go: a version's answer
		fmt.Fprintf(w, "port %s host %s version %s\n", os.Getenv("PORT0"), os.Getenv("HOST"), os.Getenv(webVersionEnv))
	}), ReadHeaderTimeout: 5 * time.Second}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		return 1
	}
	return 0
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).
			With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startCluster starts mesos/local with fast timers.
func startCluster(t testing.TB, mod func(*local.Config)) *local.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts mesos/local and task processes (make unit skips them)")
	}
	cfg := local.Config{
		Agents:             2,
		Ports:              freePorts(t, 200),
		HeartbeatInterval:  500 * time.Millisecond,
		AllocationInterval: 100 * time.Millisecond,
		StatusUpdateRetry:  time.Second,
		KillGracePeriod:    2 * time.Second,
		Logger:             testLogger(t).With("side", "master"),
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("local.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// freePorts returns a block of size ports for a cluster of its own, from
// package mesos's area (see internal/portblock: below the ephemeral ports,
// disjoint from other packages' clusters, every port bind-tested), handed
// back when t ends (after the cluster's Close, registered later).
func freePorts(t testing.TB, size uint64) local.PortRange {
	t.Helper()
	b, release, err := portblock.Mesos.Pick(size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return local.PortRange{Begin: b.Begin, End: b.End}
}

func webTask(t testing.TB) TaskTemplate {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return TaskTemplate{
		Name:            "web",
		Command:         []string{exe, "-test.run=^$"},
		Env:             map[string]string{webServerEnv: "1"},
		CPUs:            0.1,
		Mem:             16,
		KillGracePeriod: 2 * time.Second,
	}
}

// farm is a Scheduler running against a cluster.
type farm struct {
	t      *testing.T
	s      *Scheduler
	mem    *lbtest.Memory
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func localConfig(t *testing.T, c *local.Cluster, mem *lbtest.Memory) Config {
	var bal lb.Balancer
	if mem != nil {
		bal = mem
	}
	return Config{
		Masters:      []string{c.URL()},
		Balancer:     bal,
		Task:         webTask(t),
		Tick:         50 * time.Millisecond,
		ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond,
		// Tests crash tasks on purpose, several in a row.
		RelaunchBackoff: 100 * time.Millisecond, RelaunchBackoffMax: time.Second,
		ReconcileTimeout: 3 * time.Second,
		DrainTimeout:     2 * time.Second,
		RequestTimeout:   5 * time.Second,
		Logger:           testLogger(t).With("side", "scheduler"),
	}
}

func startFarm(t *testing.T, cfg Config) *farm {
	t.Helper()
	return startFarmMem(t, cfg, cfg.Balancer.(*lbtest.Memory))
}

// startFarmMem is startFarm for a cfg.Balancer that wraps mem.
func startFarmMem(t *testing.T, cfg Config, mem *lbtest.Memory) *farm {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &farm{t: t, s: s, mem: mem, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- s.Run(ctx) }()
	t.Cleanup(f.stop)
	return f
}

// stop ends Run and waits for it; later calls do nothing.
func (f *farm) stop() {
	f.once.Do(func() {
		f.cancel()
		select {
		case err := <-f.done:
			if err != context.Canceled {
				f.t.Errorf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(15 * time.Second):
			f.t.Errorf("Run did not return within 15s of cancel")
		}
	})
}

// eventually polls cond until it holds or the timeout passes. It waits for
// real processes and a real master; it asserts nothing about timing.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: last state: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mesosTasks returns the cluster's tasks of fw by state.
func mesosTasks(c *local.Cluster, fw string) map[string][]string {
	m := map[string][]string{}
	for _, t := range c.Tasks() {
		if t.FrameworkID == fw {
			m[t.State] = append(m[t.State], t.TaskID)
		}
	}
	for _, v := range m {
		slices.Sort(v)
	}
	return m
}

// settled reports whether the farm runs exactly n tasks, all in the pool
// and serving HTTP, and Mesos runs exactly those.
func (f *farm) settled(c *local.Cluster, n int) (bool, string) { return f.settledWith(c, n) }

// settledWith is settled for a pool that also holds the static servers
// named (not tasks; the scheduler must leave them alone).
func (f *farm) settledWith(c *local.Cluster, n int, static ...string) (bool, string) {
	ctx := context.Background()
	st, _ := f.s.Status(ctx)
	bs, _ := f.mem.Backends(ctx)
	var pool []string
	for _, b := range bs {
		if slices.Contains(static, b.ID) {
			if f.mem.State(b.ID).String() != "ready" {
				return false, "static server " + b.ID + " not ready"
			}
			continue
		}
		pool = append(pool, b.ID)
	}
	if got := len(bs) - len(pool); got != len(static) {
		return false, fmt.Sprintf("%d of the static servers %v in the pool", got, static)
	}
	running := mesosTasks(c, f.s.FrameworkID())["TASK_RUNNING"]
	state := fmt.Sprintf("status %+v pool %v mesos running %v", st, pool, running)
	if st.Desired != n || st.Running != n || st.Starting != 0 || len(pool) != n || !slices.Equal(pool, running) {
		return false, state
	}
	for _, id := range pool {
		if f.mem.State(id).String() != "ready" {
			return false, state + " " + id + " not ready"
		}
	}
	for _, tk := range c.Tasks() { // every update acknowledged
		if tk.FrameworkID == f.s.FrameworkID() && tk.Pending != 0 {
			return false, fmt.Sprintf("%s %s: %d updates unacknowledged", state, tk.TaskID, tk.Pending)
		}
	}
	return true, state
}

// get fetches / from each backend: traffic reaches the tasks.
func (f *farm) get(t *testing.T) {
	t.Helper()
	bs, _ := f.mem.Backends(context.Background())
	cl := &http.Client{Timeout: 5 * time.Second}
	for _, b := range bs {
		// Without a health check a task joins the pool once RUNNING, which
		// Mesos reports when the process starts, maybe before it listens.
		eventually(t, 10*time.Second, "backend "+b.String()+" answers", func() (bool, string) {
			res, err := cl.Get("http://" + b.Addr.String() + "/")
			if err != nil {
				return false, err.Error()
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			ok := res.StatusCode == 200 && strings.Contains(string(body), fmt.Sprintf("port %d", b.Addr.Port()))
			return ok, fmt.Sprintf("%d %q", res.StatusCode, body)
		})
	}
}

func allTaskIDs(c *local.Cluster, fw string) []string {
	var out []string
	for _, t := range c.Tasks() {
		if t.FrameworkID == fw {
			out = append(out, t.TaskID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestLocalScaleUpAndDown(t *testing.T) {
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.Task.HealthCheck = &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	f := startFarm(t, cfg)
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "4 healthy tasks in the pool", func() (bool, string) { return f.settled(c, 4) })
	f.get(t)
	for _, tk := range f.s.Tasks() {
		if !tk.Healthy || !tk.InLB || tk.State != "TASK_RUNNING" || !tk.Addr.IsValid() || tk.AgentID == "" {
			t.Errorf("task snapshot %+v, want running, healthy, in the LB", tk)
		}
	}
	fw := f.s.FrameworkID()
	for _, tk := range c.Tasks() {
		if tk.FrameworkID == fw && tk.Pending != 0 {
			t.Errorf("task %s has %d unacknowledged updates", tk.TaskID, tk.Pending)
		}
	}

	if err := f.s.SetDesired(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "scaled down to 1", func() (bool, string) { return f.settled(c, 1) })
	f.get(t)
	eventually(t, 15*time.Second, "3 tasks killed", func() (bool, string) {
		m := mesosTasks(c, fw)
		return len(m["TASK_KILLED"]) == 3, fmt.Sprint(m)
	})
	if n := len(allTaskIDs(c, fw)); n != 4 {
		t.Errorf("Mesos saw %d tasks, want 4 (nothing launched twice)", n)
	}
}

func TestLocalTaskDeathReplaced(t *testing.T) {
	c := startCluster(t, nil)
	f := startFarm(t, localConfig(t, c, lbtest.NewMemory()))
	if err := f.s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return f.settled(c, 2) })
	fw := f.s.FrameworkID()
	victim := mesosTasks(c, fw)["TASK_RUNNING"][0]
	if err := c.KillTaskProcess(context.Background(), fw, victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "dead task replaced", func() (bool, string) {
		ok, st := f.settled(c, 2)
		return ok && f.mem.State(victim).String() == "unknown" && len(allTaskIDs(c, fw)) == 3, st
	})
	if m := mesosTasks(c, fw); len(m["TASK_FAILED"]) != 1 || m["TASK_FAILED"][0] != victim {
		t.Errorf("Mesos states %v, want %s FAILED", m, victim)
	}
	f.get(t)
}

func TestLocalMasterFailover(t *testing.T) {
	c := startCluster(t, nil)
	f := startFarm(t, localConfig(t, c, lbtest.NewMemory()))
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return f.settled(c, 2) })
	fw := f.s.FrameworkID()
	before := allTaskIDs(c, fw)
	for i := range 2 {
		subs := f.s.subscriptionCount()
		if err := c.FailoverMaster(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, fmt.Sprintf("re-subscribed after failover %d", i+1), func() (bool, string) {
			return f.s.subscriptionCount() > subs && f.s.Connected() && f.s.reconciledNow(),
				fmt.Sprint("subscriptions ", f.s.subscriptionCount(), " connected ", f.s.Connected())
		})
	}
	if got := f.s.FrameworkID(); got != fw {
		t.Fatalf("framework ID after failover %q, want %q", got, fw)
	}
	if ok, st := f.settled(c, 2); !ok {
		t.Fatalf("after failover: %s", st)
	}
	if got := allTaskIDs(c, fw); !slices.Equal(got, before) {
		t.Fatalf("tasks after failover %v, want the same %v", got, before)
	}
	// The new subscription works: scale up through it.
	if err := f.s.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "3 tasks after failover", func() (bool, string) { return f.settled(c, 3) })
	f.get(t)
}

func TestLocalAgentLoss(t *testing.T) {
	c := startCluster(t, nil)
	f := startFarm(t, localConfig(t, c, lbtest.NewMemory()))
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "3 tasks", func() (bool, string) { return f.settled(c, 3) })
	fw := f.s.FrameworkID()
	// Stop the agent that runs the most tasks.
	per := map[string][]string{}
	for _, tk := range c.Tasks() {
		if tk.FrameworkID == fw && tk.State == "TASK_RUNNING" {
			per[tk.AgentID] = append(per[tk.AgentID], tk.TaskID)
		}
	}
	var lost string
	for a, ids := range per {
		if lost == "" || len(ids) > len(per[lost]) {
			lost = a
		}
	}
	if err := c.StopAgent(ctx, lost); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "lost tasks replaced on the surviving agent", func() (bool, string) {
		ok, st := f.settled(c, 3)
		if !ok {
			return false, st
		}
		for _, tk := range f.s.Tasks() {
			if tk.AgentID == lost {
				return false, st + " task still on lost agent " + tk.ID
			}
		}
		return true, st
	})
	for _, id := range per[lost] {
		if f.mem.State(id).String() != "unknown" {
			t.Errorf("lost task %s still in the pool", id)
		}
	}
	if m := mesosTasks(c, fw); len(m["TASK_LOST"]) != len(per[lost]) {
		t.Errorf("Mesos states %v, want %d LOST", m, len(per[lost]))
	}
	f.get(t)
}

func TestLocalRestartMidScaleDown(t *testing.T) {
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.StateFile = filepath.Join(t.TempDir(), "scheduler.json")
	cfg.DrainTimeout = time.Minute // the drain outlives the first scheduler
	f := startFarm(t, cfg)
	ctx := context.Background()
	ids, draining := scaleDownHeld(t, f, c, mem)
	fw := f.s.FrameworkID()
	f.stop() // the scheduler dies mid-scale-down; its tasks keep running

	survivor := ""
	for _, id := range ids {
		if !slices.Contains(draining, id) {
			survivor = id
		}
	}
	// While it is away the pool drifts: a ghost backend with no task, and
	// the survivor lost from the pool.
	if err := mem.Add(ctx, lbBackend("web.ghost", "127.0.0.1:9")); err != nil {
		t.Fatal(err)
	}
	if err := mem.Remove(ctx, survivor); err != nil {
		t.Fatal(err)
	}
	if m := mesosTasks(c, fw); len(m["TASK_RUNNING"]) != 3 {
		t.Fatalf("tasks while the scheduler is away: %v, want 3 running", m)
	}

	cfg.Logger = testLogger(t).With("side", "scheduler-2")
	f2 := startFarm(t, cfg)
	eventually(t, 15*time.Second, "restarted scheduler re-subscribed and reconciled", func() (bool, string) {
		return f2.s.Connected() && f2.s.reconciledNow(), fmt.Sprint(f2.s.FrameworkID())
	})
	if got := f2.s.FrameworkID(); got != fw {
		t.Fatalf("restarted framework ID %q, want %q", got, fw)
	}
	eventually(t, 10*time.Second, "ghost removed, survivor back, victims still draining", func() (bool, string) {
		pool := fmt.Sprint(mem.State("web.ghost"), mem.State(survivor), mem.State(draining[0]), mem.State(draining[1]))
		return pool == "unknown ready draining draining", pool
	})
	for _, id := range draining {
		mem.SetActive(id, 0) // the drain completes
	}
	eventually(t, 30*time.Second, "scale-down finished after the restart", func() (bool, string) { return f2.settled(c, 1) })
	if got := mesosTasks(c, fw)["TASK_RUNNING"]; !slices.Equal(got, []string{survivor}) {
		t.Fatalf("running %v, want the survivor %s", got, survivor)
	}
	eventually(t, 15*time.Second, "victims killed", func() (bool, string) {
		m := mesosTasks(c, fw)
		return slices.Equal(m["TASK_KILLED"], draining), fmt.Sprint(m)
	})
	if got := allTaskIDs(c, fw); !slices.Equal(got, ids) {
		t.Fatalf("Mesos saw tasks %v, want only the original %v: nothing launched twice", got, ids)
	}
}

// TestLocalFollowsLeader puts a standby master in front: it answers every
// request with 307 to the leader, as a non-leading Mesos master does. The
// scheduler must subscribe at the leader and send every later call there.
func TestLocalFollowsLeader(t *testing.T) {
	c := startCluster(t, nil)
	leaderURL, err := url.Parse(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	var standbyHits atomic.Int64
	standby := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		standbyHits.Add(1)
		w.Header().Set("Location", "//"+leaderURL.Host+"/api/v1/scheduler")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}))
	defer standby.Close()
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.Masters = []string{standby.URL}
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks via the leader", func() (bool, string) { return f.settled(c, 2) })
	if got := f.s.Leader(); got != c.URL() {
		t.Errorf("Leader() = %q, want %q", got, c.URL())
	}
	if n := standbyHits.Load(); n != 1 {
		t.Errorf("standby got %d requests, want only the first SUBSCRIBE", n)
	}
	for _, tk := range c.Tasks() {
		if tk.Pending != 0 {
			t.Errorf("task %s: %d updates unacknowledged (ACKs went astray?)", tk.TaskID, tk.Pending)
		}
	}
}

// TestLocalAuthAndTLS: basic auth over HTTPS with a private CA.
func TestLocalAuthAndTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	c := startCluster(t, func(cfg *local.Config) {
		cfg.Auth = &local.Credentials{Principal: "webfarm", Secret: "s3cret"}
		cfg.TLS = serverTLS
	})
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("cluster URL %s is not https", c.URL())
	}
	t.Run("good credentials", func(t *testing.T) {
		cfg := localConfig(t, c, lbtest.NewMemory())
		cfg.Principal, cfg.Secret, cfg.TLS = "webfarm", "s3cret", clientTLS
		f := startFarm(t, cfg)
		if err := f.s.SetDesired(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "1 task over TLS", func() (bool, string) { return f.settled(c, 1) })
	})
	t.Run("wrong secret", func(t *testing.T) {
		var buf syncBuffer
		cfg := localConfig(t, c, lbtest.NewMemory())
		cfg.Principal, cfg.Secret, cfg.TLS = "webfarm", "wrong", clientTLS
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
		f := startFarm(t, cfg)
		eventually(t, 10*time.Second, "a logged 401", func() (bool, string) {
			return strings.Contains(buf.String(), "subscription ended"), buf.String()
		})
		if f.s.Connected() {
			t.Fatal("subscribed with a wrong secret")
		}
	})
	t.Run("unknown CA", func(t *testing.T) {
		var buf syncBuffer
		cfg := localConfig(t, c, lbtest.NewMemory())
		cfg.Principal, cfg.Secret = "webfarm", "s3cret"
		cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
		f := startFarm(t, cfg)
		eventually(t, 10*time.Second, "a logged certificate error", func() (bool, string) {
			return strings.Contains(buf.String(), "certificate"), buf.String()
		})
		if f.s.Connected() {
			t.Fatal("subscribed to a master with an untrusted certificate")
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testTLS makes a self-signed certificate for 127.0.0.1 and the configs
// of both ends.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mesos-local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// TestLocalCodecsAndMasterList: JSON and protobuf both work, and a dead
// first master in the list is skipped.
func TestLocalCodecsAndMasterList(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close() // nothing listens there now: connection refused
	for _, codec := range []string{"json", "protobuf"} {
		t.Run(codec, func(t *testing.T) {
			c := startCluster(t, nil)
			cfg := localConfig(t, c, lbtest.NewMemory())
			cfg.Codec = codec
			cfg.Masters = []string{deadURL, c.URL()}
			f := startFarm(t, cfg)
			if err := f.s.SetDesired(context.Background(), 2); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return f.settled(c, 2) })
			if got := f.s.Leader(); got != c.URL() {
				t.Errorf("Leader() = %s, want %s", got, c.URL())
			}
			f.get(t)
		})
	}
}

// TestLocalMaxPerAgent: the cap spreads tasks over both agents, and a
// desired count above what the cap allows leaves the rest waiting.
func TestLocalMaxPerAgent(t *testing.T) {
	c := startCluster(t, nil)
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.MaxPerAgent = 2
	f := startFarm(t, cfg)
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "4 tasks", func() (bool, string) { return f.settled(c, 4) })
	per := map[string]int{}
	for _, tk := range c.Tasks() {
		if tk.State == "TASK_RUNNING" {
			per[tk.AgentID]++
		}
	}
	if len(per) != 2 {
		t.Fatalf("tasks per agent %v, want 2 on each of 2 agents", per)
	}
	for a, n := range per {
		if n != 2 {
			t.Errorf("agent %s runs %d tasks, want 2", a, n)
		}
	}
	seen := f.s.offerCount()
	if err := f.s.SetDesired(ctx, 5); err != nil {
		t.Fatal(err)
	}
	// The scheduler revives; offers from both agents come and are
	// declined: no fifth task.
	eventually(t, 10*time.Second, "offers after the revive", func() (bool, string) {
		return f.s.offerCount() >= seen+2, fmt.Sprint(f.s.offerCount()-seen, " offers")
	})
	if n := len(allTaskIDs(c, f.s.FrameworkID())); n != 4 {
		t.Fatalf("Mesos saw %d tasks with the cap full, want 4", n)
	}
	// Declined with the long filter and not revived again: the offers stop
	// instead of cycling decline → revive every allocation.
	f.s.mu.Lock()
	revives := f.s.reviveGen
	f.s.mu.Unlock()
	before := f.s.offerCount()
	subs := f.s.subscriptionCount()
	time.Sleep(time.Second) // ten allocation intervals: nothing may happen
	f.s.mu.Lock()
	revivesAfter := f.s.reviveGen
	f.s.mu.Unlock()
	if f.s.subscriptionCount() == subs && (revivesAfter != revives || f.s.offerCount() > before+2) {
		t.Errorf("with the cap full: %d more REVIVEs and %d more offers in 1s, want none",
			revivesAfter-revives, f.s.offerCount()-before)
	}
}

// TestLocalFrameworkRemoved: the scheduler stays away longer than its
// failover timeout, so the master kills its tasks and removes the
// framework. On restart the master refuses the old ID; the scheduler
// registers as a new framework, clears the dead tasks from the balancer
// and launches new ones.
func TestLocalFrameworkRemoved(t *testing.T) {
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	cfg := localConfig(t, c, mem)
	cfg.StateFile = filepath.Join(t.TempDir(), "scheduler.json")
	cfg.FailoverTimeout = 300 * time.Millisecond
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return f.settled(c, 2) })
	oldFW, oldTasks := f.s.FrameworkID(), allTaskIDs(c, f.s.FrameworkID())
	f.stop()
	eventually(t, 15*time.Second, "old framework's tasks killed by the master", func() (bool, string) {
		m := mesosTasks(c, oldFW)
		return len(m["TASK_RUNNING"]) == 0 && len(m["TASK_KILLED"]) == 2, fmt.Sprint(m)
	})
	f2 := startFarm(t, cfg)
	eventually(t, 30*time.Second, "a new framework runs 2 new tasks", func() (bool, string) {
		fw := f2.s.FrameworkID()
		ok, st := f2.settled(c, 2)
		return ok && fw != "" && fw != oldFW, "framework " + fw + " " + st
	})
	bs, _ := mem.Backends(context.Background())
	for _, b := range bs {
		if slices.Contains(oldTasks, b.ID) {
			t.Errorf("dead task %s still in the pool", b.ID)
		}
	}
}

// TestLocalRunLeavesNothing: after Run returns, no goroutine it started
// lives on: not the converge loop, the token source, the event stream or
// a pooled HTTP connection (nor their server ends in the master).
func TestLocalRunLeavesNothing(t *testing.T) {
	c := startCluster(t, nil)
	before, _ := runGoroutines()
	f := startFarm(t, localConfig(t, c, lbtest.NewMemory()))
	eventually(t, 10*time.Second, "subscribed", func() (bool, string) { return f.s.Connected(), "" })
	if n, _ := runGoroutines(); n <= before {
		t.Fatalf("%d Run goroutines while subscribed, %d before: the count sees nothing", n, before)
	}
	f.stop()
	eventually(t, 5*time.Second, "Run's goroutines gone", func() (bool, string) {
		n, which := runGoroutines()
		return n <= before, fmt.Sprintf("%d goroutines, %d before Run: %s", n, before, which)
	})
}

// runGoroutines counts the goroutines Run may leave behind, whatever the
// cluster's own goroutines do: those running code of this package (but
// the test's own) or of mesos-go, and both ends of HTTP connections (the
// client's persistConn, the master's conn.serve).
func runGoroutines() (int, string) {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var which []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mesos.TestLocalRunLeavesNothing") || strings.Contains(g, "mesos.runGoroutines") {
			continue
		}
		for _, mark := range []string{"webfarm/webfarm/mesos.", "github.com/mesos/mesos-go/", "net/http.(*persistConn)", "net/http.(*conn).serve"} {
			if strings.Contains(g, mark) {
				first, _, _ := strings.Cut(g, "\n")
				which = append(which, first+" ("+mark+")")
				break
			}
		}
	}
	return len(which), strings.Join(which, "; ")
}

// TestLocalCrashLoopBacksOff: a command that exits at once is relaunched
// with growing delays, not at the rate offers arrive.
func TestLocalCrashLoopBacksOff(t *testing.T) {
	falseCmd := testenv.LookPath(t, "coreutils provides it", "false")
	c := startCluster(t, nil)
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.Task.Command = []string{falseCmd}
	cfg.RelaunchBackoff, cfg.RelaunchBackoffMax = 300*time.Millisecond, 1200*time.Millisecond
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	var launches []time.Time
	eventually(t, 30*time.Second, "5 failed launches", func() (bool, string) {
		launches = launches[:0]
		for _, tk := range c.Tasks() {
			if tk.FrameworkID == f.s.FrameworkID() && tk.State == "TASK_FAILED" {
				launches = append(launches, tk.Launched)
			}
		}
		return len(launches) >= 5, fmt.Sprint(len(launches), " failed")
	})
	slices.SortFunc(launches, func(a, b time.Time) int { return a.Compare(b) })
	// The hold after failure k starts when its TASK_FAILED arrives, after
	// its launch: gaps between launches are at least the holds.
	for i, min := range []time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond} {
		if gap := launches[i+1].Sub(launches[i]); gap < min {
			t.Errorf("launch %d came %s after launch %d, want ≥ %s", i+2, gap, i+1, min)
		}
	}
	// Without a health check a task joins the pool while RUNNING, even one
	// that fails a moment later; what matters is that failed tasks leave it.
	// Stop relaunching, then every backend must go.
	if err := f.s.SetDesired(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "failed tasks out of the balancer", func() (bool, string) {
		pool, _ := f.mem.Backends(context.Background())
		return len(pool) == 0, fmt.Sprint("pool ", pool)
	})
}

// scaleDownHeld runs 3 tasks, marks every backend busy in mem so that no
// drain can finish, scales to 1, and waits until 2 backends drain. It
// returns all three task IDs and the two draining ones.
func scaleDownHeld(t *testing.T, f *farm, c *local.Cluster, mem *lbtest.Memory) (ids, draining []string) {
	t.Helper()
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "3 tasks", func() (bool, string) { return f.settled(c, 3) })
	ids = allTaskIDs(c, f.s.FrameworkID())
	for _, id := range ids {
		mem.SetActive(id, 1) // busy: the drains wait
	}
	if err := f.s.SetDesired(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "2 backends draining", func() (bool, string) {
		draining = draining[:0]
		for _, id := range ids {
			if mem.State(id) == lb.StateDraining {
				draining = append(draining, id)
			}
		}
		return len(draining) == 2, fmt.Sprint(draining)
	})
	return ids, draining
}
