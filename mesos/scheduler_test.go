package mesos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/lb"
)

// scaleTo brings a fresh rig to n running tasks in the balancer and
// returns their IDs in launch order.
func (r *rig) scaleTo(n int) []string {
	r.t.Helper()
	r.setDesired(n)
	r.step(0)
	r.fc.take()
	r.offers(offer("o-up", "agent-1", "10.0.0.1", 8, 4096, 31000, 31999))
	tis := launched(r.fc.take())
	if len(tis) != n {
		r.t.Fatalf("launched %d tasks, want %d", len(tis), n)
	}
	for i, ti := range tis {
		r.now = r.now.Add(time.Second) // distinct launch order for "youngest"
		r.s.mu.Lock()
		r.s.defLocked().tasks[ti.TaskID.Value].launched = r.now
		r.s.mu.Unlock()
		r.update(ti.TaskID.Value, mesos.TASK_RUNNING, "u-run-"+string(rune('a'+i)), nil)
	}
	r.step(0)
	r.fc.take()
	return idsOf(tis)
}

func TestScaleUpLaunchesAcksAndSuppresses(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw-1", 15)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"RECONCILE"}) {
		t.Fatalf("calls after SUBSCRIBED = %v, want one implicit RECONCILE", got)
	}
	r.step(0)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"SUPPRESS"}) {
		t.Fatalf("calls with desired 0 = %v, want SUPPRESS", got)
	}

	r.setDesired(2)
	r.step(0)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"REVIVE"}) {
		t.Fatalf("calls after SetDesired(2) = %v, want REVIVE", got)
	}

	r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 1024, 31000, 31005))
	calls := r.fc.take()
	tis := launched(calls)
	if len(tis) != 2 {
		t.Fatalf("launched %v, want 2 tasks from one offer", idsOf(tis))
	}
	for i, ti := range tis {
		cmd := ti.GetCommand()
		if cmd.GetShell() {
			t.Errorf("task %d: shell = true, want an argument vector", i)
		}
		if got, want := cmd.GetArguments(), []string{"/usr/bin/web", "--port", "$PORT0"}; !slices.Equal(got, want) {
			t.Errorf("task %d: arguments %q, want %q (passed through, never expanded)", i, got, want)
		}
		env := map[string]string{}
		for _, v := range cmd.GetEnvironment().GetVariables() {
			env[v.Name] = v.GetValue()
		}
		want := map[string]string{"HOST": "10.0.0.1", "PORT": env["PORT0"]}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("task %d: env %s=%q, want %q", i, k, env[k], v)
			}
		}
		if env["PORT0"] == "" {
			t.Errorf("task %d: no PORT0 in %v", i, env)
		}
	}
	if envPort(tis[0], 0) == envPort(tis[1], 0) {
		t.Errorf("both tasks got port %d", envPort(tis[0], 0))
	}
	if len(ofType(calls, scheduler.Call_DECLINE)) != 0 {
		t.Errorf("declined offers while launching: %v", types(calls))
	}
	r.step(0)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"SUPPRESS"}) {
		t.Fatalf("calls once launched = %v, want SUPPRESS", got)
	}
	if d, run, st := r.status(); d != 2 || run != 0 || st != 2 {
		t.Errorf("status = desired %d running %d starting %d, want 2/0/2", d, run, st)
	}

	// RUNNING with a uuid: acknowledged, then added.
	r.update(tis[0].TaskID.Value, mesos.TASK_RUNNING, "uuid-0001", nil)
	acks := ofType(r.fc.take(), scheduler.Call_ACKNOWLEDGE)
	if len(acks) != 1 || string(acks[0].GetAcknowledge().GetUUID()) != "uuid-0001" ||
		acks[0].GetAcknowledge().GetTaskID().Value != tis[0].TaskID.Value {
		t.Fatalf("acks = %v, want one for %s uuid-0001", acks, tis[0].TaskID.Value)
	}
	// A master-generated update (no uuid) is not acknowledged.
	r.update(tis[1].TaskID.Value, mesos.TASK_RUNNING, "", nil)
	if acks := ofType(r.fc.take(), scheduler.Call_ACKNOWLEDGE); len(acks) != 0 {
		t.Fatalf("acknowledged an update without uuid: %v", acks)
	}
	r.step(0)
	if got, want := r.pool(), sortedCopy(idsOf(tis)); !slices.Equal(got, want) {
		t.Fatalf("pool = %v, want %v", got, want)
	}
	bs, _ := r.mem.Backends(r.ctx)
	for _, b := range bs {
		if b.Addr.Addr().String() != "10.0.0.1" || b.Addr.Port() < 31000 || b.Addr.Port() > 31005 {
			t.Errorf("backend %s: want 10.0.0.1 and a port from the offer", b)
		}
	}
	if d, run, st := r.status(); d != 2 || run != 2 || st != 0 {
		t.Errorf("status = %d/%d/%d, want 2/2/0", d, run, st)
	}
	if n := strings.Count(r.logs.String(), "backend added"); n != 2 {
		t.Errorf("%d 'backend added' log lines, want 2", n)
	}
}

