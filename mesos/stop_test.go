package mesos

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// callLog is a balancer that records Drain and Remove calls in order.
type callLog struct {
	*lbtest.Memory
	mu    sync.Mutex
	calls []string
}

func (c *callLog) Drain(ctx context.Context, id string) error {
	c.mu.Lock()
	c.calls = append(c.calls, "drain "+id)
	c.mu.Unlock()
	return c.Memory.Drain(ctx, id)
}

func (c *callLog) Remove(ctx context.Context, id string) error {
	c.mu.Lock()
	c.calls = append(c.calls, "remove "+id)
	c.mu.Unlock()
	return c.Memory.Remove(ctx, id)
}

var _ lb.Balancer = (*callLog)(nil)

// TestLocalStopScalesToZeroThenTearsDown starts a farm at InitialCount 2
// with no SetDesired; Stop drains each backend before its task is killed,
// returns once no task is left, and keeps the framework; a second Stop
// with Teardown removes it, and the scheduler does not subscribe again.
func TestLocalStopScalesToZeroThenTearsDown(t *testing.T) {
	c := startCluster(t, nil)
	mem := lbtest.NewMemory()
	bal := &callLog{Memory: mem}
	cfg := localConfig(t, c, mem)
	cfg.Balancer = bal
	cfg.InitialCount = 2
	cfg.StateFile = t.TempDir() + "/state.json"
	f := startFarmMem(t, cfg, mem)
	eventually(t, 30*time.Second, "2 tasks from InitialCount alone", func() (bool, string) { return f.settled(c, 2) })
	fid := f.s.FrameworkID()
	tasks := mesosTasks(c, fid)["TASK_RUNNING"]

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.s.Stop(ctx, StopOptions{}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if left := f.s.Tasks(); len(left) != 0 {
		t.Errorf("Stop returned with tasks %v", left)
	}
	if bs, _ := mem.Backends(ctx); len(bs) != 0 {
		t.Errorf("pool %v after Stop, want empty", bs)
	}
	if got := mesosTasks(c, fid)["TASK_RUNNING"]; len(got) != 0 {
		t.Errorf("Mesos still runs %v", got)
	}
	if got := mesosTasks(c, fid)["TASK_KILLED"]; !slices.Equal(got, tasks) {
		t.Errorf("killed %v, want %v", got, tasks)
	}
	bal.mu.Lock()
	for _, id := range tasks {
		d, r := slices.Index(bal.calls, "drain "+id), slices.Index(bal.calls, "remove "+id)
		if d < 0 || r < d {
			t.Errorf("%s: calls %v: want drain before remove", id, bal.calls)
		}
	}
	bal.mu.Unlock()
	if !f.s.Connected() || f.s.FrameworkID() != fid {
		t.Errorf("after Stop: connected %v as %q, want still subscribed as %s", f.s.Connected(), f.s.FrameworkID(), fid)
	}
	if st, _ := loadState(cfg.StateFile); st.Desired != 0 || st.FrameworkID != fid {
		t.Errorf("state %+v after Stop, want desired 0 and the framework kept", st)
	}

	if err := f.s.Stop(ctx, StopOptions{Teardown: true}); err != nil {
		t.Fatalf("Stop with Teardown: %v", err)
	}
	if st, _ := loadState(cfg.StateFile); st.FrameworkID != "" {
		t.Errorf("state keeps framework %q after TEARDOWN", st.FrameworkID)
	}
	eventually(t, 5*time.Second, "the stream to end", func() (bool, string) { return !f.s.Connected(), "connected" })
	time.Sleep(500 * time.Millisecond) // several reconnect backoffs
	if f.s.Connected() || f.s.FrameworkID() != "" {
		t.Errorf("after TEARDOWN: connected %v as %q, want no new subscription", f.s.Connected(), f.s.FrameworkID())
	}
	if err := f.s.Stop(ctx, StopOptions{}); !errors.Is(err, ErrTornDown) {
		t.Errorf("Stop after TEARDOWN = %v, want ErrTornDown", err)
	}
}

func TestStopNeedsRun(t *testing.T) {
	s, err := New(context.Background(), baseConfig(lbtest.NewMemory()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background(), StopOptions{}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Stop without Run = %v, want ErrNotRunning", err)
	}
}

func TestInitialCountOnlyForANewFarm(t *testing.T) {
	cfg := baseConfig(lbtest.NewMemory())
	cfg.InitialCount = 3
	cfg.StateFile = t.TempDir() + "/state.json"
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(context.Background()); st.Desired != 3 {
		t.Errorf("new farm: desired %d, want InitialCount 3", st.Desired)
	}
	if err := saveState(cfg.StateFile, savedState{FrameworkID: "fw-1", Desired: 0}); err != nil {
		t.Fatal(err)
	}
	s, err = New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Status(context.Background()); st.Desired != 0 {
		t.Errorf("a farm that ran (stopped at 0): desired %d, want its saved 0", st.Desired)
	}
	cfg.InitialCount = -1
	if err := cfg.Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("InitialCount -1: %v, want ErrInvalid", err)
	}
}
