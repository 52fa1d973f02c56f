package mesos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// noResume hides Memory's Resume: a balancer without [lb.Resumer].
type noResume struct{ lb.Balancer }

func (n noResume) ActiveConns(ctx context.Context, id string) (int, error) {
	return lb.ActiveConns(ctx, n.Balancer, id)
}

// states returns the balancer states of ids, in order.
func (r *rig) states(ids ...string) string {
	var out []string
	for _, id := range ids {
		out = append(out, r.mem.State(id).String())
	}
	return strings.Join(out, " ")
}

func (r *rig) draining() []string {
	var out []string
	for _, tk := range r.s.Tasks() {
		if tk.Draining {
			out = append(out, tk.ID)
		}
	}
	slices.Sort(out)
	return out
}

func TestScaleUpResumesDrainingVictims(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DrainTimeout = time.Minute })
	r.start("fw", 15)
	ids := r.scaleTo(3)
	for _, id := range ids {
		r.mem.SetActive(id, 1) // busy: drains are held open
	}
	r.setDesired(1)
	r.step(0)
	if got := r.draining(); len(got) != 2 {
		t.Fatalf("after 3→1: draining %v, want 2 victims", got)
	}
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 0 {
		t.Fatalf("killed %v with every drain held open", k)
	}
	r.step(10 * time.Second)
	r.setDesired(3)
	// An offer that arrives before the converge loop runs must not launch:
	// the victims cover the whole shortfall.
	r.offers(offer("o-early", "agent-1", "10.0.0.1", 8, 4096, 31000, 31999))
	if l := launched(r.fc.take()); len(l) != 0 {
		t.Fatalf("launched %v with two resumable victims", idsOf(l))
	}
	r.step(time.Second)
	if got := r.states(ids...); got != "ready ready ready" {
		t.Fatalf("after 1→3 states %q, want all ready", got)
	}
	if got := r.draining(); len(got) != 0 {
		t.Fatalf("after 1→3 draining %v, want none", got)
	}
	// Their drains would have ended by now: no kill may follow.
	for _, id := range ids {
		r.mem.SetActive(id, 0)
	}
	r.step(2 * time.Minute)
	calls := r.fc.take()
	if k := ofType(calls, scheduler.Call_KILL); len(k) != 0 {
		t.Fatalf("killed %v after they were resumed", k)
	}
	if len(ofType(calls, scheduler.Call_REVIVE)) != 0 {
		t.Errorf("revived offers with the count met: %v", types(calls))
	}
	r.offers(offer("o-late", "agent-1", "10.0.0.1", 8, 4096, 31000, 31999))
	if l := launched(r.fc.take()); len(l) != 0 {
		t.Fatalf("launched %v with 3 of 3 running", idsOf(l))
	}
	if d, run, st := r.status(); d != 3 || run != 3 || st != 0 {
		t.Errorf("status desired %d running %d starting %d, want 3 3 0", d, run, st)
	}
	if !strings.Contains(r.logs.String(), "backend resumed") {
		t.Errorf("log lacks \"backend resumed\":\n%s", r.logs)
	}
}

func TestScaleUpResumesNewestDrainFirst(t *testing.T) {
	r := newRig(t, func(c *Config) { c.DrainTimeout = time.Minute })
	r.start("fw", 15)
	ids := r.scaleTo(3)
	for _, id := range ids {
		r.mem.SetActive(id, 1)
	}
	r.setDesired(2)
	r.step(0)
	first := r.draining()
	r.setDesired(1)
	r.step(5 * time.Second)
	both := r.draining()
	if len(first) != 1 || len(both) != 2 {
		t.Fatalf("draining %v then %v, want one then two", first, both)
	}
	second := both[0]
	if second == first[0] {
		second = both[1]
	}
	r.setDesired(2) // one back: the one drained last
	r.step(time.Second)
	if got := r.draining(); !slices.Equal(got, first) {
		t.Fatalf("after 1→2 draining %v, want the first victim %v still draining (%s resumed)", got, first, second)
	}
	if st := r.mem.State(second); st != lb.StateReady {
		t.Errorf("newest victim %s state %s, want ready", second, st)
	}
	if st := r.mem.State(first[0]); st != lb.StateDraining {
		t.Errorf("older victim %s state %s, want draining", first[0], st)
	}
	// The older victim's drain goes on and ends in a kill.
	r.mem.SetActive(first[0], 0)
	r.step(time.Second)
	if k := ofType(r.fc.take(), scheduler.Call_KILL); len(k) != 1 || k[0].GetKill().GetTaskID().Value != first[0] {
		t.Fatalf("kills %v, want %s only", k, first[0])
	}
}