func TestOffersDeclined(t *testing.T) {
	tests := []struct {
		name    string
		desired int
		mod     func(*Config)
		offer   mesos.Offer
		launch  int
	}{
		{"not needed", 0, nil, offer("o", "a", "10.0.0.1", 4, 1024, 31000, 31010), 0},
		{"too little cpu", 1, nil, offer("o", "a", "10.0.0.1", 0.2, 1024, 31000, 31010), 0},
		{"too little mem", 1, nil, offer("o", "a", "10.0.0.1", 4, 32, 31000, 31010), 0},
		{"too few ports", 1, func(c *Config) { c.Task.Ports = 3 }, offer("o", "a", "10.0.0.1", 4, 1024, 31000, 31001), 0},
		{"host cap", 3, func(c *Config) { c.MaxPerHost = 2 }, offer("o", "a", "10.0.0.1", 4, 1024, 31000, 31010), 2},
		{"unresolvable host", 1, func(c *Config) {
			c.Resolve = func(context.Context, string) (netip.Addr, error) { return netip.Addr{}, errors.New("no such host") }
		}, offer("o", "a", "web-7.invalid", 4, 1024, 31000, 31010), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.mod)
			r.start("fw", 15)
			r.setDesired(tc.desired)
			r.step(0)
			r.fc.take()
			r.offers(tc.offer)
			calls := r.fc.take()
			if got := len(launched(calls)); got != tc.launch {
				t.Errorf("launched %d, want %d", got, tc.launch)
			}
			if tc.launch == 0 {
				dec := ofType(calls, scheduler.Call_DECLINE)
				if len(dec) != 1 {
					t.Fatalf("calls %v, want one DECLINE", types(calls))
				}
				if got := dec[0].GetDecline().GetFilters().GetRefuseSeconds(); got != 600 {
					t.Errorf("decline refuse_seconds = %v, want 600 (DeclineFor default)", got)
				}
			}
		})
	}
}

func TestMaxPerHostAcrossOffers(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MaxPerHost = 1 })
	r.start("fw", 15)
	r.setDesired(3)
	r.step(0)
	r.fc.take()
	r.offers(offer("o1", "a1", "10.0.0.1", 4, 1024, 31000, 31010),
		offer("o2", "a1", "10.0.0.1", 4, 1024, 31100, 31110),
		offer("o3", "a2", "10.0.0.2", 4, 1024, 31000, 31010))
	calls := r.fc.take()
	perHost := map[string]int{}
	r.s.mu.Lock()
	for _, t := range r.s.defLocked().tasks {
		perHost[t.host]++
	}
	r.s.mu.Unlock()
	if perHost["10.0.0.1"] != 1 || perHost["10.0.0.2"] != 1 {
		t.Errorf("tasks per host %v, want one on each", perHost)
	}
	if d := ofType(calls, scheduler.Call_DECLINE); len(d) != 1 || d[0].GetDecline().GetOfferIDs()[0].Value != "o2" {
		t.Errorf("declines %v, want o2 only", d)
	}
}

