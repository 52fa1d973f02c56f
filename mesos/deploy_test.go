package mesos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// sim plays the cluster for a rig: each round it offers one agent's
// resources, starts what was launched (RUNNING, and healthy unless
// health says otherwise), ends what was killed, and steps the scheduler.
type sim struct {
	r      *rig
	round  int
	uuid   int
	health func(ti mesos.TaskInfo) bool // nil: all healthy
	args   map[string][]string          // task ID → its command's arguments
}

func newSim(r *rig) *sim { return &sim{r: r, args: map[string][]string{}} }

// deployRig starts a rig with n tasks serving and starts a deployment of
// v2Task with opts.
func deployRig(t *testing.T, mod func(*Config), n int, opts DeployOptions) (*rig, *sim) {
	t.Helper()
	r := newRig(t, mod)
	r.start("fw", 15)
	m := newSim(r)
	m.settle(n)
	if err := r.s.Deploy(r.ctx, r.s.defName, v2Task(), opts); err != nil {
		t.Fatal(err)
	}
	return r, m
}

// settle sets the desired count and runs rounds until n tasks serve.
func (m *sim) settle(n int) {
	m.r.t.Helper()
	m.r.step(0) // ends the reconciliation r.start began
	m.r.setDesired(n)
	for range 5 {
		m.tick(time.Second)
	}
	if _, serving := m.r.versions(); sum(serving) != n {
		m.r.t.Fatalf("settle(%d): serving %v", n, serving)
	}
}

func (m *sim) next() string { m.uuid++; return fmt.Sprintf("u-%06d", m.uuid) }

// tick runs one round and returns the calls the scheduler made.
func (m *sim) tick(d time.Duration) []*scheduler.Call {
	r := m.r
	m.round++
	r.mem.Serve(40) // traffic, spread over the ready backends
	lo := uint64(20000 + 50*m.round)
	r.offers(offer(fmt.Sprintf("o-%d", m.round), "agent-1", "10.0.0.1", 64, 1<<16, lo, lo+49))
	calls := r.fc.take()
	for _, ti := range launched(calls) {
		m.args[ti.TaskID.Value] = ti.GetCommand().GetArguments()
		var h *bool
		if ti.HealthCheck != nil {
			h = proto(m.health == nil || m.health(ti))
		}
		r.update(ti.TaskID.Value, mesos.TASK_RUNNING, m.next(), h)
	}
	r.step(d)
	more := r.fc.take()
	for _, c := range ofType(more, scheduler.Call_KILL) {
		r.update(c.GetKill().GetTaskID().Value, mesos.TASK_KILLED, m.next(), nil)
	}
	r.step(0)
	more = append(more, r.fc.take()...)
	return append(calls, more...)
}

