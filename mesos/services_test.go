package mesos

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// apiService is a second service for the rig's farm (whose default
// service is "webfarm"): a bigger task on its own balancer.
func apiService(mem *lbtest.Memory) ServiceConfig {
	return ServiceConfig{
		Name:     "api",
		Task:     TaskTemplate{Command: []string{"/usr/bin/api"}, CPUs: 1, Mem: 128},
		Balancer: mem,
	}
}

// newFarmRig is a rig whose farm runs the default service "webfarm" and
// "api" (on apiMem).
func newFarmRig(t *testing.T, mod func(*Config)) (*rig, *lbtest.Memory) {
	t.Helper()
	apiMem := lbtest.NewMemory()
	r := newRig(t, func(c *Config) {
		c.Services = []ServiceConfig{apiService(apiMem)}
		if mod != nil {
			mod(c)
		}
	})
	return r, apiMem
}

func (r *rig) service(name string) *Service {
	r.t.Helper()
	h, err := r.s.Service(name)
	if err != nil {
		r.t.Fatalf("Service(%q): %v", name, err)
	}
	return h
}

// byService counts launched tasks by the service their ID names, and
// checks each carries its service's label.
func byService(t *testing.T, tis []mesos.TaskInfo) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, ti := range tis {
		name, _, ok := strings.Cut(ti.TaskID.Value, ".")
		if !ok {
			t.Fatalf("task ID %q has no service prefix", ti.TaskID.Value)
		}
		var label string
		for _, l := range ti.GetLabels().GetLabels() {
			if l.Key == ServiceLabel {
				label = l.GetValue()
			}
		}
		if label != name {
			t.Errorf("task %s: label %s = %q, want %q", ti.TaskID.Value, ServiceLabel, label, name)
		}
		out[name]++
	}
	return out
}

func TestServicesShareOneOffer(t *testing.T) {
	r, _ := newFarmRig(t, nil)
	r.start("fw-1", 15)
	r.setDesired(2)
	if err := r.service("api").SetDesired(r.ctx, 3); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	// 2×(0.5 cpu, 64 MiB) + 3×(1 cpu, 128 MiB) = 4 cpus, 512 MiB.
	r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 512, 31000, 31010))
	calls := r.fc.take()
	if n := len(ofType(calls, scheduler.Call_ACCEPT)); n != 1 {
		t.Fatalf("%d ACCEPT calls, want 1 for the one offer (calls %v)", n, types(calls))
	}
	tis := launched(calls)
	got := byService(t, tis)
	if got["webfarm"] != 2 || got["api"] != 3 {
		t.Fatalf("launched %v, want webfarm 2 and api 3 from one offer", got)
	}
	for _, ti := range tis {
		if strings.HasPrefix(ti.TaskID.Value, "api.") {
			if args := ti.GetCommand().GetArguments(); !slices.Equal(args, []string{"/usr/bin/api"}) {
				t.Errorf("api task %s runs %q, want its own template", ti.TaskID.Value, args)
			}
		}
	}
	if st, _ := r.service("api").Status(r.ctx); st.Desired != 3 || st.Starting != 3 {
		t.Errorf("api status = %+v, want desired 3, starting 3", st)
	}
	if d, _, starting := r.status(); d != 2 || starting != 2 {
		t.Errorf("default service status = desired %d starting %d, want 2 and 2", d, starting)
	}
}

