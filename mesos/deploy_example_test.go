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
)

// A rolling deployment on mesos/local: three tasks of the web server
// are replaced by tasks of a new template, one at a time (MaxSurge 1),
// each new task serving before an old one is drained and killed.
func ExampleScheduler_Deploy() {
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
	web := func(version string) mesos.TaskTemplate {
		return mesos.TaskTemplate{
			Name:    "web",
			Command: []string{exe, "-test.run=^$"},
			Env: map[string]string{"WEBFARM_MESOS_TEST_WEBSERVER": "1",
				"WEBFARM_MESOS_TEST_VERSION": version},
			CPUs: 0.1, Mem: 16,
			HealthCheck: &mesos.HealthCheck{Path: "/", Interval: 200 * time.Millisecond},
		}
	}
	balancer := lbtest.NewMemory()
	sched, err := mesos.New(ctx, mesos.Config{
		Masters:  []string{cluster.URL()},
		Balancer: balancer,
		Task:     web("1"),
		Resolve:  func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("127.0.0.1"), nil },
		Tick:     100 * time.Millisecond,
		Logger:   quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if err := sched.SetDesired(ctx, 3); err != nil {
		log.Fatal(err)
	}
	for st, _ := sched.Status(ctx); st.Running < 3; st, _ = sched.Status(ctx) {
		if ctx.Err() != nil {
			log.Fatalf("3 tasks: %+v: %v", st, ctx.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The deployment: the policy may go on setting the count meanwhile.
	if err := sched.Deploy(ctx, "web", web("2"), mesos.DeployOptions{MaxSurge: 1}); err != nil {
		log.Fatal(err)
	}
	st, err := sched.WaitDeploy(ctx, "web")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %d tasks of the new version, %d old, rolled back: %v\n", st.State, st.New, st.Old, st.Rollback)
	// Output:
	// done: 3 tasks of the new version, 0 old, rolled back: false
}

// A canary: one task of the new template gets 5 % of the requests
// through the balancer's weights, beside the old tasks; then it is
// promoted (the rest roll to it) or aborted (Rollback).
func ExampleScheduler_Canary() {
	ctx := context.Background()
	var sched *mesos.Scheduler // from mesos.New, running
	var newTemplate mesos.TaskTemplate
	if sched == nil {
		return // a sketch
	}
	err := sched.Canary(ctx, "web", newTemplate, mesos.CanaryOptions{Percent: 5,
		Deploy: mesos.DeployOptions{MaxSurge: 2, ErrorMargin: 0.02}}) // roll back at 2 points more 5xx
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(10 * time.Minute) // watch sched.DeployStatus("web") and the error rates
	if st, _ := sched.DeployStatus("web"); st.State == mesos.DeployCanary {
		err = sched.Promote(ctx, "web") // or sched.Rollback(ctx, "web")
	}
	if err != nil {
		log.Fatal(err)
	}
}
