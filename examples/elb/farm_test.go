package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/local"
)

const (
	tgARN  = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067"
	albARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/front/50dc6c495c0c9188"
)

func logger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// eventually polls cond every 20 ms until it holds or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last state: %s", what, limit, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFarmOnELB wires what the command wires, minus CloudWatch polling:
// the mesos scheduler runs tasks on mesos/local (a real v1 master and
// agents on loopback, driven by mesos-go's client) and keeps the ELB
// target group (the elbtest fake behind the real aws-sdk-go-v2 clients)
// in step. Scale-down must deregister the targets and kill their tasks
// only once ELB has finished draining them: the drain timeout is ten
// minutes, so the only way the test finishes in seconds is the driver's
// ActiveConns reporting 0 after the 120 s deregistration delay passed on
// ELB's clock (which moves 30 s per DescribeTargetHealth).
func TestFarmOnELB(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Mesos cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := elbtest.New(t, time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: "ip",
		Protocol: "HTTP", Port: 80, DeregistrationDelay: 120 * time.Second, HealthyAfter: 10 * time.Second})
	ac := s.AWSConfig()
	b, err := elb.New(ctx, elb.Config{TargetGroupARN: tgARN, AWS: &ac, Now: s.Now, DrainPoll: time.Millisecond, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pb, release, err := portblock.ELB.Pick(200)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // after the cluster's Close, registered below
	c, err := local.Start(ctx, local.Config{Agents: 2, Ports: local.PortRange{Begin: pb.Begin, End: pb.End},
		HeartbeatInterval: 500 * time.Millisecond, AllocationInterval: 100 * time.Millisecond,
		StatusUpdateRetry: time.Second, KillGracePeriod: time.Second, Logger: logger(t).With("side", "master")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sched, err := mesos.New(ctx, mesos.Config{
		Masters: []string{c.URL()}, Balancer: b, DrainTimeout: 10 * time.Minute,
		Task: mesos.TaskTemplate{Name: "web", Command: []string{"/bin/sleep", "600"}, CPUs: 0.1, Mem: 16, KillGracePeriod: time.Second},
		Tick: 50 * time.Millisecond, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
		ReconcileTimeout: 3 * time.Second, RequestTimeout: 5 * time.Second, Logger: logger(t).With("side", "scheduler"),
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sched.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	targets := func() []string {
		out := s.Targets(tgARN)
		for i, x := range out {
			out[i] = x[strings.Index(x, "=")+1:]
		}
		return out
	}
	if err := sched.SetDesired(ctx, 3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "3 tasks registered with the target group", func() (bool, string) {
		return len(s.Targets(tgARN)) == 3, fmt.Sprint(s.Targets(tgARN), sched.Tasks())
	})
	for _, tk := range sched.Tasks() {
		if got := s.TargetState(tgARN, tk.Addr.Addr().String(), int(tk.Addr.Port())); got == "unused" {
			t.Errorf("task %s at %s is not a target (%s)", tk.ID, tk.Addr, got)
		}
	}
	s.AdvanceOn("DescribeTargetHealth", 30*time.Second)
	if err := sched.SetDesired(ctx, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 targets drained, their tasks killed", func() (bool, string) {
		killed := 0
		for _, tk := range c.Tasks() {
			if tk.State == "TASK_KILLED" {
				killed++
			}
		}
		return killed == 2 && len(sched.Tasks()) == 1 && slices.Equal(targets(), []string{"healthy"}) && sched.Tasks()[0].InLB,
			fmt.Sprintf("killed %d, scheduler %v, ELB %v", killed, sched.Tasks(), s.Targets(tgARN))
	})
	if waited := s.Now().Sub(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)); waited < 120*time.Second {
		t.Errorf("ELB's clock moved %s, less than the deregistration delay: tasks were killed before ELB drained them", waited)
	}
	if n := s.Calls("DeregisterTargets"); n != 2 {
		t.Errorf("DeregisterTargets calls = %d, want 2", n)
	}
}