// counts returns the rig's tasks by version: live (not draining) and
// serving (in the pool, not draining).
func (r *rig) versions() (live, serving map[string]int) {
	live, serving = map[string]int{}, map[string]int{}
	for _, tk := range r.s.Tasks() {
		if tk.Draining {
			continue
		}
		live[tk.Version]++
		if tk.InLB {
			serving[tk.Version]++
		}
	}
	return live, serving
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func v2Task() TaskTemplate {
	return TaskTemplate{Command: []string{"/usr/bin/web", "--port", "$PORT0", "--v2"}, CPUs: 0.5, Mem: 64}
}

func TestDeployRollingKeepsCapacity(t *testing.T) {
	for _, tc := range []struct {
		name          string
		opts          DeployOptions
		n             int
		minServe, max int // bounds on serving and live tasks at every step
	}{
		{"surge 1", DeployOptions{MaxSurge: 1}, 6, 6, 7},
		{"zero value is surge 1", DeployOptions{}, 6, 6, 7},
		{"surge 3", DeployOptions{MaxSurge: 3}, 6, 6, 9},
		{"unavailable 2 no surge", DeployOptions{MaxUnavailable: 2}, 6, 4, 6},
		{"surge 2 unavailable 1", DeployOptions{MaxSurge: 2, MaxUnavailable: 1}, 6, 5, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.start("fw", 15)
			m := newSim(r)
			m.settle(tc.n)
			oldVer := r.s.defLocked().version
			if live, serving := r.versions(); live[oldVer] != tc.n || serving[oldVer] != tc.n {
				t.Fatalf("before: live %v serving %v, want %d of %s", live, serving, tc.n, oldVer)
			}
			if err := r.s.Deploy(r.ctx, r.s.defName, v2Task(), tc.opts); err != nil {
				t.Fatal(err)
			}
			rounds := 0
			for ; rounds < 50; rounds++ {
				m.tick(time.Second)
				live, serving := r.versions()
				if s := sum(serving); s < tc.minServe {
					t.Fatalf("round %d: %d serving (%v), want at least %d", rounds, s, serving, tc.minServe)
				}
				if l := sum(live); l > tc.max {
					t.Fatalf("round %d: %d live (%v), want at most %d", rounds, l, live, tc.max)
				}
				if st, _ := r.s.DeployStatus(r.s.defName); st.State == DeployDone {
					break
				}
			}
			st, err := r.s.DeployStatus(r.s.defName)
			newVer := st.To
			if err != nil || st.State != DeployDone || st.To == oldVer || st.From != oldVer || st.Old != 0 || st.New != tc.n {
				t.Fatalf("after %d rounds: status %+v, %v; want done, %d new of %s", rounds, st, err, tc.n, newVer)
			}
			for _, tk := range r.s.Tasks() {
				if tk.Version != newVer || !slices.Contains(m.args[tk.ID], "--v2") {
					t.Errorf("task %s: version %s args %q, want %s with --v2", tk.ID, tk.Version, m.args[tk.ID], newVer)
				}
			}
			if got := len(r.pool()); got != tc.n {
				t.Errorf("pool has %d backends, want %d", got, tc.n)
			}
		})
	}
}

// TestDeployDesiredIsTotal: the policy's count applies to both versions
// together while a deployment runs.
func TestDeployDesiredIsTotal(t *testing.T) {
	r, m := deployRig(t, nil, 4, DeployOptions{MaxSurge: 1})
	m.tick(time.Second)
	r.setDesired(8) // scale up mid-way: new tasks come from the new template
	for range 3 {
		m.tick(time.Second)
		if live, _ := r.versions(); sum(live) > 9 {
			t.Fatalf("live %v, want at most 8+1", live)
		}
	}
	r.setDesired(3) // and down: old tasks go first
	newVer := r.s.defLocked().version
	_, before := r.versions()
	for i := range 30 {
		m.tick(time.Second)
		live, _ := r.versions()
		if sum(live) > 8+1 {
			t.Fatalf("round %d: live %v after scale-down", i, live)
		}
		if live[newVer] < before[newVer] && sum(live)-live[newVer] > 0 {
			t.Fatalf("round %d: live %v: a new task went while old ones run (before %v)", i, live, before)
		}
		before = live
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || st.New != 3 || st.Old != 0 {
		t.Fatalf("status %+v, want done with 3 new tasks", st)
	}
}

func TestDeployPauseResume(t *testing.T) {
	r, m := deployRig(t, nil, 4, DeployOptions{MaxSurge: 1})
	m.tick(time.Second)
	if err := r.s.PauseDeploy(r.s.defName); err != nil {
		t.Fatal(err)
	}
	st0, _ := r.s.DeployStatus(r.s.defName)
	for range 5 {
		m.tick(time.Second)
	}
	st1, _ := r.s.DeployStatus(r.s.defName)
	if st1.State != DeployPaused || st1.Old != st0.Old || st1.Old == 0 {
		t.Fatalf("paused: status %+v, before %+v: want no old task replaced", st1, st0)
	}
	if err := r.s.PauseDeploy(r.s.defName); !errors.Is(err, ErrNoDeployment) {
		t.Errorf("PauseDeploy twice: %v, want ErrNoDeployment", err)
	}
	if err := r.s.Deploy(r.ctx, r.s.defName, baseConfig(nil).Task, DeployOptions{}); !errors.Is(err, ErrDeploying) {
		t.Errorf("Deploy of a third template while paused: %v, want ErrDeploying", err)
	}
	if err := r.s.Deploy(r.ctx, r.s.defName, v2Task(), DeployOptions{}); err != nil {
		t.Errorf("Deploy of the same template again: %v, want nil (nothing to do)", err)
	}
	if err := r.s.ResumeDeploy(r.s.defName); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		m.tick(time.Second)
	}
	if st, _ := r.s.DeployStatus(r.s.defName); st.State != DeployDone || st.New != 4 {
		t.Fatalf("resumed: status %+v, want done", st)
	}
}

