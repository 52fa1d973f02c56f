package mesos

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// flakyBalancer is a Memory whose every call fails while down is set, as
// a balancer that restarted or a network outage would.
type flakyBalancer struct {
	*lbtest.Memory
	mu   sync.Mutex
	down bool
}

var errDown = errors.New("test: balancer unreachable")

func (f *flakyBalancer) setDown(v bool) {
	f.mu.Lock()
	f.down = v
	f.mu.Unlock()
}

func (f *flakyBalancer) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errDown
	}
	return nil
}

func (f *flakyBalancer) Backends(ctx context.Context) ([]lb.Backend, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Memory.Backends(ctx)
}

func (f *flakyBalancer) Add(ctx context.Context, b lb.Backend) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Memory.Add(ctx, b)
}

func (f *flakyBalancer) Remove(ctx context.Context, id string) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Memory.Remove(ctx, id)
}

func (f *flakyBalancer) Drain(ctx context.Context, id string) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Memory.Drain(ctx, id)
}

const syncEvery = 3 * time.Second

// TestPoolSyncRepairs drives the pool repair by hand: what the balancer
// lost comes back at the next sync, stale entries of ours go, a user's
// static server and a drain in progress are left alone.
func TestPoolSyncRepairs(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PoolSyncInterval = syncEvery; c.DrainTimeout = time.Minute })
	if err := r.mem.Add(r.ctx, lbBackend("static-1", "10.9.0.1:80")); err != nil {
		t.Fatal(err)
	}
	r.start("fw", 15)
	r.update("static-1", mesos.TASK_LOST, "", nil) // the master's answer: no such task
	ids := r.scaleTo(3)                            // webfarm.<hex>
	want := sortedCopy(append(slices.Clone(ids), "static-1"))
	if got := r.pool(); !slices.Equal(got, want) {
		t.Fatalf("pool after scale-up %v, want %v (static server kept)", got, want)
	}
	// Behind the scheduler's back: one backend lost, one stale entry of
	// ours and a second static server appear.
	if err := r.mem.Remove(r.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	for _, b := range []lb.Backend{lbBackend("webfarm.00000000deadbeef", "10.0.0.9:31999"), lbBackend("static-2", "10.9.0.2:80")} {
		if err := r.mem.Add(r.ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	// A scale-down by one: a victim drains (busy, so the drain lasts).
	for _, id := range ids {
		r.mem.SetActive(id, 1)
	}
	r.setDesired(2)
	r.s.mu.Lock()
	r.s.defLocked().lastPoolSync = r.now // the next sync is a full interval away
	r.s.mu.Unlock()
	r.step(0)
	// Ties on connections go youngest first; the lost backend counts as
	// unknown (last choice).
	victim := ids[2]
	if got := r.mem.State(victim); got != lb.StateDraining {
		t.Fatalf("victim %s is %s, want draining: %+v", victim, got, r.s.Tasks())
	}

	r.step(syncEvery - time.Millisecond)
	if got := r.mem.State(ids[0]); got != lb.StateUnknown {
		t.Fatalf("lost backend %s before the interval: %s, want still absent", ids[0], got)
	}
	r.step(time.Millisecond)
	wantPool := sortedCopy(append(slices.Clone(ids), "static-1", "static-2"))
	if got := r.pool(); !slices.Equal(got, wantPool) {
		t.Fatalf("pool after a sync %v, want %v", got, wantPool)
	}
	for id, want := range map[string]lb.State{ids[0]: lb.StateReady, victim: lb.StateDraining,
		"static-1": lb.StateReady, "static-2": lb.StateReady} {
		if got := r.mem.State(id); got != want {
			t.Errorf("after the sync %s is %s, want %s", id, got, want)
		}
	}
	logs := r.logs.String()
	if n := strings.Count(logs, "backend re-added"); n != 1 || !strings.Contains(logs, "backend="+ids[0]) {
		t.Errorf("%d 'backend re-added' lines, want 1 naming %s:\n%s", n, ids[0], logs)
	}
	if n := strings.Count(logs, "pool repair: no live task"); n != 1 || !strings.Contains(logs, "backend=webfarm.00000000deadbeef") {
		t.Errorf("%d stale-removal lines, want 1 naming webfarm.00000000deadbeef:\n%s", n, logs)
	}
	if strings.Contains(logs, "backend=static-") {
		t.Errorf("a static server was touched:\n%s", logs)
	}
	// A quiet pool stays quiet: nothing more is logged at later syncs.
	before := r.logs.Len()
	r.step(syncEvery)
	if extra := r.logs.String()[before:]; strings.Contains(extra, "pool repair") || strings.Contains(extra, "re-added") {
		t.Errorf("a sync of a sound pool logged repairs:\n%s", extra)
	}
}

// TestPoolSyncHealthGating: a lost backend of a healthy task comes back
// at the next sync (slow start included); a task that is not healthy yet,
// put into the pool by hand, is taken out at the next sync.
func TestPoolSyncHealthGating(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.PoolSyncInterval = syncEvery
		c.Task.HealthCheck = &HealthCheck{Path: "/healthz"}
		c.SlowStart, c.Weight = 10*time.Second, 100
	})
	r.start("fw", 15)
	r.setDesired(2)
	r.step(0)
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	ids := idsOf(launched(r.fc.take()))
	yes := true
	r.update(ids[0], mesos.TASK_RUNNING, "u-1", &yes)
	r.update(ids[1], mesos.TASK_RUNNING, "u-2", nil) // running, not checked yet
	r.step(0)
	if got := r.pool(); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("pool %v, want only the healthy [%s]", got, ids[0])
	}
	r.step(20 * time.Second) // ramped to full weight
	if err := r.mem.Remove(r.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	r.s.mu.Lock()
	addr := r.s.defLocked().tasks[ids[1]].addr
	r.s.mu.Unlock()
	if err := r.mem.Add(r.ctx, lb.Backend{ID: ids[1], Addr: addr}); err != nil {
		t.Fatal(err)
	}
	r.step(syncEvery)
	if got := r.pool(); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("pool after the sync %v, want [%s]: the lost healthy one back, the unchecked one out", got, ids[0])
	}
	if w := r.mem.Weight(ids[0]); w != rampStartWeight(100) {
		t.Errorf("re-added backend weight %d, want the slow-start weight %d", w, rampStartWeight(100))
	}
	r.update(ids[1], mesos.TASK_RUNNING, "u-3", &yes)
	r.step(0)
	if got, want := r.pool(), sortedCopy(ids); !slices.Equal(got, want) {
		t.Fatalf("pool %v once both healthy, want %v", got, want)
	}
}

