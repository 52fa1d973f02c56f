package zk_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
)

// startCluster starts mesos/local with fast timers and n masters.
func startCluster(t testing.TB, masters int) *local.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts mesos/local and task processes")
	}
	pb, release, err := portblock.MesosZK.Pick(200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // after the cluster's Close, registered below
	c, err := local.Start(testCtx(t), local.Config{
		Agents: 2, Masters: masters,
		Ports:              local.PortRange{Begin: pb.Begin, End: pb.End},
		HeartbeatInterval:  500 * time.Millisecond,
		AllocationInterval: 100 * time.Millisecond,
		KillGracePeriod:    time.Second,
		Logger:             testLogger(t).With("side", "master"),
	})
	if err != nil {
		t.Fatalf("local.Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// farmConfig is a scheduler config for tests: sleeping tasks, fast timers.
func farmConfig(t testing.TB, master string, mem *lbtest.Memory) mesos.Config {
	return mesos.Config{
		Masters:  []string{master},
		Balancer: mem,
		Task: mesos.TaskTemplate{Name: "web", Command: []string{"/bin/sleep", "600"}, CPUs: 0.1, Mem: 16,
			KillGracePeriod: time.Second},
		Tick:             50 * time.Millisecond,
		ReconnectMin:     50 * time.Millisecond,
		ReconnectMax:     300 * time.Millisecond,
		ReconcileTimeout: 3 * time.Second,
		DrainTimeout:     time.Second,
		RequestTimeout:   3 * time.Second,
		Logger:           testLogger(t).With("side", "scheduler"),
	}
}

func runScheduler(t *testing.T, s *mesos.Scheduler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != context.Canceled {
				t.Errorf("Run = %v, want context.Canceled", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return within 15s")
		}
	})
}

func taskIDs(s *mesos.Scheduler) []string {
	var ids []string
	for _, t := range s.Tasks() {
		if t.State == "TASK_RUNNING" {
			ids = append(ids, t.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestSchedulerFindsTheLeaderThroughZooKeeper is the whole discovery path
// on a real ZooKeeper: three mesos/local masters registered as Mesos
// masters register (json.info_ sequence nodes), a scheduler given only the
// zk:// URL subscribes to the leader, and after each master failover it
// follows the new leader ZooKeeper names, as the same framework, keeping
// its tasks.
func TestSchedulerFindsTheLeaderThroughZooKeeper(t *testing.T) {
	srv := zktest.Shared(t)
	c := startCluster(t, 3)
	u := zkURL(t, srv.Addr)
	publish(t, u, c)

	mem := lbtest.NewMemory()
	raw := "zk://" + srv.Addr + u.Path
	if ms, err := mesos.ParseMasters(raw); err != nil || !slices.Equal(ms, []string{raw}) {
		t.Fatalf("ParseMasters(%q) = %v, %v", raw, ms, err)
	}
	s, err := mesos.New(context.Background(), farmConfig(t, raw, mem))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	waitFor(t, "subscribed with 2 running tasks", func() bool { return s.Connected() && len(taskIDs(s)) == 2 })
	if want := c.URL(); s.Leader() != want {
		t.Errorf("Leader() = %s, want %s", s.Leader(), want)
	}
	fid, tasks := s.FrameworkID(), taskIDs(s)
	urls := c.URLs()
	for i := 1; i <= 3; i++ {
		if err := c.FailoverMaster(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := urls[i%3]
		waitFor(t, "the scheduler at the new leader "+want, func() bool { return s.Leader() == want && s.Connected() })
		if got := s.FrameworkID(); got != fid {
			t.Fatalf("framework %s after failover %d, want %s", got, i, fid)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := taskIDs(s); !slices.Equal(got, tasks) {
		t.Errorf("running tasks %v after failovers, want the same %v", got, tasks)
	}
}

// TestSchedulerWaitsForALeaderInZooKeeper: with no master registered yet
// the scheduler waits (errors, backoff), and subscribes once one is.
func TestSchedulerWaitsForALeaderInZooKeeper(t *testing.T) {
	srv := zktest.Shared(t)
	c := startCluster(t, 1)
	u := zkURL(t, srv.Addr)
	s, err := mesos.New(context.Background(), farmConfig(t, "zk://"+srv.Addr+u.Path, lbtest.NewMemory()))
	if err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	time.Sleep(500 * time.Millisecond)
	if s.Connected() || s.Leader() != "" {
		t.Fatalf("connected %v to %q with no master in ZooKeeper", s.Connected(), s.Leader())
	}
	publish(t, u, c)
	waitFor(t, "subscribed once the master registered", s.Connected)
}

func TestConfigRejectsBadZooKeeperURLs(t *testing.T) {
	for _, masters := range [][]string{
		{"zk://h:2181/mesos", "http://h:5050"},
		{"zk://h:2181/"},
		{"zk://jo:s3cret@h/mesos"},
	} {
		cfg := mesos.Config{Masters: masters, Task: mesos.TaskTemplate{Command: []string{"x"}, CPUs: 1, Mem: 1}, Balancer: lbtest.NewMemory()}
		err := cfg.Validate()
		if err == nil {
			t.Errorf("Masters %q: no error", masters)
			continue
		}
		if !errorsIs(err, mesos.ErrInvalid) || containsStr(err.Error(), "s3cret") {
			t.Errorf("Masters %q: %v: want ErrInvalid without the password", masters, err)
		}
	}
}