func TestDeployRollbackAsked(t *testing.T) {
	r, m := deployRig(t, nil, 4, DeployOptions{MaxSurge: 1})
	oldVer := r.s.defLocked().deploy.fromVer
	m.tick(time.Second)
	m.tick(time.Second)
	if err := r.s.Rollback(r.ctx, r.s.defName); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		m.tick(time.Second)
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || !st.Rollback || st.To != oldVer || st.New != 4 || st.Old != 0 {
		t.Fatalf("status %+v, want a finished rollback to %s", st, oldVer)
	}
	for _, tk := range r.s.Tasks() {
		if slices.Contains(m.args[tk.ID], "--v2") {
			t.Errorf("task %s runs the rolled-back template", tk.ID)
		}
	}
}

// TestDeployFailingHealthRollsBack: new tasks that never pass their
// health check are counted, killed after HealthTimeout, and after
// MaxFailures the deployment rolls back; no new task ever joins the pool
// and every old one stays in service.
func TestDeployFailingHealthRollsBack(t *testing.T) {
	hc := &HealthCheck{Path: "/"}
	r := newRig(t, func(c *Config) { c.Task.HealthCheck = hc })
	r.start("fw", 15)
	m := newSim(r)
	m.health = func(ti mesos.TaskInfo) bool { return !slices.Contains(ti.GetCommand().GetArguments(), "--v2") }
	m.settle(4)
	oldVer := r.s.defLocked().version
	bad := v2Task()
	bad.HealthCheck = hc
	opts := DeployOptions{MaxSurge: 2, HealthTimeout: 10 * time.Second, MaxFailures: 3}
	if err := r.s.Deploy(r.ctx, r.s.defName, bad, opts); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		m.tick(time.Second)
		_, serving := r.versions()
		if serving[oldVer] != 4 || sum(serving) != 4 {
			t.Fatalf("round %d: serving %v, want the 4 old tasks only", i, serving)
		}
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || !st.Rollback || st.To != oldVer || !strings.Contains(st.Reason, "automatic") {
		t.Fatalf("status %+v, want an automatic rollback to %s, done", st, oldVer)
	}
	if st.New != 4 || st.Old != 0 {
		t.Fatalf("status %+v: want 4 tasks of %s and no other", st, oldVer)
	}
	if !strings.Contains(r.logs.String(), "deployment rolled back") {
		t.Errorf("no 'deployment rolled back' log")
	}
}

