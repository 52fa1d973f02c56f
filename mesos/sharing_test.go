package mesos

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/mesos/local/batch"
)

// TestLocalSharingWithBatch runs the farm (role "web") beside a batch
// framework (role "batch") that keeps mesos/local full of 5-second tasks:
// 2 agents × 1 cpu, every task 0.25 cpus, so 8 slots. The farm runs 1
// task, its load rises to 4, then falls back to 1.
//
//   - With a quota guarantee of 1 cpu for "web" (4 tasks), the allocator
//     holds the guarantee's unused part back from "batch" (headroom), so
//     the batch framework runs on the other 4 slots and the farm reaches 4
//     tasks within 5 s of the rise (stated time) without waiting for any
//     batch task; when load falls, the freed slots are headroom again and
//     the batch framework never gets more than 4 slots.
//   - Without quota the batch framework fills all 7 free slots; on the
//     rise the farm waits for batch tasks to end (DRF then offers the freed
//     resources to "web", the role with the lower share), and when load
//     falls, the freed slots are offered to the batch framework, which
//     runs 7 tasks again within 5 s (stated time).
//
// In both cases the batch framework runs on the 4 slots left beside the
// farm at its peak within 5 s of the farm reaching 4.
//
// The times are logged: time to regain the needed tasks from a full
// cluster, with quota and without, and the batch framework's share.
func TestLocalSharingWithBatch(t *testing.T) {
	const (
		slotCPUs  = 0.25
		batchTime = 5 * time.Second
		stated    = 5 * time.Second
	)
	for _, tc := range []struct {
		name      string
		quota     bool
		batchFull int // batch tasks running when the cluster is full and the farm runs 1
	}{
		{"quota", true, 4},
		{"no quota", false, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, func(lc *local.Config) {
				lc.CPUs, lc.Mem = 1, 1024
				if tc.quota {
					lc.Quota = map[string]local.Quota{"web": {CPUs: 4 * slotCPUs}}
				}
			})
			mem := lbtest.NewMemory()
			cfg := localConfig(t, c, mem)
			cfg.Role = "web"
			cfg.Task.CPUs, cfg.Task.Mem = slotCPUs, 32
			cfg.InitialCount = 1
			f := startFarm(t, cfg)
			ctx := context.Background()
			farmRunning := func() int {
				st, _ := f.s.Status(ctx)
				return st.Running
			}
			eventually(t, 30*time.Second, "the farm at 1 task", func() (bool, string) {
				return farmRunning() == 1, fmt.Sprintf("%d running", farmRunning())
			})

			b := &batch.Framework{Role: "batch", CPUs: slotCPUs, Mem: 32, TaskTime: batchTime}
			runBatch(t, c, b)
			eventually(t, 30*time.Second, "the batch framework filling the cluster", func() (bool, string) {
				return b.Running() == tc.batchFull, fmt.Sprintf("batch %d running, want %d", b.Running(), tc.batchFull)
			})

			// Sample the batch framework's share over the load cycle.
			var (
				smu     sync.Mutex
				samples []int
				maxSeen int
			)
			sctx, scancel := context.WithCancel(ctx)
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-sctx.Done():
						return
					case <-tick.C:
						n := b.Running()
						smu.Lock()
						samples = append(samples, n)
						maxSeen = max(maxSeen, n)
						smu.Unlock()
					}
				}
			}()

			start := time.Now()
			if err := f.s.SetDesired(ctx, 4); err != nil {
				t.Fatal(err)
			}
			limit := 30 * time.Second
			if tc.quota {
				limit = stated
			}
			eventually(t, limit, "the farm at 4 tasks", func() (bool, string) {
				return farmRunning() == 4, fmt.Sprintf("farm %d running, batch %d", farmRunning(), b.Running())
			})
			rise := time.Since(start)
			// The batch framework keeps running on what is left: 4 slots.
			eventually(t, stated, "the batch framework on the 4 slots left", func() (bool, string) {
				return b.Running() == 4 && farmRunning() == 4, fmt.Sprintf("batch %d running, farm %d", b.Running(), farmRunning())
			})
			batchAtPeak := b.Running()

			start = time.Now()
			if err := f.s.SetDesired(ctx, 1); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the farm back at 1 task", func() (bool, string) {
				return farmRunning() == 1, fmt.Sprintf("farm %d running", farmRunning())
			})
			down := time.Since(start)
			var fall time.Duration
			if !tc.quota {
				eventually(t, stated, "the batch framework using the freed slots", func() (bool, string) {
					return b.Running() == 7, fmt.Sprintf("batch %d running, want 7", b.Running())
				})
				fall = time.Since(start)
			} else {
				time.Sleep(2 * time.Second) // the freed slots must stay headroom
			}
			scancel()
			<-sampled
			smu.Lock()
			defer smu.Unlock()
			if tc.quota && maxSeen > 4 {
				t.Errorf("the batch framework ran %d tasks: more than the 4 slots left beside web's guarantee", maxSeen)
			}
			sum := 0
			for _, n := range samples {
				sum += n
			}
			avg := float64(sum) / float64(max(len(samples), 1))
			t.Logf("%s: farm 1→4 tasks from a full cluster in %v; batch ran %d of 8 slots at the peak, %.1f on average over the cycle (%.0f%% of the cluster); 4→1: farm at 1 after %v, freed slots used by batch after %v (0 = held as quota headroom)",
				tc.name, rise.Round(10*time.Millisecond), batchAtPeak, avg, avg/8*100, down.Round(10*time.Millisecond), fall.Round(10*time.Millisecond))
		})
	}
}