func TestScaleDownDrainsFewestConnectionsFirst(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DrainTimeout = 30 * time.Second })
	r.start("fw", 15)
	ids := r.scaleTo(3)
	r.mem.SetActive(ids[0], 5)
	r.mem.SetActive(ids[1], 0)
	r.mem.SetActive(ids[2], 2)
	// Busy backends stay busy: only ids[1] can go at once.
	r.setDesired(1)
	r.step(0)
	if st := r.mem.State(ids[1]); st != lb.StateUnknown {
		t.Fatalf("%s (0 conns) state %v, want drained, killed and removed at once", ids[1], st)
	}
	if st := r.mem.State(ids[2]); st != lb.StateDraining {
		t.Fatalf("%s (2 conns) state %v, want draining", ids[2], st)
	}
	if st := r.mem.State(ids[0]); st != lb.StateReady {
		t.Fatalf("%s (5 conns) state %v, want ready", ids[0], st)
	}
	kills := ofType(r.fc.take(), scheduler.Call_KILL)
	if len(kills) != 1 || kills[0].GetKill().GetTaskID().Value != ids[1] {
		t.Fatalf("kills = %v, want only the idle %s", kills, ids[1])
	}
	if got, want := r.pool(), sortedCopy([]string{ids[0], ids[2]}); !slices.Equal(got, want) {
		t.Fatalf("pool after idle kill = %v, want %v", got, want)
	}
	// The status page sees the drain.
	want := map[string][2]bool{ // draining, in LB
		ids[0]: {false, true}, ids[1]: {true, false}, ids[2]: {true, true}, // ids[1]: killed, no update yet
	}
	if got := r.s.Tasks(); len(got) != 3 {
		t.Fatalf("Tasks() = %+v, want 3", got)
	}
	for _, tk := range r.s.Tasks() {
		if w := want[tk.ID]; tk.Draining != w[0] || tk.InLB != w[1] || tk.State != "TASK_RUNNING" || tk.Host != "10.0.0.1" {
			t.Errorf("Tasks(): %+v, want draining=%v in LB=%v, running on 10.0.0.1", tk, w[0], w[1])
		}
	}
	// ids[2] goes once idle.
	r.step(time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 0 {
		t.Fatalf("killed %v while it still had connections", k)
	}
	r.mem.SetActive(ids[2], 0)
	r.step(time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 1 || k[0].GetKill().GetTaskID().Value != ids[2] {
		t.Fatalf("kills = %v, want %s once idle", k, ids[2])
	}
	if got := r.pool(); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("pool = %v, want [%s]", got, ids[0])
	}
	// The kills land: nothing is relaunched, offers stay suppressed.
	r.update(ids[1], mesos.TASK_KILLED, "k1", nil)
	r.update(ids[2], mesos.TASK_KILLED, "k2", nil)
	r.step(0)
	calls := r.fc.take()
	if len(ofType(calls, scheduler.Call_REVIVE)) != 0 {
		t.Errorf("revived after a scale-down: %v", types(calls))
	}
	if d, run, st := r.status(); d != 1 || run != 1 || st != 0 {
		t.Errorf("status = %d/%d/%d, want 1/1/0", d, run, st)
	}
}

func TestDrainTimeout(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DrainTimeout = 10 * time.Second })
	r.start("fw", 15)
	ids := r.scaleTo(2)
	r.mem.SetActive(ids[0], 3)
	r.mem.SetActive(ids[1], 3)
	r.setDesired(1)
	r.step(0) // the youngest on a tie: ids[1]
	if st := r.mem.State(ids[1]); st != lb.StateDraining {
		t.Fatalf("victim state %v, want draining", st)
	}
	r.step(9 * time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 0 {
		t.Fatalf("killed before the drain timeout: %v", k)
	}
	r.step(time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 1 || k[0].GetKill().GetTaskID().Value != ids[1] {
		t.Fatalf("kills at the timeout = %v, want %s", k, ids[1])
	}
	// No terminal update: the KILL is sent again later.
	r.step(14 * time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 1 {
		t.Fatalf("kills after 14s without an update = %d, want a retry", len(k))
	}
}

func TestVictimOrders(t *testing.T) {
	tests := []struct {
		name  string
		order VictimOrder
		pick  func(ids []string) string
	}{
		{"youngest", Youngest, func(ids []string) string { return ids[2] }},
		{"oldest", Oldest, func(ids []string) string { return ids[0] }},
		{"fewest connections", FewestConnections, func(ids []string) string { return ids[1] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) { c.Victims = tc.order })
			r.start("fw", 15)
			ids := r.scaleTo(3)
			r.mem.SetActive(ids[0], 4)
			r.mem.SetActive(ids[1], 1)
			r.mem.SetActive(ids[2], 9)
			r.setDesired(2)
			r.step(0)
			var draining []string
			for _, id := range ids {
				if r.mem.State(id) == lb.StateDraining {
					draining = append(draining, id)
				}
			}
			if want := tc.pick(ids); !slices.Equal(draining, []string{want}) {
				t.Errorf("draining %v, want [%s]", draining, want)
			}
		})
	}
}