// TestDeployFailingStartRollsBack: new tasks that end before serving (a
// broken command) count as failures.
func TestDeployFailingStartRollsBack(t *testing.T) {
	r, m := deployRig(t, nil, 3, DeployOptions{MaxSurge: 1, MaxFailures: 2})
	oldVer := r.s.defLocked().deploy.fromVer
	failed := 0
	for range 200 {
		m.round++
		lo := uint64(20000 + 50*m.round)
		r.offers(offer(fmt.Sprintf("o-%d", m.round), "agent-1", "10.0.0.1", 64, 1<<16, lo, lo+49))
		for _, ti := range launched(r.fc.take()) {
			if slices.Contains(ti.GetCommand().GetArguments(), "--v2") {
				failed++
				r.update(ti.TaskID.Value, mesos.TASK_FAILED, m.next(), nil)
			} else {
				r.update(ti.TaskID.Value, mesos.TASK_RUNNING, m.next(), nil)
			}
		}
		r.step(10 * time.Second) // past relaunch backoff
		r.fc.take()
		if st, _ := r.s.DeployStatus(r.s.defName); st.State == DeployDone {
			break
		}
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || !st.Rollback || st.To != oldVer {
		t.Fatalf("status %+v, want a finished rollback", st)
	}
	if failed != 2 {
		t.Errorf("%d new tasks launched and failed, want exactly MaxFailures = 2", failed)
	}
}

// TestDeploySurvivesRestart: a scheduler stopped mid-deployment and
// started again from its state file finishes the deployment, told
// nothing but its original configuration.
func TestDeploySurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	r, m := deployRig(t, func(c *Config) { c.StateFile = state }, 4, DeployOptions{MaxSurge: 1})
	oldVer := r.s.defLocked().deploy.fromVer
	m.tick(time.Second)
	m.tick(time.Second)
	st0, _ := r.s.DeployStatus(r.s.defName)
	if st0.State != DeployRunning || st0.Old == 0 || st0.New == 0 {
		t.Fatalf("mid-way status %+v, want both versions", st0)
	}
	running := r.s.Tasks()

	// A new scheduler on the same balancer and state file.
	r2 := newRig(t, func(c *Config) { c.StateFile = state; c.Balancer = r.mem })
	r2.mem = r.mem
	st, err := r2.s.DeployStatus(r2.s.defName)
	if err != nil || st.State != DeployRunning || st.From != oldVer || st.To != st0.To {
		t.Fatalf("restored status %+v, %v; want running %s → %s", st, err, oldVer, st0.To)
	}
	r2.start("fw", 15)
	for _, tk := range running {
		if tk.Draining {
			r2.update(tk.ID, mesos.TASK_KILLED, "", nil)
			continue
		}
		r2.update(tk.ID, mesos.TASK_RUNNING, "", nil)
	}
	m2 := newSim(r2)
	m2.round = m.round
	for range 20 {
		m2.tick(time.Second)
	}
	st, _ = r2.s.DeployStatus(r2.s.defName)
	if st.State != DeployDone || st.New != 4 || st.Old != 0 {
		t.Fatalf("after restart: status %+v, want done with 4 new", st)
	}
	for _, tk := range r2.s.Tasks() {
		if tk.Version != st0.To {
			t.Errorf("task %s version %q, want %s", tk.ID, tk.Version, st0.To)
		}
	}
}

// errMem is a Memory whose backends bad names answer every request with
// a 5xx (lb.BackendStats.Errors), as HAProxy's hrsp_5xx reports it.
type errMem struct {
	*lbtest.Memory
	bad func(id string) bool
}

func (e *errMem) Stats(ctx context.Context) (lb.Stats, error) {
	st, err := e.Memory.Stats(ctx)
	for id, bs := range st.Backends {
		if e.bad(id) {
			bs.Errors = bs.Requests
			st.Backends[id] = bs
		}
	}
	return st, err
}