// TestPoolSyncAfterErrorStreak: while the balancer fails nothing is
// repaired; the tick after it answers again repairs the pool at once,
// without waiting for the interval.
func TestPoolSyncAfterErrorStreak(t *testing.T) {
	fb := &flakyBalancer{Memory: lbtest.NewMemory()}
	r := newRig(t, func(c *Config) { c.Balancer = fb; c.PoolSyncInterval = time.Hour })
	r.mem = fb.Memory
	r.start("fw", 15)
	ids := r.scaleTo(2)
	fb.setDown(true)
	// The balancer "restarts" and loses its dynamic servers.
	for _, id := range ids {
		if err := fb.Memory.Remove(r.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	// A task dies meanwhile: its Remove fails, which starts the streak.
	r.update(ids[1], mesos.TASK_FAILED, "u-dead", nil)
	r.step(time.Second)
	r.step(time.Second)
	if n := strings.Count(r.logs.String(), "cannot read the balancer's pool"); n != 1 {
		t.Errorf("%d pool-read warnings during the outage, want 1 (logged once):\n%s", n, r.logs.String())
	}
	fb.setDown(false)
	r.step(time.Second) // far less than the hour-long interval
	if got := r.pool(); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("pool the tick after the outage %v, want [%s]", got, ids[0])
	}
	if !strings.Contains(r.logs.String(), "balancer answers again") {
		t.Errorf("no log line for the end of the outage:\n%s", r.logs.String())
	}
	// The streak is over: no read until the interval.
	r.s.mu.Lock()
	failing := r.s.defLocked().lbErr
	r.s.mu.Unlock()
	if failing {
		t.Error("error streak still set after a good read")
	}
}

// TestPoolSyncOff: a negative PoolSyncInterval turns the periodic read
// off; the pool is not re-read while the balancer works.
func TestPoolSyncOff(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PoolSyncInterval = -1 })
	r.start("fw", 15)
	ids := r.scaleTo(1)
	if err := r.mem.Remove(r.ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	r.step(time.Hour)
	if got := r.pool(); len(got) != 0 {
		t.Fatalf("pool %v with the sync off, want it left as it was", got)
	}
}

