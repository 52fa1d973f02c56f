package mesos_test

import (
	"context"
	"log"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/scaler"
)

// The scheduler is the scaler's target: the controller reads the
// balancer's request rate and sets the count; the scheduler launches,
// registers, drains and kills tasks to match.
func Example() {
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
		log.Fatal(err) // e.g. "mesos: Task.CPUs 0: must be a finite number > 0: invalid configuration"
	}
	go func() { _ = sched.Run(ctx) }()

	ctl := &scaler.Controller{Balancer: balancer, Scaler: policy{}, Target: sched, Interval: 2 * time.Second}
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