// TestDeployErrorRateRollsBack: a new version that answers 500s (and
// passes its health checks) is rolled back once it served MinRequests,
// is drained at once, and gets a bounded number of requests.
func TestDeployErrorRateRollsBack(t *testing.T) {
	var m *sim
	var em *errMem
	r := newRig(t, func(c *Config) {
		em = &errMem{Memory: c.Balancer.(*lbtest.Memory),
			bad: func(id string) bool { return slices.Contains(m.args[id], "--v2") }}
		c.Balancer = em
	})
	r.start("fw", 15)
	m = newSim(r)
	m.settle(4)
	oldVer := r.s.defLocked().version
	opts := DeployOptions{MaxSurge: 1, ErrorMargin: 0.1, MinRequests: 20, ErrorCheckEvery: time.Second}
	if err := r.s.Deploy(r.ctx, r.s.defName, v2Task(), opts); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		m.tick(time.Second)
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || !st.Rollback || st.To != oldVer || !strings.Contains(st.Reason, "error rate") {
		t.Fatalf("status %+v, want an automatic rollback for the error rate, done", st)
	}
	stats, err := em.Stats(r.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id := range stats.Backends {
		if em.bad(id) {
			t.Errorf("backend %s of the failing version still in the pool", id)
		}
	}
	if !strings.Contains(r.logs.String(), "error rate") {
		t.Errorf("no log of the error rate")
	}
	t.Logf("rolled back: %s", st.Reason)
}

// TestDeployErrorRateSameAsOld: a new version no worse than the old one
// (both fail some requests) is not rolled back.
func TestDeployErrorRateSameAsOld(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Balancer = &errMem{Memory: c.Balancer.(*lbtest.Memory), bad: func(string) bool { return true }}
	})
	r.start("fw", 15)
	m := newSim(r)
	m.settle(4)
	opts := DeployOptions{MaxSurge: 1, ErrorMargin: 0.1, MinRequests: 20, ErrorCheckEvery: time.Second}
	if err := r.s.Deploy(r.ctx, r.s.defName, v2Task(), opts); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		m.tick(time.Second)
	}
	if st, _ := r.s.DeployStatus(r.s.defName); st.State != DeployDone || st.Rollback || st.New != 4 {
		t.Fatalf("status %+v, want the deployment done, not rolled back", st)
	}
}

// TestCanaryWeights: a canary at 10 % gets weights that give it 10 % of
// the traffic, the share holds as the policy scales the service, and
// Promote rolls the rest with every weight back to full.
func TestCanaryWeights(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	m := newSim(r)
	m.settle(10)
	oldVer := r.s.defLocked().version
	if err := r.s.Canary(r.ctx, r.s.defName, v2Task(), CanaryOptions{Percent: 10}); err != nil {
		t.Fatal(err)
	}
	share := func() float64 { // from the balancer's weights
		var all, nw int
		for _, tk := range r.s.Tasks() {
			if !tk.InLB || tk.Draining {
				continue
			}
			w := r.mem.Weight(tk.ID)
			all += w
			if tk.Version != oldVer {
				nw += w
			}
		}
		return float64(nw) / float64(all)
	}
	for _, n := range []int{10, 5, 17, 3} {
		r.setDesired(n)
		for range 8 {
			m.tick(time.Second)
		}
		st, _ := r.s.DeployStatus(r.s.defName)
		if st.State != DeployCanary || st.New != 1 || st.Old != n-1 {
			t.Fatalf("desired %d: status %+v, want a canary of 1 beside %d", n, st, n-1)
		}
		if got := share(); got < 0.095 || got > 0.105 || math.Abs(got-st.Share) > 1e-9 {
			t.Fatalf("desired %d: canary's weight share %.4f (status %.4f), want 0.10", n, got, st.Share)
		}
	}
	if err := r.s.Promote(r.ctx, r.s.defName); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		m.tick(time.Second)
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || st.New != 3 || st.Share != 1 {
		t.Fatalf("promoted: status %+v, want done, 3 new", st)
	}
	for _, tk := range r.s.Tasks() {
		if w := r.mem.Weight(tk.ID); w != 100 {
			t.Errorf("promoted: %s weight %d, want full (100)", tk.ID, w)
		}
	}
	// Memory's counters: every request it served during the rollout is
	// counted for one version or the other, none as an error.
	if st.NewRequests == 0 || st.OldRequests == 0 || st.NewErrors+st.OldErrors != 0 {
		t.Errorf("promoted: counters %+v, want requests of both versions, no 5xx", st)
	}
	if got, want := st.String(), fmt.Sprintf("deployment done %s→%s: 3 new (3 ready), 0 old of 3, 100 %% of the traffic; 5xx: new 0 of %d, old 0 of %d",
		st.From, st.To, st.NewRequests, st.OldRequests); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := r.s.Promote(r.ctx, r.s.defName); !errors.Is(err, ErrNoDeployment) {
		t.Errorf("Promote without a canary: %v, want ErrNoDeployment", err)
	}
}