func TestStartingTasksAreFirstVictims(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	ids := r.scaleTo(2)
	r.setDesired(3)
	r.step(0)
	r.fc.take()
	r.offers(offer("o2", "agent-1", "10.0.0.1", 4, 1024, 31500, 31510))
	extra := idsOf(launched(r.fc.take()))
	r.setDesired(2)
	r.step(0)
	kills := ofType(r.fc.take(), scheduler.Call_KILL)
	if len(kills) != 1 || kills[0].GetKill().GetTaskID().Value != extra[0] {
		t.Fatalf("kills = %v, want the staging task %v", kills, extra)
	}
	for _, id := range ids {
		if r.mem.State(id) != lb.StateReady {
			t.Errorf("serving %s was touched: %v", id, r.mem.State(id))
		}
	}
}

func TestUnexpectedDeathRemovesAndReplaces(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	ids := r.scaleTo(2)
	r.update(ids[0], mesos.TASK_FAILED, "u-fail", nil)
	if a := ofType(r.fc.take(), scheduler.Call_ACKNOWLEDGE); len(a) != 1 {
		t.Fatalf("TASK_FAILED not acknowledged")
	}
	r.step(0)
	if got := r.pool(); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("pool = %v, want the dead task gone at once", got)
	}
	if got := types(r.fc.take()); !slices.Equal(got, []string{"REVIVE"}) {
		t.Fatalf("calls = %v, want REVIVE for the replacement", got)
	}
	r.offers(offer("o-r", "agent-1", "10.0.0.1", 4, 1024, 31500, 31510))
	if n := len(launched(r.fc.take())); n != 1 {
		t.Fatalf("launched %d replacements, want 1", n)
	}
	if !strings.Contains(r.logs.String(), "task ended unexpectedly") {
		t.Errorf("no log line for the unexpected death")
	}
}

func TestHealthCheckGatesMembership(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.Task.Ports = 2
		c.Task.HealthCheck = &HealthCheck{Path: "/healthz", PortIndex: 1, Interval: time.Second}
	})
	r.start("fw", 15)
	r.setDesired(1)
	r.step(0)
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	tis := launched(r.fc.take())
	if len(tis) != 1 {
		t.Fatalf("launched %d", len(tis))
	}
	hc := tis[0].GetHealthCheck()
	if hc.GetType() != mesos.HealthCheck_HTTP || hc.GetHTTP().GetPath() != "/healthz" ||
		uint64(hc.GetHTTP().GetPort()) != envPort(tis[0], 1) {
		t.Fatalf("health check %v, want HTTP /healthz on PORT1 %d", hc, envPort(tis[0], 1))
	}
	id := tis[0].TaskID.Value
	yes, no := true, false
	steps := []struct {
		name    string
		healthy *bool
		inPool  bool
	}{
		{"running, not checked yet", nil, false},
		{"healthy", &yes, true},
		{"unhealthy", &no, false},
		{"healthy again", &yes, true},
	}
	for _, st := range steps {
		r.update(id, mesos.TASK_RUNNING, "u-"+st.name, st.healthy)
		r.step(0)
		if got := len(r.pool()) == 1; got != st.inPool {
			t.Fatalf("%s: in pool %v, want %v", st.name, got, st.inPool)
		}
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	r := newRig(t, func(c *Config) { c.SlowStart = 10 * time.Second; c.Weight = 100 })
	r.start("fw", 15)
	ids := r.scaleTo(1)
	id := ids[0]
	want := []struct {
		after time.Duration
		w     int
	}{{0, 10}, {5 * time.Second, 50}, {4 * time.Second, 90}, {time.Second, 100}, {10 * time.Second, 100}}
	for _, st := range want {
		r.step(st.after)
		if got := r.mem.Weight(id); got != st.w {
			t.Fatalf("weight after +%s = %d, want %d", st.after, got, st.w)
		}
	}
}

