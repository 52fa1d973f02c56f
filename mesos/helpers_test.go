package mesos

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// fakeCaller records the calls the scheduler makes; unit tests drive
// events by hand and read what came out.
type fakeCaller struct {
	mu     sync.Mutex
	calls  []*scheduler.Call
	err    error
	during func(*scheduler.Call) // runs inside Call, unlocked: a concurrent event
}

func (f *fakeCaller) Call(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	during, err := f.during, f.err
	f.mu.Unlock()
	if during != nil {
		during(c)
	}
	return nil, err
}

// take returns the calls since the last take.
func (f *fakeCaller) take() []*scheduler.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func types(cs []*scheduler.Call) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.GetType().String())
	}
	return out
}

func ofType(cs []*scheduler.Call, t scheduler.Call_Type) []*scheduler.Call {
	var out []*scheduler.Call
	for _, c := range cs {
		if c.GetType() == t {
			out = append(out, c)
		}
	}
	return out
}

// rig is a Scheduler wired to a fake caller, an in-memory balancer and a
// clock the test moves.
type rig struct {
	t    *testing.T
	s    *Scheduler
	fc   *fakeCaller
	mem  *lbtest.Memory
	now  time.Time
	ctx  context.Context
	logs *strings.Builder
}

var t0 = time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)

func baseConfig(b lb.Balancer) Config {
	return Config{
		Masters:  []string{"http://127.0.0.1:5050"},
		Balancer: b,
		Task:     TaskTemplate{Command: []string{"/usr/bin/web", "--port", "$PORT0"}, CPUs: 0.5, Mem: 64},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	mem := lbtest.NewMemory()
	cfg := baseConfig(mem)
	logs := &strings.Builder{}
	var mu sync.Mutex
	cfg.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, nil))
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := &rig{t: t, s: s, fc: &fakeCaller{}, mem: mem, now: t0, ctx: context.Background(), logs: logs}
	s.caller = r.fc
	s.closeIdle = func() {}
	s.now = func() time.Time { return r.now }
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// start reads the balancer and subscribes, as Run does.
func (r *rig) start(fid string, hb float64) {
	r.t.Helper()
	if err := r.s.readBalancer(r.ctx); err != nil {
		r.t.Fatalf("readBalancer: %v", err)
	}
	r.s.mu.Lock()
	_, cancel := context.WithCancel(r.ctx)
	r.s.subCancel = cancel
	r.s.mu.Unlock()
	r.event(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &mesos.FrameworkID{Value: fid}, HeartbeatIntervalSeconds: &hb}})
}

func (r *rig) event(e *scheduler.Event) { r.s.handleEvent(r.ctx, e) }

func (r *rig) step(d time.Duration) {
	r.now = r.now.Add(d)
	r.s.converge(r.ctx, r.now)
}

func (r *rig) setDesired(n int) {
	r.t.Helper()
	if err := r.s.SetDesired(r.ctx, n); err != nil {
		r.t.Fatalf("SetDesired(%d): %v", n, err)
	}
}

func offer(id, agent, host string, cpus, mem float64, lo, hi uint64) mesos.Offer {
	return mesos.Offer{
		ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: host,
		FrameworkID: mesos.FrameworkID{Value: "fw"},
		Resources: []mesos.Resource{
			{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: cpus}},
			{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: mem}},
			{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: lo, End: hi}}}},
		},
	}
}

func (r *rig) offers(os ...mesos.Offer) {
	r.event(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: os}})
}

// update sends a status update; uuid "" sends none (a master-generated one).
func (r *rig) update(id string, state mesos.TaskState, uuid string, healthy *bool) {
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: id}, State: state.Enum(), Healthy: healthy}
	if a := r.agentOf(id); a != "" {
		st.AgentID = &mesos.AgentID{Value: a}
	}
	if uuid != "" {
		st.UUID = []byte(uuid)
	}
	r.event(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
}

func (r *rig) agentOf(id string) string {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	sv := r.s.serviceOfLocked(id)
	if sv == nil {
		return "agent-1"
	}
	if t := sv.tasks[id]; t != nil {
		return t.agentID
	}
	if k, ok := sv.known[id]; ok && k.AgentID != "" {
		return k.AgentID
	}
	return "agent-1"
}

// launched returns the tasks in the ACCEPT calls among cs.
func launched(cs []*scheduler.Call) []mesos.TaskInfo {
	var out []mesos.TaskInfo
	for _, c := range ofType(cs, scheduler.Call_ACCEPT) {
		for _, op := range c.GetAccept().GetOperations() {
			out = append(out, op.GetLaunch().GetTaskInfos()...)
		}
	}
	return out
}

func idsOf(ts []mesos.TaskInfo) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.TaskID.Value)
	}
	return out
}

func (r *rig) pool() []string {
	r.t.Helper()
	bs, err := r.mem.Backends(r.ctx)
	if err != nil {
		r.t.Fatalf("Backends: %v", err)
	}
	var out []string
	for _, b := range bs {
		out = append(out, b.ID)
	}
	slices.Sort(out)
	return out
}

func (r *rig) status() (desired, running, starting int) {
	st, err := r.s.Status(r.ctx)
	if err != nil {
		r.t.Fatalf("Status: %v", err)
	}
	return st.Desired, st.Running, st.Starting
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// reconciledNow reports whether the reconciliation after the latest
// subscription ended.
func (s *Scheduler) reconciledNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reconciled
}

func lbBackend(id, addr string) lb.Backend { return lb.Backend{ID: id, Addr: mustAP(addr)} }

// subscriptionCount returns the number of SUBSCRIBED events so far.
func (s *Scheduler) subscriptionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subscriptions
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// offerCount returns the number of offers received so far.
func (s *Scheduler) offerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.offersSeen
}

// defLocked returns the default service without taking s.mu (the caller
// holds it, or no other goroutine runs).
func (s *Scheduler) defLocked() *service { return s.services[s.defName] }
