package mesos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/backoff"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/callrules"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

// batchFramework is a small batch scheduler built on mesos-go's client (as
// a Hadoop or Spark framework would run): in its role it fills every offer
// with tasks of cpus/mem that run for taskTime, declines what is left for
// a second, and launches again as tasks finish, so it keeps the cluster as
// full as the allocator lets it.
type batchFramework struct {
	cpus, mem float64
	taskTime  time.Duration

	mu      sync.Mutex
	running map[string]bool // set before run
	seq     int
	err     error
}

func (b *batchFramework) Running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.running)
}

// run runs the framework until ctx is done.
func (b *batchFramework) run(ctx context.Context, url, role string) error {
	cli := httpcli.New(httpcli.Endpoint(url), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	fidStore := store.NewInMemorySingleton()
	caller := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(httpsched.NewCaller(cli))
	shell := fmt.Sprintf("sleep %g", b.taskTime.Seconds())
	handler := events.Handlers{
		scheduler.Event_SUBSCRIBED: controller.TrackSubscription(fidStore, 0).HandleF(func(context.Context, *scheduler.Event) error { return nil }),
		scheduler.Event_OFFERS: events.HandlerFunc(func(ctx context.Context, e *scheduler.Event) error {
			for _, o := range e.GetOffers().GetOffers() {
				var cpus, mem float64
				for _, r := range o.Resources {
					if r.IsUnreserved() || r.ReservationRole() == role {
						switch r.Name {
						case "cpus":
							cpus += r.GetScalar().GetValue()
						case "mem":
							mem += r.GetScalar().GetValue()
						}
					}
				}
				var tasks []mesoslib.TaskInfo
				b.mu.Lock()
				for cpus >= b.cpus-1e-9 && mem >= b.mem-1e-9 {
					cpus, mem = cpus-b.cpus, mem-b.mem
					b.seq++
					id := fmt.Sprintf("batch-%d", b.seq)
					tasks = append(tasks, mesoslib.TaskInfo{
						Name: id, TaskID: mesoslib.TaskID{Value: id}, AgentID: o.AgentID,
						Resources: mesoslib.Resources{scalarRes("cpus", b.cpus), scalarRes("mem", b.mem)},
						Command:   &mesoslib.CommandInfo{Value: &shell},
					})
				}
				b.mu.Unlock()
				accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(time.Second))
				if err := calls.CallNoData(ctx, caller, accept); err != nil {
					return err
				}
			}
			return nil
		}),
		scheduler.Event_UPDATE: controller.AckStatusUpdates(caller).AndThen().HandleF(func(ctx context.Context, e *scheduler.Event) error {
			st := e.GetUpdate().GetStatus()
			b.mu.Lock()
			defer b.mu.Unlock()
			switch st.GetState() {
			case mesoslib.TASK_RUNNING:
				b.running[st.TaskID.Value] = true
			case mesoslib.TASK_FINISHED:
				delete(b.running, st.TaskID.Value)
			case mesoslib.TASK_FAILED, mesoslib.TASK_LOST, mesoslib.TASK_ERROR, mesoslib.TASK_KILLED, mesoslib.TASK_DROPPED:
				delete(b.running, st.TaskID.Value)
				if b.err == nil {
					b.err = fmt.Errorf("batch task %s: %s %s", st.TaskID.Value, st.GetState(), st.GetMessage())
				}
			}
			return nil
		}),
	}
	fi := mesoslib.FrameworkInfo{User: "root", Name: "batch", Role: &role}
	err := controller.Run(ctx, &fi, caller,
		controller.WithEventHandler(handler),
		controller.WithFrameworkID(store.GetIgnoreErrors(fidStore)),
		controller.WithRegistrationTokens(backoff.Notifier(50*time.Millisecond, 500*time.Millisecond, ctx.Done())),
	)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return nil
	}
	return err
}

func scalarRes(name string, v float64) mesoslib.Resource {
	return mesoslib.Resource{Name: name, Type: mesoslib.SCALAR.Enum(), Scalar: &mesoslib.Value_Scalar{Value: v}}
}

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

			b := &batchFramework{cpus: slotCPUs, mem: 32, taskTime: batchTime, running: map[string]bool{}}
			bctx, bcancel := context.WithCancel(ctx)
			bdone := make(chan error, 1)
			go func() { bdone <- b.run(bctx, c.URL(), "batch") }()
			t.Cleanup(func() {
				bcancel()
				if err := <-bdone; err != nil {
					t.Errorf("batch framework: %v", err)
				}
			})
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