func TestReconciliationGatesLaunches(t *testing.T) {
	r := newRig(t, func(c *Config) { c.ReconcileTimeout = 5 * time.Second })
	// A task from the state file the master has not answered for yet.
	r.s.defLocked().known["web.old"] = savedTask{ID: "web.old", AgentID: "agent-1", Addr: mustAP("10.0.0.1:31000")}
	r.setDesired(1)
	r.start("fw", 15)
	calls := r.fc.take()
	rec := ofType(calls, scheduler.Call_RECONCILE)
	if len(rec) != 2 || len(rec[0].GetReconcile().GetTasks()) != 1 || len(rec[1].GetReconcile().GetTasks()) != 0 {
		t.Fatalf("reconcile calls %v, want explicit [web.old] then implicit", rec)
	}
	r.step(time.Second)
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	if n := len(launched(r.fc.take())); n != 0 {
		t.Fatalf("launched %d before reconciliation ended", n)
	}
	// The master answers: the old task runs. It is adopted, not relaunched.
	r.update("web.old", mesos.TASK_RUNNING, "", nil)
	r.step(0)
	if got := r.pool(); !slices.Equal(got, []string{"web.old"}) {
		t.Fatalf("pool = %v, want the adopted task", got)
	}
	r.offers(offer("o2", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	if n := len(launched(r.fc.take())); n != 0 {
		t.Fatalf("launched %d with the desired task adopted", n)
	}
}

func TestReconcileTimeoutEndsGate(t *testing.T) {
	r := newRig(t, func(c *Config) { c.ReconcileTimeout = 5 * time.Second })
	r.s.defLocked().known["web.silent"] = savedTask{ID: "web.silent", Addr: mustAP("10.0.0.1:31000")}
	r.setDesired(1)
	r.start("fw", 15)
	r.step(4 * time.Second)
	if r.s.reconciled {
		t.Fatalf("reconciled before the timeout")
	}
	r.step(time.Second)
	if !r.s.reconciled {
		t.Fatalf("not reconciled at the timeout")
	}
	if got := types(r.fc.take()); !slices.Contains(got, "REVIVE") {
		t.Errorf("calls %v, want REVIVE after the gate opened", got)
	}
	// A replacement launches; then the master answers late: the old task
	// runs. It is adopted (not killed as a stranger) and the surplus is
	// drained like any scale-down.
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31100, 31110))
	repl := idsOf(launched(r.fc.take()))
	if len(repl) != 1 {
		t.Fatalf("launched %v, want one replacement", repl)
	}
	r.update(repl[0], mesos.TASK_RUNNING, "u1", nil)
	r.update("web.silent", mesos.TASK_RUNNING, "", nil)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 0 {
		t.Fatalf("killed %v: a late-answered task of ours is not a stranger", k)
	}
	r.step(0)
	r.step(0)
	if got := len(r.pool()); got != 1 {
		t.Errorf("pool %v after the surplus scale-down, want 1 backend", r.pool())
	}
	if got := len(ofType(r.fc.take(), scheduler.Call_KILL)); got != 1 {
		t.Errorf("%d KILLs, want 1 for the surplus task", got)
	}
}

