package mesos_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
)

// A farm on mesos/local, the embedded Mesos master and agents: the
// scheduler launches web-server tasks to match SetDesired, adds each
// healthy one to the balancer, and on a scale-down drains a task's backend
// before it kills the task. Here the balancer is lbtest.Memory and each
// task is this test binary serving HTTP on $PORT (see TestMain); in
// production the balancer is lb/haproxy, lb/lvs or lb/elb and the task
// your web server.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	// Ports of their own: other packages' tests use mesos/local's default
	// range, 31000-32000, at the same time.
	cluster, err := local.Start(ctx, local.Config{Agents: 2, Ports: local.PortRange{Begin: 32100, End: 32299}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()

	exe, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	balancer := lbtest.NewMemory()
	sched, err := mesos.New(ctx, mesos.Config{
		Masters:  []string{cluster.URL()},
		Balancer: balancer,
		Task: mesos.TaskTemplate{
			Name:        "web",
			Command:     []string{exe, "-test.run=^$"},
			Env:         map[string]string{"WEBFARM_MESOS_TEST_WEBSERVER": "1"},
			CPUs:        0.1,
			Mem:         16,
			HealthCheck: &mesos.HealthCheck{Path: "/", Interval: 200 * time.Millisecond},
		},
		Resolve: func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil },
		Tick:    100 * time.Millisecond,
		Logger:  quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(runCtx) }()
	defer func() { stop(); <-done }()

	for _, n := range []int{3, 1, 0} {
		if err := sched.SetDesired(ctx, n); err != nil {
			log.Fatal(err)
		}
		for { // wait until the tasks and the pool match the count
			st, err := sched.Status(ctx)
			pool, perr := balancer.Backends(ctx)
			if err == nil && perr == nil && st.Running == n && len(pool) == n {
				fmt.Printf("desired %d: %d running, %d in the balancer\n", n, st.Running, len(pool))
				break
			}
			select {
			case <-ctx.Done():
				log.Fatalf("desired %d: have %+v and %d backends: %v", n, st, len(pool), ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	// Output:
	// desired 3: 3 running, 3 in the balancer
	// desired 1: 1 running, 1 in the balancer
	// desired 0: 0 running, 0 in the balancer
}

// The scheduler is the scaler's target: the controller reads the
// balancer's request rate and sets the count; the scheduler launches,
// registers, drains and kills tasks to match. This is the shape of a
// production setup (a real master, a state file, Apache tasks).
func Example_production() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	balancer := lbtest.NewMemory() // lb/haproxy, lb/lvs or lb/elb in production

	sched, err := mesos.New(ctx, mesos.Config{
		Masters:     []string{"http://127.0.0.1:5050"},
		StateFile:   "/var/lib/webfarm/scheduler.json",
		Balancer:    balancer,
		MaxPerAgent: 4,
		SlowStart:   30 * time.Second,
		Task: mesos.TaskTemplate{
			Name:            "web",
			Command:         []string{"/usr/sbin/apache2ctl", "-D", "FOREGROUND"},
			CPUs:            0.5,
			Mem:             256,
			HealthCheck:     &mesos.HealthCheck{Path: "/healthz"},
			KillGracePeriod: 10 * time.Second,
		},
	})
	if err != nil {
		log.Fatal(err) // e.g. "mesos: Task.CPUs 0: must be a finite number > 0: invalid argument"
	}
	go func() { _ = sched.Run(ctx) }()

	ctl := &scaler.Controller{Balancer: balancer, Policy: policy{}, Runner: sched, Interval: 2 * time.Second}
	go func() { _ = ctl.Run(ctx) }()

	for _, t := range sched.Tasks() { // for a status page
		log.Println(t.ID, t.Host, t.Addr, t.State, t.Healthy, t.InLB, t.Draining)
	}
}

// policy stands in for a scaler policy (scaler.TargetTracking, …).
type policy struct{}

func (policy) Decide(in scaler.Input) scaler.Decision {
	return scaler.Decision{At: in.Now, Current: in.Current, Count: max(in.Current, 2), Reason: "at least 2"}
}