// TestStartCleanupKeepsStaticServers: the cleanup after the first
// reconciliation removes entries of ours with no live task (our ID form,
// or listed in the state file under an older Task.Name) and keeps the
// others.
func TestStartCleanupKeepsStaticServers(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/state.json"
	if err := saveState(path, savedState{FrameworkID: "fw", Tasks: []savedTask{
		{ID: "oldname.0123456789abcdef", AgentID: "agent-1", Addr: mustAP("10.0.0.1:31001")}}}); err != nil {
		t.Fatal(err)
	}
	r := newRig(t, func(c *Config) { c.StateFile = path })
	for _, b := range []lb.Backend{
		lbBackend("static-1", "10.9.0.1:80"),
		lbBackend("webfarm.ghost", "10.0.0.1:31002"),
		lbBackend("oldname.0123456789abcdef", "10.0.0.1:31001"),
	} {
		if err := r.mem.Add(r.ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	r.start("fw", 15)
	r.update("oldname.0123456789abcdef", mesos.TASK_LOST, "", nil)
	r.update("webfarm.ghost", mesos.TASK_LOST, "", nil)
	r.update("static-1", mesos.TASK_LOST, "", nil)
	r.step(0)
	if !r.s.reconciledNow() {
		t.Fatal("not reconciled")
	}
	if got := r.pool(); !slices.Equal(got, []string{"static-1"}) {
		t.Fatalf("pool after the start cleanup %v, want [static-1]", got)
	}
}

// TestLocalPoolSync runs the scheduler on mesos/local with lbtest.Memory
// and edits the balancer behind its back: a serving task's backend
// removed comes back, a stale entry with our ID form goes, a static
// server stays, each within PoolSyncInterval (plus scheduling slack on a
// loaded machine).
func TestLocalPoolSync(t *testing.T) {
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	if err := mem.Add(context.Background(), lbBackend("static-1", "127.0.0.1:9")); err != nil {
		t.Fatal(err)
	}
	cfg := localConfig(t, c, mem)
	cfg.PoolSyncInterval = time.Second
	f := startFarm(t, cfg)
	ctx := context.Background()
	if err := f.s.SetDesired(ctx, 2); err != nil {
		t.Fatal(err)
	}
	served := func() (bool, string) {
		ok, st := f.settledWith(c, 2, "static-1")
		return ok, st
	}
	eventually(t, 30*time.Second, "2 tasks and the static server in the pool", served)
	fw := f.s.FrameworkID()
	lost := mesosTasks(c, fw)["TASK_RUNNING"][0]
	if err := mem.Remove(ctx, lost); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	within := cfg.PoolSyncInterval + 5*time.Second
	eventually(t, within, "lost backend "+lost+" back in the pool", func() (bool, string) {
		return mem.State(lost) == lb.StateReady, mem.State(lost).String()
	})
	t.Logf("lost backend back after %v (PoolSyncInterval %v)", time.Since(start).Round(time.Millisecond), cfg.PoolSyncInterval)

	stale := lbBackend("web.00000000deadbeef", "127.0.0.1:10")
	if err := mem.Add(ctx, stale); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	eventually(t, within, "stale backend removed", func() (bool, string) {
		return mem.State(stale.ID) == lb.StateUnknown, mem.State(stale.ID).String()
	})
	t.Logf("stale backend gone after %v", time.Since(start).Round(time.Millisecond))
	eventually(t, 10*time.Second, "farm settled again", served)
	if err := mem.Remove(ctx, "static-1"); err != nil { // nothing listens there
		t.Fatal(err)
	}
	f.get(t)
	if got := allTaskIDs(c, fw); len(got) != 2 {
		t.Errorf("Mesos saw tasks %v, want the original 2: the repair launched nothing", got)
	}
}
