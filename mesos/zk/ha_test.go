package zk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/mesos/zk"
)

// haSession is the ZooKeeper session timeout of the HA tests' replicas.
const haSession = 1500 * time.Millisecond

// office records who acts on the shared balancer and flags split brain: a
// replica holds the office from its election until its Scheduler.Run has
// returned; one elected while another still holds it, or a balancer change
// by a replica not in office, is a violation.
type office struct {
	bal lb.Balancer
	// task, if set, replaces the replicas' sleeping task.
	task *mesos.TaskTemplate

	mu         sync.Mutex
	in         string
	since      time.Time
	terms      []string // who held the office, in order
	acts       map[string]int
	violations []string
}

func newOffice(bal lb.Balancer) *office { return &office{bal: bal, acts: map[string]int{}} }

func (o *office) begin(who string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.in != "" {
		o.violations = append(o.violations, fmt.Sprintf("%s elected while %s still acts (since %v)", who, o.in, time.Since(o.since)))
	}
	o.in, o.since = who, time.Now()
	o.terms = append(o.terms, who)
}

func (o *office) end(who string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.in == who {
		o.in = ""
	}
}

func (o *office) act(who, what string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.acts[who]++
	if o.in != who {
		o.violations = append(o.violations, fmt.Sprintf("%s did %s while %q holds the office", who, what, o.in))
	}
}

func (o *office) holder() string { o.mu.Lock(); defer o.mu.Unlock(); return o.in }

func (o *office) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, v := range o.violations {
		t.Errorf("split brain: %s", v)
	}
}

// actor is the shared balancer as one replica sees it: every change is
// recorded in the office under the replica's name. It counts no
// connections, so a drain lasts DrainTimeout.
type actor struct {
	o   *office
	who string
}

func (a actor) Stats(ctx context.Context) (lb.Stats, error)        { return a.o.bal.Stats(ctx) }
func (a actor) Backends(ctx context.Context) ([]lb.Backend, error) { return a.o.bal.Backends(ctx) }
func (a actor) Add(ctx context.Context, b lb.Backend) error {
	a.o.act(a.who, "Add "+b.ID)
	return a.o.bal.Add(ctx, b)
}
func (a actor) Drain(ctx context.Context, id string) error {
	a.o.act(a.who, "Drain "+id)
	return a.o.bal.Drain(ctx, id)
}
func (a actor) Remove(ctx context.Context, id string) error {
	a.o.act(a.who, "Remove "+id)
	return a.o.bal.Remove(ctx, id)
}

// replica is one webfarm process: an Elector whose leader runs a
// Scheduler, reaching ZooKeeper through its own proxy (to cut).
type replica struct {
	name   string
	path   string
	proxy  *zktest.Proxy
	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	sched   *mesos.Scheduler
	elected time.Time
}

func (r *replica) scheduler() *mesos.Scheduler { r.mu.Lock(); defer r.mu.Unlock(); return r.sched }

func (r *replica) electedAt() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.elected }

// startReplica starts a replica of the farm on cluster c.
func startReplica(t testing.TB, name, zkAddr, path string, c *local.Cluster, o *office) *replica {
	t.Helper()
	p, err := zktest.NewProxy(zkAddr)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zk.ParseURL("zk://" + p.Addr + path)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, path: path, proxy: p, done: make(chan error, 1)}
	el := &zk.Elector{URL: u, SessionTimeout: haSession, ID: name, Logger: testLogger(t).With("replica", name)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- el.Run(ctx, func(ctx context.Context, term *zk.Term) error {
			o.begin(name)
			defer o.end(name)
			r.mu.Lock()
			r.elected = time.Now()
			r.mu.Unlock()
			cfg := farmConfig(t, c.URL(), nil)
			cfg.Masters = c.URLs()
			cfg.Balancer = actor{o: o, who: name}
			cfg.State = term.State()
			cfg.FailoverTimeout = time.Minute
			cfg.Logger = cfg.Logger.With("replica", name)
			if o.task != nil {
				cfg.Task = *o.task
			}
			s, err := mesos.New(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					return nil // the term ended meanwhile
				}
				return err
			}
			r.mu.Lock()
			r.sched = s
			r.mu.Unlock()
			if err := s.Run(ctx); !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		})
	}()
	t.Cleanup(func() { r.kill(); p.Close() })
	return r
}

// kill ends the replica as a crash would: its connections to ZooKeeper
// break without closing the session (which then expires), and it stops.
func (r *replica) kill() {
	r.proxy.Close()
	r.cancel()
	<-r.done
	r.done <- context.Canceled
}

func running(c *local.Cluster, fid string) []string {
	var ids []string
	for _, t := range c.Tasks() {
		if t.FrameworkID == fid && t.State == "TASK_RUNNING" {
			ids = append(ids, t.TaskID)
		}
	}
	sort.Strings(ids)
	return ids
}

func poolIDs(o *office) []string {
	bs, _ := o.bal.Backends(context.Background())
	var ids []string
	for _, b := range bs {
		ids = append(ids, b.ID)
	}
	sort.Strings(ids)
	return ids
}

