package mesos

import (
	"errors"
	"strings"

	"context"
	"fmt"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/mesos/local/batch"
)

// webReserved sums the dynamic reservations for role on the cluster, as
// the master's state lists them (local.Cluster.Reservations).
func webReserved(c *local.Cluster, role string) (cpus, mem float64, principals map[string]bool) {
	principals = map[string]bool{}
	for _, r := range c.Reservations() {
		if r.Role == role {
			cpus += r.CPUs
			mem += r.Mem
			principals[r.Principal] = true
		}
	}
	return cpus, mem, principals
}

// runBatch runs b against c until the test ends.
func runBatch(t *testing.T, c *local.Cluster, b *batch.Framework) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, c.URL()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("batch framework: %v", err)
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) < 0.001 }

// TestLocalReserveMin runs the farm (role "web", Min 2) beside a batch
// framework (role "batch", 5-second tasks) that fills mesos/local: 2
// agents × 1 cpu, every task 0.25 cpus, so 8 slots, no quota.
//
// With ReserveMin 2 the farm's first ACCEPT reserves 2 tasks' worth
// (0.5 cpus, 64 MiB) for "web" with its principal (RESERVE before LAUNCH,
// in the pre-refinement format: the scheduler does not declare
// RESERVATION_REFINEMENT) and launches its tasks on it: the batch
// framework then fills the other 6 slots, which it could not if the
// reservation sat idle beside the farm's tasks. Both farm tasks are then
// killed: the freed resources are reserved, so the master offers them to
// "web" only (mesos/local Cluster.allocate, as
// HierarchicalAllocatorProcess::__allocate: reserved resources are
// allocatable to their role only), and the farm is back at 2 within 3 s
// (stated time). Without ReserveMin the batch framework may take the
// freed slots first (the farm is suppressed when the tasks die) and the
// farm waits for batch tasks to end; both times are logged.
//
// Lowering ReserveMin to 1 (UpdateService; Min and the count go to 1)
// releases 1 task's worth once its task has ended (UNRESERVE of what the
// master offers back), and the batch framework runs 7 within 5 s; Stop
// releases the rest, and the batch framework runs 8.
func TestLocalReserveMin(t *testing.T) {
	const (
		slotCPUs = 0.25
		slotMem  = 32
		stated   = 3 * time.Second
	)
	for _, reserve := range []bool{true, false} {
		name := "reserve"
		if !reserve {
			name = "no reserve"
		}
		t.Run(name, func(t *testing.T) {
			c := startCluster(t, func(lc *local.Config) { lc.CPUs, lc.Mem = 1, 1024 })
			mem := lbtest.NewMemory()
			cfg := localConfig(t, c, mem)
			cfg.Role, cfg.Principal = "web", "webfarm"
			cfg.Task.CPUs, cfg.Task.Mem = slotCPUs, slotMem
			cfg.InitialCount = 2
			if reserve {
				cfg.ReserveMin = 2
			}
			f := startFarm(t, cfg)
			ctx := context.Background()
			farmRunning := func() int {
				st, _ := f.s.Status(ctx)
				return st.Running
			}
			eventually(t, 30*time.Second, "the farm at 2 tasks", func() (bool, string) {
				return farmRunning() == 2, fmt.Sprintf("%d running", farmRunning())
			})
			cpus, memMiB, principals := webReserved(c, "web")
			if reserve {
				if !near(cpus, 2*slotCPUs) || !near(memMiB, 2*slotMem) || len(principals) != 1 || !principals["webfarm"] {
					t.Fatalf("reserved for web: %.3f cpus %.0f MiB by %v; want 0.5 cpus 64 MiB by webfarm", cpus, memMiB, principals)
				}
				if gc, gm := f.s.Reserved(); !near(gc, cpus) || !near(gm, memMiB) {
					t.Errorf("Scheduler.Reserved = %.3f cpus %.0f MiB; the cluster has %.3f, %.0f", gc, gm, cpus, memMiB)
				}
			} else if cpus != 0 || memMiB != 0 {
				t.Fatalf("reserved for web without ReserveMin: %.3f cpus %.0f MiB", cpus, memMiB)
			}

			b := &batch.Framework{Role: "batch", CPUs: slotCPUs, Mem: slotMem, TaskTime: 5 * time.Second}
			runBatch(t, c, b)
			// 6 = the farm's tasks run on its reservation, not beside it.
			eventually(t, 30*time.Second, "the batch framework on the 6 other slots", func() (bool, string) {
				return b.Running() == 6, fmt.Sprintf("batch %d running", b.Running())
			})

			// Kill the farm's tasks while the cluster is full.
			fid := f.s.FrameworkID()
			start := time.Now()
			for _, tk := range f.s.Tasks() {
				if err := c.KillTaskProcess(ctx, fid, tk.ID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			limit := 30 * time.Second
			if reserve {
				limit = stated
			}
			eventually(t, 2*time.Second, "the farm noticing its tasks died", func() (bool, string) {
				return farmRunning() < 2, fmt.Sprintf("farm %d running", farmRunning())
			})
			eventually(t, limit, "the farm back at 2 tasks", func() (bool, string) {
				return farmRunning() == 2, fmt.Sprintf("farm %d running, batch %d", farmRunning(), b.Running())
			})
			regain := time.Since(start)
			t.Logf("%s: farm back at Min (2) %v after its tasks were killed in a full cluster (batch running %d)",
				name, regain.Round(10*time.Millisecond), b.Running())
			if !reserve {
				return
			}
			if cpus, memMiB, _ := webReserved(c, "web"); !near(cpus, 2*slotCPUs) || !near(memMiB, 2*slotMem) {
				t.Errorf("reserved for web after the relaunch: %.3f cpus %.0f MiB; want 0.5, 64 (no new reservation)", cpus, memMiB)
			}

			// Min drops to 1: one task's worth is released to the batch framework.
			start = time.Now()
			sc := cfg.serviceConfig()
			sc.ReserveMin = 1
			if err := f.s.UpdateService(ctx, sc); err != nil {
				t.Fatal(err)
			}
			if err := f.s.SetDesired(ctx, 1); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "one task's worth reserved", func() (bool, string) {
				cpus, memMiB, _ := webReserved(c, "web")
				return near(cpus, slotCPUs) && near(memMiB, slotMem), fmt.Sprintf("%.3f cpus %.0f MiB reserved", cpus, memMiB)
			})
			eventually(t, 5*time.Second, "the batch framework on the released slot", func() (bool, string) {
				return b.Running() == 7, fmt.Sprintf("batch %d running", b.Running())
			})
			t.Logf("Min 2→1: reservation released and used by batch %v later", time.Since(start).Round(10*time.Millisecond))

			// Stop releases the rest.
			start = time.Now()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := f.s.Stop(sctx, StopOptions{}); err != nil {
				t.Fatal(err)
			}
			if cpus, memMiB, _ := webReserved(c, "web"); cpus != 0 || memMiB != 0 {
				t.Errorf("reserved for web after Stop: %.3f cpus %.0f MiB", cpus, memMiB)
			}
			if gc, gm := f.s.Reserved(); gc != 0 || gm != 0 {
				t.Errorf("Scheduler.Reserved after Stop = %.3f, %.0f", gc, gm)
			}
			eventually(t, 5*time.Second, "the batch framework on all 8 slots", func() (bool, string) {
				return b.Running() == 8, fmt.Sprintf("batch %d running", b.Running())
			})
			t.Logf("Stop: reservations released and all 8 slots used by batch %v later", time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// TestReserveMinConfig: ReserveMin needs a role of the framework's own
// (a reservation for "*" is invalid: resource::validate in
// src/master/validation.cpp) and may not be negative, on Config, in
// Config.Services and in AddService/UpdateService.
func TestReserveMinConfig(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"no role", func(c *Config) { c.ReserveMin = 2 }, "ReserveMin"},
		{"star role", func(c *Config) { c.Role, c.ReserveMin = "*", 2 }, "ReserveMin"},
		{"negative", func(c *Config) { c.Role, c.ReserveMin = "web", -1 }, "ReserveMin"},
		{"service without role", func(c *Config) {
			c.Services = []ServiceConfig{{Name: "api", Task: c.Task, Balancer: lbtest.NewMemory(), ReserveMin: 1}}
		}, "Service api ReserveMin"},
		{"ok", func(c *Config) { c.Role, c.ReserveMin = "web", 2 }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(lbtest.NewMemory())
			tc.mod(&cfg)
			_, err := New(ctx, cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "mesos: "+tc.field+" ") {
				t.Fatalf("New = %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
	s, err := New(ctx, baseConfig(lbtest.NewMemory()))
	if err != nil {
		t.Fatal(err)
	}
	sc := ServiceConfig{Name: "api", Task: baseConfig(nil).Task, Balancer: lbtest.NewMemory(), ReserveMin: 1}
	if _, err := s.AddService(ctx, sc); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ReserveMin") {
		t.Fatalf("AddService with ReserveMin and no role = %v", err)
	}
	sc.ReserveMin = 0
	if _, err := s.AddService(ctx, sc); err != nil {
		t.Fatal(err)
	}
	sc.ReserveMin = 3
	if err := s.UpdateService(ctx, sc); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateService with ReserveMin and no role = %v", err)
	}
}

// TestReserveShapes checks the RESERVE and UNRESERVE the scheduler sends
// against include/mesos/v1/mesos.proto (Offer.Operation.Reserve and
// Unreserve carry the resources; Resource.reservations with one
// ReservationInfo{type DYNAMIC, role, principal} in the post-refinement
// format, Resource.role + Resource.reservation{principal} in the older
// one) and docs/reservation.md, in both formats: the pre-refinement one
// by default, the refinement one when the framework declares
// RESERVATION_REFINEMENT. The pool keeps reservations first.
func TestReserveShapes(t *testing.T) {
	for _, refine := range []bool{false, true} {
		cfg := baseConfig(lbtest.NewMemory())
		cfg.Role, cfg.Principal, cfg.ReserveMin = "web", "ops", 2
		cfg.Task.CPUs, cfg.Task.Mem = 0.25, 32
		s, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if refine {
			s.fw.Capabilities = append(s.fw.Capabilities, mesos.FrameworkInfo_Capability{Type: mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT})
		}
		o := &mesos.Offer{AgentID: mesos.AgentID{Value: "S1"}, Hostname: "h", Resources: []mesos.Resource{
			{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1}},
			{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 1024}},
		}}
		s.mu.Lock()
		p := newPool(o, s.cfg.Role)
		ops := s.reservationOpsLocked(o, p, true)
		s.mu.Unlock()
		if len(ops) != 1 || ops[0].Type != mesos.Offer_Operation_RESERVE || ops[0].Reserve == nil {
			t.Fatalf("refinement %v: ops = %v, want one RESERVE", refine, ops)
		}
		var cpus, memMiB float64
		for _, r := range ops[0].Reserve.Resources {
			if refine {
				if r.Role != nil || r.Reservation != nil || len(r.Reservations) != 1 || !ours(&r) ||
					r.Reservations[0].GetType() != mesos.Resource_ReservationInfo_DYNAMIC ||
					r.Reservations[0].GetRole() != "web" || r.Reservations[0].GetPrincipal() != "ops" {
					t.Errorf("refinement: reserved resource %v", r)
				}
			} else if r.GetRole() != "web" || r.Reservation.GetPrincipal() != "ops" || len(r.Reservations) != 0 || !ours(&r) {
				t.Errorf("pre-refinement: reserved resource %v", r)
			}
			switch r.Name {
			case "cpus":
				cpus += r.Scalar.Value
			case "mem":
				memMiB += r.Scalar.Value
			}
		}
		if !near(cpus, 0.5) || !near(memMiB, 64) {
			t.Errorf("refinement %v: reserved %.3f cpus %.0f MiB, want 0.5, 64", refine, cpus, memMiB)
		}
		if !isReserved(&p.cpus[0]) || !isReserved(&p.mem[0]) {
			t.Errorf("refinement %v: the pool does not list reservations first: %v", refine, p.cpus)
		}
		if c, m := s.Reserved(); !near(c, 0.5) || !near(m, 64) {
			t.Errorf("Reserved = %.3f, %.0f", c, m)
		}

		// Min drops to 0: the reservations come back in an offer (as
		// the master offers them: the framework's format) and are
		// unreserved; nothing more is reserved.
		def := s.def()
		s.mu.Lock()
		def.cfg.ReserveMin = 0
		o.Resources = append([]mesos.Resource(nil), ops[0].Reserve.Resources...)
		p = newPool(o, s.cfg.Role)
		ops = s.reservationOpsLocked(o, p, true)
		s.mu.Unlock()
		if len(ops) != 1 || ops[0].Type != mesos.Offer_Operation_UNRESERVE || ops[0].Unreserve == nil {
			t.Fatalf("refinement %v: ops = %v, want one UNRESERVE", refine, ops)
		}
		for _, r := range ops[0].Unreserve.Resources {
			if !isReserved(&r) {
				t.Errorf("UNRESERVE of an unreserved resource %v", r)
			}
		}
		if c, m := s.Reserved(); c != 0 || m != 0 {
			t.Errorf("Reserved after UNRESERVE = %.3f, %.0f", c, m)
		}
		if isReserved(&p.cpus[len(p.cpus)-1]) {
			t.Errorf("the pool does not list the unreserved resources: %v", p.cpus)
		}

		// An operator's reservation for the role (no ReservationLabel) is
		// used but never released.
		s.mu.Lock()
		op := o.Resources[0]
		op.Reservation, op.Reservations = nil, nil
		if refine {
			op.Role = nil
			op.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto("web"), Principal: proto("operator")}}
		} else {
			op.Reservation = &mesos.Resource_ReservationInfo{Principal: proto("operator")}
		}
		o.Resources = []mesos.Resource{op}
		p = newPool(o, s.cfg.Role)
		ops = s.reservationOpsLocked(o, p, false)
		s.mu.Unlock()
		if len(ops) != 0 || len(p.cpus) != 1 {
			t.Errorf("refinement %v: an operator's reservation: ops %v, pool %v", refine, ops, p.cpus)
		}
		if c, m := s.Reserved(); c != 0 || m != 0 {
			t.Errorf("Reserved counts an operator's reservation: %.3f, %.0f", c, m)
		}
	}
}

// TestReserveTarget: a removed service's ReserveMin no longer counts, nor
// does any after Stop; an agent's FAILURE with no executor (the master
// removing an agent sends LostSlaveMessage, a FAILURE event with only
// agent_id in the v1 API: src/master/master.cpp, Master::__removeSlave;
// mesos/local StopAgent does the same) drops its reservations from the
// count.
func TestReserveTarget(t *testing.T) {
	ctx := context.Background()
	cfg := baseConfig(lbtest.NewMemory())
	cfg.Role, cfg.ReserveMin = "web", 2
	cfg.Task.CPUs, cfg.Task.Mem = 0.25, 32
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc := ServiceConfig{Name: "api", Task: TaskTemplate{Command: []string{"/srv/api"}, CPUs: 1, Mem: 100}, Balancer: lbtest.NewMemory(), ReserveMin: 3}
	if _, err := s.AddService(ctx, sc); err != nil {
		t.Fatal(err)
	}
	target := func() quant {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.reserveTargetLocked()
	}
	if q := target(); !near(q.cpus, 0.5+3) || !near(q.mem, 64+300) {
		t.Fatalf("target = %+v, want 3.5 cpus 364 MiB", q)
	}
	s.mu.Lock()
	s.services["api"].removing = true
	s.resvLocked().perAgent["S1"] = quant{3.5, 364}
	excess := s.reserveExcessLocked()
	s.mu.Unlock()
	if q := target(); !near(q.cpus, 0.5) || !near(q.mem, 64) || !excess {
		t.Errorf("with api removed: target = %+v, excess %v; want 0.5 cpus 64 MiB and excess", q, excess)
	}
	s.releaseReservations()
	if q := target(); q.positive() {
		t.Errorf("after Stop: target = %+v, want 0", q)
	}
	s.agentFailed("S1")
	if c, m := s.Reserved(); c != 0 || m != 0 || s.reserveExcess() {
		t.Errorf("after S1 failed: Reserved = %.3f, %.0f", c, m)
	}
}