func TestUnknownTaskKilled(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	r.step(0)
	r.fc.take()
	r.update("stranger.1", mesos.TASK_RUNNING, "u-s", nil)
	calls := r.fc.take()
	if k := ofType(calls, scheduler.Call_KILL); len(k) != 1 || k[0].GetKill().GetTaskID().Value != "stranger.1" {
		t.Fatalf("calls %v, want a KILL of the unknown task", types(calls))
	}
	if a := ofType(calls, scheduler.Call_ACKNOWLEDGE); len(a) != 1 {
		t.Fatalf("update of an unknown task not acknowledged")
	}
}

func TestHeartbeatWatchdog(t *testing.T) {
	r := newRig(t, func(c *Config) { c.MissedHeartbeats = 3 })
	r.start("fw", 2) // heartbeat every 2s: silence over 6s drops the stream
	cancelled := false
	r.s.mu.Lock()
	r.s.subCancel = func() { cancelled = true }
	r.s.mu.Unlock()
	r.step(5 * time.Second)
	if cancelled {
		t.Fatalf("dropped the subscription after 5s of silence")
	}
	r.event(&scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	r.step(5 * time.Second)
	if cancelled {
		t.Fatalf("dropped the subscription although a heartbeat came 5s ago")
	}
	r.step(2 * time.Second)
	if !cancelled {
		t.Fatalf("subscription kept after 7s of silence (limit 6s)")
	}
	if r.s.Connected() {
		t.Errorf("still connected after the watchdog fired")
	}
}

func TestLaunchTimeout(t *testing.T) {
	r := newRig(t, func(c *Config) { c.LaunchTimeout = time.Minute })
	r.start("fw", 15)
	r.setDesired(1)
	r.step(0)
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	id := idsOf(launched(r.fc.take()))[0]
	r.step(61 * time.Second)
	calls := r.fc.take()
	if k := ofType(calls, scheduler.Call_KILL); len(k) != 1 || k[0].GetKill().GetTaskID().Value != id {
		t.Fatalf("calls %v, want a KILL of the stuck task", types(calls))
	}
	if !slices.Contains(types(calls), "REVIVE") {
		t.Errorf("calls %v, want REVIVE for its replacement", types(calls))
	}
}

func TestSetDesiredRejectsNegative(t *testing.T) {
	r := newRig(t, nil)
	if err := r.s.SetDesired(r.ctx, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetDesired(-1) = %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.s.SetDesired(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("SetDesired on a done ctx = %v, want context.Canceled", err)
	}
	if _, err := r.s.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Status on a done ctx = %v, want context.Canceled", err)
	}
}

func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	r := newRig(t, func(c *Config) { c.StateFile = path })
	r.start("fw-42", 15)
	ids := r.scaleTo(2)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range append([]string{`"framework_id": "fw-42"`, `"desired": 2`}, ids...) {
		if !strings.Contains(string(b), want) {
			t.Errorf("state file lacks %s:\n%s", want, b)
		}
	}
	// A second scheduler on the same file re-subscribes as fw-42.
	r2 := newRig(t, func(c *Config) { c.StateFile = path })
	if got := r2.s.FrameworkID(); got != "fw-42" {
		t.Fatalf("restarted FrameworkID = %q, want fw-42", got)
	}
	if d, _, _ := r2.status(); d != 2 {
		t.Fatalf("restarted desired = %d, want 2", d)
	}
	if len(r2.s.defLocked().known) != 2 {
		t.Fatalf("restarted scheduler knows %d task addresses, want 2", len(r2.s.defLocked().known))
	}
}

func TestCorruptStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(nil)
	cfg.Balancer = newRig(t, nil).mem
	cfg.StateFile = path
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("New with a corrupt state file = %v, want an error naming it", err)
	}
}

func TestRunTwice(t *testing.T) {
	cfg := baseConfig(newRig(t, nil).mem)
	cfg.ReconnectMin, cfg.Masters = time.Hour, []string{"http://127.0.0.1:1"}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !s.running.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Every goroutine Run started (converge loop, registration tokens,
	// HTTP connections) ends with it.
	eventually(t, 5*time.Second, "goroutines back to the baseline", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before Run", n, before)
	})
}