func TestCanaryAbort(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	m := newSim(r)
	m.settle(4)
	oldVer := r.s.defLocked().version
	if err := r.s.Canary(r.ctx, r.s.defName, v2Task(), CanaryOptions{Percent: 5}); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		m.tick(time.Second)
	}
	if err := r.s.Rollback(r.ctx, r.s.defName); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		m.tick(time.Second)
	}
	st, _ := r.s.DeployStatus(r.s.defName)
	if st.State != DeployDone || !st.Rollback || st.To != oldVer || st.New != 4 || st.Old != 0 {
		t.Fatalf("aborted: status %+v, want 4 tasks of %s", st, oldVer)
	}
	for _, tk := range r.s.Tasks() {
		if w := r.mem.Weight(tk.ID); w != 100 {
			t.Errorf("aborted: %s weight %d, want full (100)", tk.ID, w)
		}
	}
}

func TestCanaryWeightsMath(t *testing.T) {
	for _, tc := range []struct {
		name             string
		share            float64
		nOld, nNew, full int
	}{
		{"10% of 10", 0.10, 9, 1, 100},
		{"10% of 4", 0.10, 3, 1, 100},
		{"5% of 100", 0.05, 99, 1, 100},
		{"90% of 2", 0.90, 1, 1, 100},
		{"1% of 3", 0.01, 2, 1, 100},
		{"50% two canaries", 0.5, 4, 2, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wo, wn := canaryWeights(tc.share, tc.nOld, tc.nNew, tc.full)
			if wo < 1 || wo > 256 || wn < 1 || wn > 256 {
				t.Fatalf("weights %d, %d: out of 1–256", wo, wn)
			}
			got := float64(wn*tc.nNew) / float64(wn*tc.nNew+wo*tc.nOld)
			if math.Abs(got-tc.share) > 0.01 {
				t.Errorf("weights old %d new %d give %.4f, want %.4f ± 0.01", wo, wn, got, tc.share)
			}
		})
	}
}

func TestDeployBadInput(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		service string
		tmpl    TaskTemplate
		opts    DeployOptions
		want    error
	}{
		{"no service", "nope", v2Task(), DeployOptions{}, ErrNoService},
		{"negative surge", r.s.defName, v2Task(), DeployOptions{MaxSurge: -1}, ErrInvalid},
		{"negative unavailable", r.s.defName, v2Task(), DeployOptions{MaxUnavailable: -1}, ErrInvalid},
		{"margin over 1", r.s.defName, v2Task(), DeployOptions{ErrorMargin: 2}, ErrInvalid},
		{"margin NaN", r.s.defName, v2Task(), DeployOptions{ErrorMargin: math.NaN()}, ErrInvalid},
		{"no command", r.s.defName, TaskTemplate{CPUs: 1, Mem: 1}, DeployOptions{}, ErrInvalid},
		{"other name", r.s.defName, TaskTemplate{Name: "x", Command: []string{"a"}, CPUs: 1, Mem: 1}, DeployOptions{}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.s.Deploy(ctx, tc.service, tc.tmpl, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("Deploy: %v, want errors.Is %v", err, tc.want)
			}
			if _, err := r.s.DeployStatus(r.s.defName); !errors.Is(err, ErrNoDeployment) {
				t.Fatalf("DeployStatus after a refused Deploy: %v, want ErrNoDeployment (nothing half-applied)", err)
			}
		})
	}
	for name, f := range map[string]func() error{
		"Canary 0%":    func() error { return r.s.Canary(ctx, r.s.defName, v2Task(), CanaryOptions{}) },
		"Canary 100%":  func() error { return r.s.Canary(ctx, r.s.defName, v2Task(), CanaryOptions{Percent: 100}) },
		"PauseDeploy":  func() error { return r.s.PauseDeploy(r.s.defName) },
		"ResumeDeploy": func() error { return r.s.ResumeDeploy(r.s.defName) },
		"Rollback":     func() error { return r.s.Rollback(ctx, r.s.defName) },
	} {
		want := ErrNoDeployment
		if strings.HasPrefix(name, "Canary") {
			want = ErrInvalid
		}
		if err := f(); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", name, err, want)
		}
	}
}