// A short cluster is shared in proportion to the desired counts: the
// service furthest below its count, as a fraction of it, goes first.
func TestServicesShortClusterShared(t *testing.T) {
	r, _ := newFarmRig(t, func(c *Config) {
		c.Services[0].Task.CPUs, c.Services[0].Task.Mem = 0.5, 64 // same size as webfarm's
	})
	r.start("fw-1", 15)
	r.setDesired(6)
	if err := r.service("api").SetDesired(r.ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o1", "agent-1", "10.0.0.1", 2, 4096, 31000, 31999)) // 4 tasks of 8 fit
	got := byService(t, launched(r.fc.take()))
	if got["webfarm"] != 3 || got["api"] != 1 {
		t.Fatalf("one offer for 4 of 8 tasks launched %v, want webfarm 3 and api 1 (half of each count)", got)
	}
}

// A service with a small count is not starved by one with a large count
// when offers fit one task each.
func TestServicesNoStarvation(t *testing.T) {
	r, _ := newFarmRig(t, func(c *Config) {
		c.Services[0].Task.CPUs, c.Services[0].Task.Mem = 0.5, 64
	})
	r.start("fw-1", 15)
	r.setDesired(100)
	if err := r.service("api").SetDesired(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	total := map[string]int{}
	for i := range 3 {
		r.offers(offer(fmt.Sprintf("o%d", i), fmt.Sprintf("agent-%d", i), "10.0.0.1", 0.5, 64, 31000, 31999))
		for k, v := range byService(t, launched(r.fc.take())) {
			total[k] += v
		}
	}
	if total["api"] != 1 || total["webfarm"] != 2 {
		t.Fatalf("3 one-task offers launched %v, want api 1 (its whole count) and webfarm 2", total)
	}
}

func TestRemoveServiceDrainsAndKills(t *testing.T) {
	r, apiMem := newFarmRig(t, nil)
	r.start("fw-1", 15)
	web := r.scaleTo(1)
	api := r.service("api")
	if err := api.SetDesired(r.ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o-api", "agent-1", "10.0.0.1", 4, 1024, 32000, 32010))
	tis := launched(r.fc.take())
	if got := byService(t, tis); got["api"] != 2 || len(got) != 1 {
		t.Fatalf("launched %v, want 2 api tasks", got)
	}
	for i, ti := range tis {
		r.update(ti.TaskID.Value, mesos.TASK_RUNNING, fmt.Sprintf("u-api-%d", i), nil)
	}
	r.step(0)
	r.fc.take()
	if bs, _ := apiMem.Backends(r.ctx); len(bs) != 2 {
		t.Fatalf("api pool has %d backends, want 2", len(bs))
	}
	if got := r.pool(); !slices.Equal(got, web) {
		t.Fatalf("webfarm pool = %v, want %v only", got, web)
	}

	done := make(chan error, 1)
	go func() { done <- r.s.RemoveService(r.ctx, "api") }()
	waitFor(t, func() bool { return !slices.Contains(r.s.Services(), "api") })
	if _, err := api.Status(r.ctx); !errors.Is(err, ErrNoService) {
		t.Fatalf("Status of a service being removed = %v, want ErrNoService", err)
	}
	r.step(0) // drained at once (no connections) and killed
	r.step(time.Second)
	kills := ofType(r.fc.take(), scheduler.Call_KILL)
	var killed []string
	for _, k := range kills {
		killed = append(killed, k.GetKill().GetTaskID().Value)
	}
	slices.Sort(killed)
	if want := sortedCopy(idsOf(tis)); !slices.Equal(killed, want) {
		t.Fatalf("killed %v, want the api tasks %v only", killed, want)
	}
	if bs, _ := apiMem.Backends(r.ctx); len(bs) != 0 {
		t.Fatalf("api pool after the kills = %v, want empty", bs)
	}
	select {
	case err := <-done:
		t.Fatalf("RemoveService returned %v before its tasks ended", err)
	default:
	}
	for i, ti := range tis {
		r.update(ti.TaskID.Value, mesos.TASK_KILLED, fmt.Sprintf("u-kill-%d", i), nil)
	}
	r.step(0)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RemoveService = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RemoveService did not return once the tasks ended")
	}
	if got := r.pool(); !slices.Equal(got, web) {
		t.Fatalf("webfarm pool after removing api = %v, want %v", got, web)
	}
	if err := r.s.RemoveService(r.ctx, "api"); !errors.Is(err, ErrNoService) {
		t.Fatalf("RemoveService of a removed service = %v, want ErrNoService", err)
	}
	// The name is free again.
	if _, err := r.s.AddService(r.ctx, apiService(lbtest.NewMemory())); err != nil {
		t.Fatalf("AddService after removal: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAddServiceAtRunTime(t *testing.T) {
	r := newRig(t, nil)
	r.start("fw-1", 15)
	r.step(0)
	r.fc.take()
	mem := lbtest.NewMemory()
	h, err := r.s.AddService(r.ctx, apiService(mem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.AddService(r.ctx, apiService(lbtest.NewMemory())); !errors.Is(err, ErrServiceExists) {
		t.Fatalf("second AddService(api) = %v, want ErrServiceExists", err)
	}
	other := apiService(mem)
	other.Name = "other"
	if _, err := r.s.AddService(r.ctx, other); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "already used by service api") {
		t.Fatalf("AddService sharing api's balancer = %v, want ErrInvalid naming api", err)
	}
	if err := h.SetDesired(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	if got := types(r.fc.take()); !slices.Contains(got, "REVIVE") {
		t.Fatalf("calls after api wants 1 = %v, want a REVIVE", got)
	}
	// A changed template applies to the next launch.
	up := apiService(mem)
	up.Task.Command = []string{"/usr/bin/api-v2"}
	if err := r.s.UpdateService(r.ctx, up); err != nil {
		t.Fatal(err)
	}
	up.Balancer = lbtest.NewMemory()
	if err := r.s.UpdateService(r.ctx, up); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateService with a new balancer = %v, want ErrInvalid", err)
	}
	r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	tis := launched(r.fc.take())
	if len(tis) != 1 || !slices.Equal(tis[0].GetCommand().GetArguments(), []string{"/usr/bin/api-v2"}) {
		t.Fatalf("launched %v, want one api task running /usr/bin/api-v2", idsOf(tis))
	}
}

func TestServiceConfigInvalid(t *testing.T) {
	mem := lbtest.NewMemory()
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"duplicate name", func(c *Config) {
			c.Services = []ServiceConfig{apiService(lbtest.NewMemory()), apiService(lbtest.NewMemory())}
		}, `Services "api": service name used twice`},
		{"default's name", func(c *Config) {
			s := apiService(lbtest.NewMemory())
			s.Name = "webfarm"
			c.Services = []ServiceConfig{s}
		}, `Services "webfarm": service name used twice`},
		{"shared balancer", func(c *Config) {
			c.Balancer = mem
			c.Services = []ServiceConfig{apiService(mem)}
		}, "Service api Balancer"},
		{"no balancer", func(c *Config) {
			c.Services = []ServiceConfig{apiService(nil)}
		}, "Service api Balancer"},
		{"task name", func(c *Config) {
			s := apiService(lbtest.NewMemory())
			s.Task.Name = "other"
			c.Services = []ServiceConfig{s}
		}, "Service api Task.Name"},
		{"bad name", func(c *Config) {
			s := apiService(lbtest.NewMemory())
			s.Name = "a b"
			c.Services = []ServiceConfig{s}
		}, `Service.Name "a b"`},
		{"bad task", func(c *Config) {
			s := apiService(lbtest.NewMemory())
			s.Task.CPUs = 0
			c.Services = []ServiceConfig{s}
		}, "service api: mesos: Task.CPUs 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(lbtest.NewMemory())
			tc.mod(&cfg)
			_, err := New(context.Background(), cfg)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
	// Services only: no default service.
	cfg := baseConfig(nil)
	cfg.Task = TaskTemplate{}
	cfg.Services = []ServiceConfig{apiService(mem)}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New with Services only: %v", err)
	}
	if err := s.SetDesired(context.Background(), 1); !errors.Is(err, ErrNoService) {
		t.Fatalf("SetDesired without a default service = %v, want ErrNoService", err)
	}
	if got := s.Services(); !slices.Equal(got, []string{"api"}) {
		t.Fatalf("Services() = %v, want [api]", got)
	}
}

// After a restart each service adopts its own tasks from the state file;
// a task of a service not added again is killed.
func TestServicesRestartPerService(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	apiMem := lbtest.NewMemory()
	withState := func(c *Config) {
		c.StateFile = path
		c.Services = []ServiceConfig{apiService(apiMem)}
	}
	r := newRig(t, withState)
	r.start("fw-7", 15)
	web := r.scaleTo(1)
	if err := r.service("api").SetDesired(r.ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o-api", "agent-2", "10.0.0.2", 4, 1024, 32000, 32010))
	api := idsOf(launched(r.fc.take()))
	for i, id := range api {
		r.update(id, mesos.TASK_RUNNING, fmt.Sprintf("u-api-%d", i), nil)
	}
	r.step(0)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"services"`) || !strings.Contains(string(b), api[0]) {
		t.Fatalf("state file lacks the api service's tasks:\n%s", b)
	}

	// Restart with both services: every task is adopted by its service.
	r2 := newRig(t, func(c *Config) {
		withState(c)
		c.Balancer = r.mem
	})
	r2.start("fw-7", 15)
	r2.fc.take()
	for i, id := range append(slices.Clone(web), api...) {
		r2.update(id, mesos.TASK_RUNNING, fmt.Sprintf("u2-%d", i), nil)
	}
	r2.step(0)
	if kills := ofType(r2.fc.take(), scheduler.Call_KILL); len(kills) != 0 {
		t.Fatalf("restart killed %d tasks, want none", len(kills))
	}
	if st, _ := r2.service("api").Status(r2.ctx); st.Desired != 2 || st.Running != 2 {
		t.Fatalf("api after restart = %+v, want desired 2, running 2", st)
	}
	if d, running, _ := r2.status(); d != 1 || running != 1 {
		t.Fatalf("webfarm after restart = desired %d running %d, want 1 and 1", d, running)
	}
	for _, tk := range r2.s.Tasks() {
		if want, _, _ := strings.Cut(tk.ID, "."); tk.Service != want {
			t.Errorf("task %s: Service %q, want %q", tk.ID, tk.Service, want)
		}
	}

	// Restart with api added through AddService before Run: the same.
	rAdd := newRig(t, func(c *Config) {
		c.StateFile = path
		c.Balancer = r.mem
	})
	if _, err := rAdd.s.AddService(rAdd.ctx, apiService(apiMem)); err != nil {
		t.Fatal(err)
	}
	rAdd.start("fw-7", 15)
	rAdd.fc.take()
	for i, id := range append(slices.Clone(web), api...) {
		rAdd.update(id, mesos.TASK_RUNNING, fmt.Sprintf("uA-%d", i), nil)
	}
	rAdd.step(0)
	if kills := ofType(rAdd.fc.take(), scheduler.Call_KILL); len(kills) != 0 {
		t.Fatalf("restart with AddService before Run killed %d tasks, want none", len(kills))
	}
	if st, _ := rAdd.service("api").Status(rAdd.ctx); st.Desired != 2 || st.Running != 2 {
		t.Fatalf("api added before Run after restart = %+v, want desired 2, running 2", st)
	}

	// Restart without api: its tasks are killed, webfarm's adopted.
	r3 := newRig(t, func(c *Config) {
		c.StateFile = path
		c.Balancer = r.mem
	})
	r3.start("fw-7", 15)
	r3.fc.take()
	for i, id := range append(slices.Clone(web), api...) {
		r3.update(id, mesos.TASK_RUNNING, fmt.Sprintf("u3-%d", i), nil)
	}
	var killed []string
	for _, k := range ofType(r3.fc.take(), scheduler.Call_KILL) {
		killed = append(killed, k.GetKill().GetTaskID().Value)
	}
	if want := sortedCopy(api); !slices.Equal(sortedCopy(killed), want) {
		t.Fatalf("restart without api killed %v, want %v", killed, want)
	}
}

// Pool repair works per service: a backend lost from one service's
// balancer is re-added there, a stale entry of that service is removed,
// and an entry in a service's pool that carries another service's task-ID
// form is left alone (it is not that service's to clean).
func TestServicesPoolRepairPerService(t *testing.T) {
	r, apiMem := newFarmRig(t, func(c *Config) { c.PoolSyncInterval = time.Second })
	r.start("fw-1", 15)
	web := r.scaleTo(1)
	if err := r.service("api").SetDesired(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o-api", "agent-1", "10.0.0.1", 4, 1024, 32000, 32010))
	api := idsOf(launched(r.fc.take()))
	r.update(api[0], mesos.TASK_RUNNING, "u-api", nil)
	r.step(0)

	if err := apiMem.Remove(r.ctx, api[0]); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ id, addr string }{
		{"api.00000000deadbeef", "10.0.0.9:31999"},     // stale, api's
		{"webfarm.00000000cafef00d", "10.0.0.9:31998"}, // webfarm's form, in api's pool
	} {
		if err := apiMem.Add(r.ctx, lbBackend(b.id, b.addr)); err != nil {
			t.Fatal(err)
		}
	}
	r.step(time.Second)
	bs, _ := apiMem.Backends(r.ctx)
	var got []string
	for _, b := range bs {
		got = append(got, b.ID)
	}
	slices.Sort(got)
	if want := sortedCopy([]string{api[0], "webfarm.00000000cafef00d"}); !slices.Equal(got, want) {
		t.Fatalf("api pool after repair = %v, want %v", got, want)
	}
	if got := r.pool(); !slices.Equal(got, web) {
		t.Fatalf("webfarm pool = %v, want %v untouched", got, web)
	}
}

// blockingAdd is a balancer whose Add waits for release: a driver stuck on
// a slow HAProxy.
type blockingAdd struct {
	*lbtest.Memory
	release chan struct{}
}

func (b blockingAdd) Add(ctx context.Context, be lb.Backend) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Memory.Add(ctx, be)
}

// Services converge side by side: one whose balancer hangs does not keep
// another's serving task out of its pool.
func TestServicesConvergeApart(t *testing.T) {
	stuck := blockingAdd{Memory: lbtest.NewMemory(), release: make(chan struct{})}
	r := newRig(t, func(c *Config) {
		api := apiService(nil)
		api.Balancer = stuck
		c.Services = []ServiceConfig{api} // "api" converges before "webfarm" in name order
	})
	released := false
	t.Cleanup(func() {
		if !released { // a failed test must not leave converge stuck
			close(stuck.release)
		}
	})
	r.start("fw-1", 15)
	r.setDesired(1)
	if err := r.service("api").SetDesired(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	tis := launched(r.fc.take())
	if len(tis) != 2 {
		t.Fatalf("launched %v, want one task of each service", idsOf(tis))
	}
	for i, ti := range tis {
		r.update(ti.TaskID.Value, mesos.TASK_RUNNING, fmt.Sprintf("u-%d", i), nil)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.s.converge(r.ctx, r.now)
	}()
	waitFor(t, func() bool { return len(r.pool()) == 1 })
	select {
	case <-done:
		t.Fatal("converge ended while api's balancer was stuck in Add")
	default:
	}
	close(stuck.release)
	released = true
	<-done
	if bs, _ := stuck.Backends(r.ctx); len(bs) != 1 {
		t.Fatalf("api pool after the release = %v, want its task", bs)
	}
}

// A health check added by UpdateService applies to tasks launched from
// then on: the running ones (which Mesos does not check) stay in the pool.
func TestUpdateServiceHealthCheckKeepsRunningTasks(t *testing.T) {
	r, apiMem := newFarmRig(t, nil)
	r.start("fw-1", 15)
	api := r.service("api")
	if err := api.SetDesired(r.ctx, 1); err != nil {
		t.Fatal(err)
	}
	r.step(0)
	r.fc.take()
	r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	first := idsOf(launched(r.fc.take()))
	r.update(first[0], mesos.TASK_RUNNING, "u-1", nil)
	r.step(0)

	up := apiService(apiMem)
	up.Task.HealthCheck = &HealthCheck{Path: "/healthz"}
	if err := r.s.UpdateService(r.ctx, up); err != nil {
		t.Fatal(err)
	}
	if err := api.SetDesired(r.ctx, 2); err != nil {
		t.Fatal(err)
	}
	r.step(time.Second)
	r.fc.take()
	r.offers(offer("o2", "agent-1", "10.0.0.1", 4, 1024, 31000, 31010))
	second := launched(r.fc.take())
	if len(second) != 1 || second[0].GetHealthCheck() == nil {
		t.Fatalf("launched %v, want one task with the new health check", idsOf(second))
	}
	r.update(second[0].TaskID.Value, mesos.TASK_RUNNING, "u-2", nil) // running, health not yet known
	r.step(time.Second)
	pool := func() []string {
		bs, _ := apiMem.Backends(r.ctx)
		var ids []string
		for _, b := range bs {
			ids = append(ids, b.ID)
		}
		return ids
	}
	if got := pool(); !slices.Equal(got, first) {
		t.Fatalf("api pool = %v, want only the task launched before the check, %v", got, first)
	}
	healthy := true
	r.update(second[0].TaskID.Value, mesos.TASK_RUNNING, "u-3", &healthy)
	r.step(time.Second)
	if got := sortedCopy(pool()); !slices.Equal(got, sortedCopy(append(slices.Clone(first), second[0].TaskID.Value))) {
		t.Fatalf("api pool once the new task is healthy = %v, want both", got)
	}
}