func TestScaleUpWithoutResumerLaunches(t *testing.T) {
	r := newRig(t, func(c *Config) {
		c.DrainTimeout = time.Minute
		c.Balancer = noResume{c.Balancer}
	})
	r.start("fw", 15)
	ids := r.scaleTo(3)
	for _, id := range ids {
		r.mem.SetActive(id, 1)
	}
	r.setDesired(1)
	r.step(0)
	victims := r.draining()
	r.setDesired(3)
	r.step(time.Second)
	if got := r.draining(); !slices.Equal(got, victims) || len(got) != 2 {
		t.Fatalf("draining %v after 1→3 without a Resumer, want the victims %v still draining", got, victims)
	}
	r.fc.take()
	r.offers(offer("o-more", "agent-1", "10.0.0.1", 8, 4096, 31000, 31999))
	if l := launched(r.fc.take()); len(l) != 2 {
		t.Fatalf("launched %v, want 2 new tasks", idsOf(l))
	}
	for _, id := range victims {
		r.mem.SetActive(id, 0)
	}
	r.step(time.Second)
	kills := ofType(r.fc.take(), scheduler.Call_KILL)
	var killed []string
	for _, k := range kills {
		killed = append(killed, k.GetKill().GetTaskID().Value)
	}
	slices.Sort(killed)
	if !slices.Equal(killed, victims) {
		t.Fatalf("killed %v, want the victims %v", killed, victims)
	}
}

// A victim not yet in the balancer (killed before it served) needs no
// Resumer; one whose kill was sent, or that stopped running, is never
// resumed.
func TestResumableVictims(t *testing.T) {
	healthy, sick := true, false
	tests := []struct {
		name      string
		resumer   bool
		task      task
		resumable bool
	}{
		{"draining with resumer", true, task{inLB: true, drainStart: t0}, true},
		{"draining without resumer", false, task{inLB: true, drainStart: t0}, false},
		{"not in balancer without resumer", false, task{}, true},
		{"kill sent", true, task{inLB: true, drainStart: t0, killSent: t0}, false},
		{"gone", true, task{inLB: true, gone: true}, false},
		{"launch timed out", true, task{reason: "launch timed out"}, false},
		{"adopted draining after restart", true, task{inLB: true, reason: "scale-down resumed after restart"}, true},
		{"unhealthy", true, task{inLB: true, healthy: &sick}, false},
		{"healthy", true, task{inLB: true, healthy: &healthy}, true},
		{"staging", true, task{state: mesos.TASK_STAGING}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, func(c *Config) {
				if !tc.resumer {
					c.Balancer = noResume{c.Balancer}
				}
			})
			tk := tc.task
			tk.id, tk.victim = "web.x", true
			if tk.reason == "" {
				tk.reason = reasonScaleDown
			}
			if tk.state == 0 && !tk.gone {
				tk.state = mesos.TASK_RUNNING
			}
			r.s.mu.Lock()
			got := r.s.defLocked().resumableLocked(&tk)
			r.s.mu.Unlock()
			if got != tc.resumable {
				t.Errorf("resumable = %v, want %v (%+v)", got, tc.resumable, tk)
			}
		})
	}
}

// TestLocalScaleUpResumesDraining scales 3→1 with the drains held open
// (connections in flight), then 1→3 before they end. With a Resumer the
// two victims are ready again in the balancer, still running in Mesos, and
// nothing is launched; without one two new tasks are launched and the
// victims are killed once drained.
func TestLocalScaleUpResumesDraining(t *testing.T) {
	tests := []struct {
		name    string
		resumer bool
	}{
		{"resumer puts victims back", true},
		{"no resumer launches new tasks", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, nil)
			mem := lbtest.NewMemory()
			cfg := localConfig(t, c, mem)
			cfg.DrainTimeout = time.Minute // only the test ends a drain
			if !tc.resumer {
				cfg.Balancer = noResume{mem}
			}
			f := startFarmMem(t, cfg, mem)
			ctx := context.Background()
			ids, victims := scaleDownHeld(t, f, c, mem)
			fw := f.s.FrameworkID()
			if err := f.s.SetDesired(ctx, 3); err != nil {
				t.Fatal(err)
			}
			if tc.resumer {
				eventually(t, 10*time.Second, "victims back in service", func() (bool, string) { return f.settled(c, 3) })
				if got := allTaskIDs(c, fw); !slices.Equal(got, ids) {
					t.Fatalf("Mesos saw tasks %v, want only the original %v: nothing launched", got, ids)
				}
				if m := mesosTasks(c, fw); !slices.Equal(m["TASK_RUNNING"], ids) || len(m) != 1 {
					t.Fatalf("Mesos states %v, want %v running", m, ids)
				}
				// The held drains end; no kill follows.
				for _, id := range ids {
					mem.SetActive(id, 0)
				}
				f.get(t)
				if m := mesosTasks(c, fw); !slices.Equal(m["TASK_RUNNING"], ids) || len(m) != 1 {
					t.Fatalf("Mesos states %v after the drains would have ended, want %v running", m, ids)
				}
				return
			}
			eventually(t, 30*time.Second, "2 new tasks launched", func() (bool, string) {
				got := allTaskIDs(c, fw)
				return len(got) == 5, fmt.Sprint(got)
			})
			for _, id := range victims {
				if st := mem.State(id); st != lb.StateDraining {
					t.Errorf("victim %s state %s while its drain is held, want draining", id, st)
				}
				mem.SetActive(id, 0)
			}
			eventually(t, 30*time.Second, "3 tasks, victims killed", func() (bool, string) {
				ok, st := f.settled(c, 3)
				m := mesosTasks(c, fw)
				return ok && slices.Equal(m["TASK_KILLED"], victims), st + fmt.Sprint(m)
			})
		})
	}
}
