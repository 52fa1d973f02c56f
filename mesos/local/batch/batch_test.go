package batch

import (
	"context"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/mesos/local"
)

// TestFillsCluster: alone on a cluster of 2 × 1 cpu, the framework runs 8
// tasks of 0.25 cpus, and again 8 after the first ones finish.
func TestFillsCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pb, release, err := portblock.Batch.Pick(200) // not local's default: other packages' tests use it
	if err != nil {
		t.Fatal(err)
	}
	defer release() // after the cluster's Close, deferred below
	c, err := local.Start(ctx, local.Config{Agents: 2, CPUs: 1, Mem: 1024, AllocationInterval: 50 * time.Millisecond,
		Ports: local.PortRange{Begin: pb.Begin, End: pb.End}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := &Framework{Role: "batch", CPUs: 0.25, Mem: 32, TaskTime: time.Second}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx, c.URL()) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: %d running", what, b.Running())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	wait("8 tasks running", func() bool { return b.Running() == 8 })
	wait("the first tasks finished", func() bool {
		for _, tk := range c.Tasks() {
			if tk.State == "TASK_FINISHED" {
				return true
			}
		}
		return false
	})
	wait("8 tasks running again", func() bool { return b.Running() == 8 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRunRefusesBadFields(t *testing.T) {
	if err := (&Framework{CPUs: 0, Mem: 32, TaskTime: time.Second}).Run(context.Background(), "http://127.0.0.1:1"); err == nil {
		t.Fatal("Run with CPUs 0: nil error")
	}
}
