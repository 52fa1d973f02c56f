package mesos

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
)

// TestLocalServicesHAProxy runs a farm of three services in one framework
// on mesos/local behind one real HAProxy (one backend per service, routed
// by path), each under its own bounded load. The services have different
// membership policies (victim order, drain timeout, slow start) and are
// scaled independently, one after the other and at once; the scheduler
// is restarted mid-way. No request may fail, and the restarted scheduler
// must adopt every task: nothing launched, nothing killed.
func TestLocalServicesHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy, mesos/local and task processes")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	ctx := context.Background()
	names := []string{"web", "api", "static"} // "web" is the default service (webTask's name)
	p := haproxyproc.StartTest(t, haproxyproc.Config{Routes: names[1:], Logger: testLogger(t).With("side", "haproxy")})
	bals := map[string]*haproxy.Balancer{}
	for _, name := range names {
		backend := name
		if name == "web" {
			backend = p.Backend()
		}
		b, err := haproxy.New(ctx, haproxy.Config{Socket: p.Socket(), Backend: backend,
			Logger: testLogger(t).With("side", "driver", "service", name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		bals[name] = b
	}

	c := startCluster(t, nil)
	state := filepath.Join(t.TempDir(), "state.json")
	hc := &HealthCheck{Path: "/", Interval: 200 * time.Millisecond, Timeout: time.Second}
	config := func() Config {
		cfg := localConfig(t, c, nil)
		cfg.StateFile = state
		cfg.Balancer = bals["web"]
		cfg.Task.HealthCheck = hc
		cfg.Victims = Oldest
		cfg.DrainTimeout = 3 * time.Second
		api, static := webTask(t), webTask(t)
		api.Name, static.Name = "", ""
		api.CPUs, api.HealthCheck = 0.2, hc
		cfg.Services = []ServiceConfig{
			{Name: "api", Task: api, Balancer: bals["api"], Victims: Youngest, SlowStart: time.Second},
			{Name: "static", Task: static, Balancer: bals["static"], DrainTimeout: 2 * time.Second, MaxPerAgent: 2},
		}
		return cfg
	}
	f := startFarmMem(t, config(), nil)

	target := func(s *Scheduler, name string) scaler.Runner { return serviceRunner(t, s, name) }
	scale := func(s *Scheduler, want map[string]int) {
		t.Helper()
		for name, n := range want {
			if err := target(s, name).SetDesired(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 60*time.Second, fmt.Sprintf("services at %v", want), servicesSettled(ctx, t, c, s, names, bals, want))
	}

	scale(f.s, map[string]int{"web": 2, "api": 1, "static": 1})
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loads := map[string]*loadgen.Load{}
	for _, name := range names {
		url := p.URL() // the default backend
		if name != "web" {
			url += name + "/"
		}
		loads[name] = loadgen.Start(loadCtx, loadgen.Config{URL: url, Rate: 40, Concurrency: 4,
			Duration: 3 * time.Minute, MaxRequests: 20000})
	}
	// progress waits until every load served n more requests than at the
	// last call: each step below runs under load.
	last := map[string]int64{}
	progress := func(n int64) {
		t.Helper()
		eventually(t, 10*time.Second, fmt.Sprintf("every load %d requests further", n), func() (bool, string) {
			ok, msg := true, ""
			for _, name := range names {
				r := loads[name].Snapshot()
				ok = ok && r.OK >= last[name]+n
				msg += fmt.Sprintf("%s: %v; ", name, r)
			}
			return ok, msg
		})
		for _, name := range names {
			last[name] = loads[name].Snapshot().OK
		}
	}
	progress(20)

	// Each service on its own, then all at once in different directions.
	for _, want := range []map[string]int{
		{"web": 2, "api": 3, "static": 1},
		{"web": 1, "api": 3, "static": 2},
		{"web": 3, "api": 1, "static": 3},
	} {
		scale(f.s, want)
		progress(20)
	}

	// Restart the scheduler: the new one adopts every task.
	before := allTaskIDs(c, f.s.FrameworkID())
	f.stop()
	f2 := startFarmMem(t, config(), nil)
	eventually(t, 30*time.Second, "restarted scheduler reconciled", func() (bool, string) {
		return f2.s.reconciledNow(), "not reconciled"
	})
	want := map[string]int{"web": 3, "api": 1, "static": 3}
	eventually(t, 30*time.Second, "restarted farm as before", servicesSettled(ctx, t, c, f2.s, names, bals, want))
	if got := allTaskIDs(c, f2.s.FrameworkID()); !slices.Equal(got, before) {
		t.Fatalf("Mesos tasks after the restart %v, want the same %v: nothing launched or killed", got, before)
	}
	// And it goes on scaling each service.
	progress(20)
	scale(f2.s, map[string]int{"web": 2, "api": 2, "static": 1})
	progress(20)

	stopLoad()
	for _, name := range names {
		r, err := loads[name].Wait()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("load on %s: %v", name, r)
		if r.Failed > 0 || r.OK == 0 {
			t.Errorf("service %s: %d requests failed (%d ok): %v", name, r.Failed, r.OK, r.Errors)
		}
	}
}

// serviceRunner returns the runner of service name on s: s itself for the default
// service "web" (the one-service API), else its handle.
func serviceRunner(t *testing.T, s *Scheduler, name string) scaler.Runner {
	t.Helper()
	if name == "web" {
		return s
	}
	h, err := s.Service(name)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// servicesSettled checks every service of names: its status, its HAProxy
// backend and Mesos agree on want[name] running tasks.
func servicesSettled(ctx context.Context, t *testing.T, c *local.Cluster, s *Scheduler, names []string,
	bals map[string]*haproxy.Balancer, want map[string]int) func() (bool, string) {
	return func() (bool, string) {
		running := mesosTasks(c, s.FrameworkID())["TASK_RUNNING"]
		ok, msg := true, ""
		for _, name := range names {
			st, err := serviceRunner(t, s, name).Status(ctx)
			bs, berr := bals[name].Backends(ctx)
			var ids []string
			for _, b := range bs {
				ids = append(ids, b.ID)
			}
			slices.Sort(ids)
			var inMesos []string
			for _, id := range running {
				if owner, _, _ := cutLast(id); owner == name {
					inMesos = append(inMesos, id)
				}
			}
			good := err == nil && berr == nil && st == (scaler.Status{Desired: want[name], Running: want[name]}) &&
				slices.Equal(ids, inMesos) && len(ids) == want[name]
			ok = ok && good
			msg += fmt.Sprintf("%s: status %+v haproxy %v mesos %v; ", name, st, ids, inMesos)
		}
		return ok, msg
	}
}

// cutLast splits a task ID into its service name and its random part.
func cutLast(id string) (name, rest string, ok bool) {
	for i := len(id) - 1; i >= 0; i-- {
		if id[i] == '.' {
			return id[:i], id[i+1:], true
		}
	}
	return "", id, false
}
