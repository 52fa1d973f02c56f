// Package batch is a small batch framework for sharing tests and demos:
// a Mesos scheduler on mesos-go's v1 client that keeps the cluster as full
// of fixed-length tasks as its role's share allows, as a Hadoop or Spark
// framework would between traffic peaks.
package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
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
)

// Framework is a small batch scheduler built on mesos-go's client, standing
// for a Hadoop or Spark framework: in its role it fills every offer with
// tasks of CPUs and Mem that run `sleep TaskTime`, declines what is left
// for a second, and launches again as tasks finish, so it keeps the
// cluster as full as the allocator lets it. Set the fields before Run.
type Framework struct {
	Name     string        // FrameworkInfo.name; "batch" if empty
	Role     string        // its role; "*" if empty
	CPUs     float64       // per task
	Mem      float64       // per task, MiB
	TaskTime time.Duration // how long each task runs

	mu      sync.Mutex
	running map[string]bool
	seq     int
	err     error
}

// Running returns the number of its tasks running now.
func (b *Framework) Running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.running)
}

// Run subscribes to the master at url (its /api/v1/scheduler URL) and runs
// the framework until ctx is done; it returns nil then, or the first task
// that failed, was lost or killed, or the subscription's error.
func (b *Framework) Run(ctx context.Context, url string) error {
	if b.CPUs <= 0 || b.Mem <= 0 || b.TaskTime <= 0 {
		return fmt.Errorf("batch: CPUs %v, Mem %v and TaskTime %v must be positive", b.CPUs, b.Mem, b.TaskTime)
	}
	role, name := b.Role, b.Name
	if role == "" {
		role = "*"
	}
	if name == "" {
		name = "batch"
	}
	b.mu.Lock()
	b.running = map[string]bool{}
	b.mu.Unlock()
	cli := httpcli.New(httpcli.Endpoint(url), httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	fidStore := store.NewInMemorySingleton()
	caller := callrules.New(callrules.WithFrameworkID(store.GetIgnoreErrors(fidStore))).Caller(httpsched.NewCaller(cli))
	shell := fmt.Sprintf("sleep %g", b.TaskTime.Seconds())
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
				var tasks []mesos.TaskInfo
				b.mu.Lock()
				for cpus >= b.CPUs-1e-9 && mem >= b.Mem-1e-9 {
					cpus, mem = cpus-b.CPUs, mem-b.Mem
					b.seq++
					id := fmt.Sprintf("batch-%d", b.seq)
					tasks = append(tasks, mesos.TaskInfo{
						Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
						Resources: mesos.Resources{scalarRes("cpus", b.CPUs), scalarRes("mem", b.Mem)},
						Command:   &mesos.CommandInfo{Value: &shell},
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
			case mesos.TASK_RUNNING:
				b.running[st.TaskID.Value] = true
			case mesos.TASK_FINISHED:
				delete(b.running, st.TaskID.Value)
			case mesos.TASK_FAILED, mesos.TASK_LOST, mesos.TASK_ERROR, mesos.TASK_KILLED, mesos.TASK_DROPPED:
				delete(b.running, st.TaskID.Value)
				if b.err == nil {
					b.err = fmt.Errorf("batch task %s: %s %s", st.TaskID.Value, st.GetState(), st.GetMessage())
				}
			}
			return nil
		}),
	}
	fi := mesos.FrameworkInfo{User: "root", Name: name, Role: &role}
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

func scalarRes(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}
