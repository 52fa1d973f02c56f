package mesos

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

// TestLocalServicesShortCluster asks two services of one framework for
// more than mesos/local has: room for 20 tasks, 20 asked by "big" and 4 by
// "small". Offers are shared by deficit, so small gets its share (at least
// 3 of its 4, where a first-come order would leave it none), the cluster
// fills, and when big scales down, small gets the rest of its count.
func TestLocalServicesShortCluster(t *testing.T) {
	c := startCluster(t, func(lc *local.Config) {
		lc.InProcessTasks = true
		lc.CPUs = 1 // 2 agents × 1 cpu: 20 tasks of 0.1
	})
	bigMem, smallMem := lbtest.NewMemory(), lbtest.NewMemory()
	cfg := localConfig(t, c, nil)
	cfg.Balancer, cfg.Task = nil, TaskTemplate{}
	task := webTask(t)
	task.Name = ""
	cfg.Services = []ServiceConfig{
		{Name: "big", Task: task, Balancer: bigMem},
		{Name: "small", Task: task, Balancer: smallMem},
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	handle := func(name string) *Service {
		h, err := s.Service(name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	big, small := handle("big"), handle("small")
	// Both counts before Run, so that neither service has a head start.
	if err := big.SetDesired(ctx, 20); err != nil {
		t.Fatal(err)
	}
	if err := small.SetDesired(ctx, 4); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	running := func(h *Service) int {
		st, _ := h.Status(ctx)
		return st.Running
	}
	eventually(t, 30*time.Second, "the cluster full, small with its share", func() (bool, string) {
		b, s := running(big), running(small)
		return b+s == 20 && s >= 3, fmt.Sprintf("big %d, small %d running", b, s)
	})
	if err := big.SetDesired(ctx, 10); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "small at its count once big shrank", func() (bool, string) {
		b, s := running(big), running(small)
		return b == 10 && s == 4, fmt.Sprintf("big %d, small %d running", b, s)
	})
}