// TestDeclineRacingRevive: an offer declined (count 0) while the count goes
// up and a REVIVE goes out may reach the master after the REVIVE, leaving
// its long filter in force. The scheduler REVIVEs again after such a
// DECLINE, and only then.
func TestDeclineRacingRevive(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw", 15)
	r.step(0)
	r.fc.take() // RECONCILE, SUPPRESS
	r.fc.during = func(c *scheduler.Call) {
		if c.GetType() == scheduler.Call_DECLINE {
			r.fc.during = nil
			r.setDesired(1)
			r.s.converge(r.ctx, r.now) // sends REVIVE before the DECLINE lands
		}
	}
	r.offers(offer("o", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	if got := types(r.fc.take()); !slices.Equal(got, []string{"DECLINE", "REVIVE"}) {
		t.Fatalf("calls = %v, want DECLINE racing a REVIVE", got)
	}
	r.step(0)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"REVIVE"}) {
		t.Fatalf("calls after the racing DECLINE = %v, want a second REVIVE", got)
	}
	// An offer that does not fit, with no REVIVE racing: declined, and no
	// REVIVE follows (the offer would come straight back).
	r.offers(offer("o2", "agent-1", "10.0.0.1", 0.1, 1024, 31000, 31010))
	r.step(0)
	if got := types(r.fc.take()); !slices.Equal(got, []string{"DECLINE"}) {
		t.Fatalf("calls after declining a small offer = %v, want DECLINE only", got)
	}
}

func TestStateFileNotWritable(t *testing.T) {
	cfg := baseConfig(newRig(t, nil).mem)
	cfg.StateFile = filepath.Join(t.TempDir(), "no", "such", "dir", "state.json")
	_, err := New(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "StateFile") {
		t.Fatalf("New with an unwritable state file = %v, want an error naming StateFile", err)
	}
}

func TestRelaunchBackoff(t *testing.T) {
	r := newRig(t, func(c *Config) { c.RelaunchBackoff = 2 * time.Second; c.RelaunchBackoffMax = 5 * time.Second })
	r.start("fw", 15)
	r.setDesired(1)
	r.step(0)
	r.fc.take()
	n := 0
	// launch launches one task from a fresh offer and fails it at once.
	launchAndFail := func() {
		t.Helper()
		n++
		r.offers(offer(fmt.Sprint("o", n), "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
		ids := idsOf(launched(r.fc.take()))
		if len(ids) != 1 {
			t.Fatalf("launch %d: launched %v, want 1 task", n, ids)
		}
		r.update(ids[0], mesos.TASK_FAILED, fmt.Sprint("f", n), nil)
		r.step(0)
		r.fc.take()
	}
	// expectHeld checks that offers are declined for d, then used again.
	expectHeld := func(d time.Duration) {
		t.Helper()
		if d > 0 {
			r.offers(offer("held", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
			if got := len(launched(r.fc.take())); got != 0 {
				t.Fatalf("launched during the %s hold", d)
			}
			r.step(d - time.Millisecond)
			if got := types(r.fc.take()); slices.Contains(got, "REVIVE") {
				t.Fatalf("revived before the %s hold ended: %v", d, got)
			}
			r.step(time.Millisecond)
			if got := types(r.fc.take()); !slices.Contains(got, "REVIVE") {
				t.Fatalf("no REVIVE when the %s hold ended: %v", d, got)
			}
		}
	}
	launchAndFail() // first failure: relaunch at once
	expectHeld(0)
	launchAndFail() // second in a row: 2s
	expectHeld(2 * time.Second)
	launchAndFail() // third: 4s
	expectHeld(4 * time.Second)
	launchAndFail() // fourth: capped at 5s
	expectHeld(5 * time.Second)
	// A task that serves for RelaunchBackoffMax ends the streak.
	r.offers(offer("ok", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	good := idsOf(launched(r.fc.take()))[0]
	r.update(good, mesos.TASK_RUNNING, "run", nil)
	r.step(0)
	r.step(5 * time.Second) // served for RelaunchBackoffMax: proven
	r.update(good, mesos.TASK_FAILED, "crash", nil)
	r.step(0)
	r.fc.take()
	r.offers(offer("again", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	if got := len(launched(r.fc.take())); got != 1 {
		t.Fatalf("a served task's crash held launches back: launched %d", got)
	}
}