// leaderOf waits for the office to be held by one of rs whose scheduler
// is subscribed, and returns it.
func leaderOf(t testing.TB, o *office, rs ...*replica) *replica {
	t.Helper()
	var got *replica
	waitFor(t, "a subscribed leader", func() bool {
		h := o.holder()
		for _, r := range rs {
			if r.name == h && r.scheduler() != nil && r.scheduler().Connected() {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// startPair starts a cluster, a leading replica (subscribed, desired
// count 2) and a standby, acting on o's balancer (if nil, an
// lbtest.Memory).
func startPair(t testing.TB, o *office, lead, standby string) (*local.Cluster, *office, *replica, *replica, string) {
	t.Helper()
	srv := zktest.Shared(t)
	c := startCluster(t, 1)
	path := zkURL(t, srv.Addr).Path
	if o == nil {
		o = newOffice(lbtest.NewMemory())
	}
	a := startReplica(t, lead, srv.Addr, path, c, o)
	leaderOf(t, o, a)
	b := startReplica(t, standby, srv.Addr, path, c, o)
	if err := a.scheduler().SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	return c, o, a, b, a.scheduler().FrameworkID()
}

// TestStandbyTakesOver: two replicas, one leads and runs two tasks; it
// dies (its ZooKeeper session then expires); the standby is elected,
// re-subscribes as the same framework with the state the leader kept in
// ZooKeeper, adopts the running tasks, and scales down with a drain. No
// two replicas ever act at once.
func TestStandbyTakesOver(t *testing.T) {
	c, o, a, b, fid := startPair(t, nil, "a", "b")
	waitFor(t, "2 tasks running and in the pool", func() bool {
		return len(running(c, fid)) == 2 && slices.Equal(poolIDs(o), running(c, fid))
	})
	tasks := running(c, fid)
	if b.scheduler() != nil {
		t.Fatal("the standby built a scheduler while the leader leads")
	}

	killed := time.Now()
	a.kill()
	leaderOf(t, o, b)
	t.Logf("takeover: elected %v, subscribed %v after the leader died (session timeout %v)",
		b.electedAt().Sub(killed).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), haSession)
	if b.electedAt().Sub(killed) < haSession/2 {
		t.Errorf("standby elected %v after the kill: before the dead leader's session (%v) could expire", b.electedAt().Sub(killed), haSession)
	}
	sb := b.scheduler()
	if got := sb.FrameworkID(); got != fid {
		t.Fatalf("standby subscribed as %q, want the same framework %q", got, fid)
	}
	waitFor(t, "the standby adopts both tasks", func() bool {
		st, err := sb.Status(context.Background())
		return err == nil && st.Running == 2 && st.Desired == 2
	})
	if got := running(c, fid); !slices.Equal(got, tasks) {
		t.Errorf("running tasks %v after takeover, want the same %v", got, tasks)
	}
	if err := sb.SetDesired(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby drained and killed one task", func() bool {
		return len(running(c, fid)) == 1 && slices.Equal(poolIDs(o), running(c, fid))
	})
	o.check(t)
	o.mu.Lock()
	defer o.mu.Unlock()
	if !slices.Equal(o.terms, []string{"a", "b"}) || o.acts["a"] == 0 || o.acts["b"] == 0 {
		t.Errorf("terms %v, acts %v: want a then b, both acting", o.terms, o.acts)
	}
}

// TestChaosPartitionLeaderFromZooKeeper cuts the leader off from ZooKeeper (a
// partition: nothing is closed, bytes stop). It must stop acting before
// the standby is elected, and, when the partition heals, stand by.
func TestChaosPartitionLeaderFromZooKeeper(t *testing.T) {
	c, o, a, b, fid := startPair(t, nil, "a", "b")
	waitFor(t, "2 tasks in the pool", func() bool { return len(poolIDs(o)) == 2 })

	cut := time.Now()
	a.proxy.Cut()
	waitFor(t, "the partitioned leader to stop", func() bool { return o.holder() != "a" })
	stopped := time.Since(cut)
	if stopped >= haSession {
		t.Errorf("the partitioned leader stopped %v after the cut: not before its session (%v) could expire", stopped, haSession)
	}
	leaderOf(t, o, b)
	t.Logf("partition: leader stopped %v after the cut, standby elected %v after it", stopped.Round(time.Millisecond), b.electedAt().Sub(cut).Round(time.Millisecond))
	if got := b.scheduler().FrameworkID(); got != fid {
		t.Fatalf("standby subscribed as %q, want %q", got, fid)
	}
	if err := b.scheduler().SetDesired(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	a.proxy.Restore() // the old leader's session has expired: it campaigns again, behind b
	waitFor(t, "3 tasks in the pool", func() bool { return len(poolIDs(o)) == 3 && len(running(c, fid)) == 3 })
	time.Sleep(haSession)
	if h := o.holder(); h != "b" {
		t.Errorf("office held by %q after the partition healed, want b", h)
	}
	o.check(t)
}

// TestStandbyFinishesAScaleDown kills the leader while it drains two of
// three tasks; the standby takes over and completes the scale-down to the
// count the leader saved in ZooKeeper.
func TestStandbyFinishesAScaleDown(t *testing.T) {
	c, o, a, b, fid := startPair(t, nil, "a", "b")
	if err := a.scheduler().SetDesired(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 tasks in the pool", func() bool { return len(poolIDs(o)) == 3 && len(running(c, fid)) == 3 })
	if err := a.scheduler().SetDesired(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two drains in progress", func() bool {
		bs, _ := o.bal.Stats(context.Background())
		n := 0
		for _, st := range bs.Backends {
			if st.State == lb.StateDraining {
				n++
			}
		}
		return n == 2
	})
	a.kill()
	if n := len(running(c, fid)); n != 3 {
		t.Fatalf("%d tasks running when the leader died, want 3 (drains not finished)", n)
	}
	leaderOf(t, o, b)
	waitFor(t, "the standby finished the scale-down", func() bool {
		return len(running(c, fid)) == 1 && slices.Equal(poolIDs(o), running(c, fid))
	})
	if st, _ := b.scheduler().Status(context.Background()); st.Desired != 1 {
		t.Errorf("standby's desired count %d, want the 1 the leader saved", st.Desired)
	}
	o.check(t)
}
