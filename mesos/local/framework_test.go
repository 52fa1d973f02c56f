package local

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func taskState(c *Cluster, id string) string {
	for _, ti := range c.Tasks() {
		if ti.TaskID == id {
			return ti.State
		}
	}
	return ""
}

// launchOne subscribes s, launches a long-running task and waits for RUNNING.
func launchOne(t *testing.T, s *sched, id string) mesos.Offer {
	t.Helper()
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	s.mustCall(launchCall(o, 0, cmdTask(o, id, "exec sleep 60", nil)))
	s.update(id, mesos.TASK_RUNNING)
	return o
}

func TestFrameworkFailover(t *testing.T) {
	tests := []struct {
		name            string
		failoverTimeout float64
		resubscribe     bool
		wantState       string
	}{
		{name: "resubscribe within the timeout keeps tasks", failoverTimeout: 30, resubscribe: true, wantState: "TASK_RUNNING"},
		{name: "timeout expiry kills tasks", failoverTimeout: 0.2, wantState: "TASK_KILLED"},
		{name: "zero timeout kills at once", failoverTimeout: 0, wantState: "TASK_KILLED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 1, KillGracePeriod: 100 * time.Millisecond})
			s := newSched(t, c, mediaProtobuf)
			fi := frameworkInfo("failover")
			fi.FailoverTimeout = &tc.failoverTimeout
			s.subscribe(fi)
			launchOne(t, s, "t1")
			fwID, oldStream := s.fwID, s.streamID
			s.disconnect()
			waitFor(t, "the master sees the disconnection", func() bool {
				// 403 while it may fail over, 400 once it is removed.
				code, _ := s.call(&scheduler.Call{Type: scheduler.Call_REVIVE})
				return code == http.StatusForbidden || code == http.StatusBadRequest
			})
			if !tc.resubscribe {
				waitFor(t, "the task is "+tc.wantState, func() bool { return taskState(c, "t1") == tc.wantState })
				s2 := newSched(t, c, mediaProtobuf)
				fi.ID = &mesos.FrameworkID{Value: fwID}
				if resp := s2.postSubscribe(fi, fi.ID); resp.StatusCode != http.StatusOK {
					t.Fatalf("re-SUBSCRIBE of a removed framework: %s, want 200 and an ERROR event", resp.Status)
				}
				return
			}
			fi.ID = &mesos.FrameworkID{Value: fwID}
			s.subscribe(fi)
			if s.fwID != fwID || s.streamID == oldStream {
				t.Errorf("re-subscribed as %s stream %s, want %s with a new stream", s.fwID, s.streamID, fwID)
			}
			s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{}})
			st := s.update("t1", mesos.TASK_RUNNING)
			if st.GetReason() != mesos.REASON_RECONCILIATION || st.UUID != nil {
				t.Errorf("implicit reconciliation: %+v, want REASON_RECONCILIATION without uuid", st)
			}
			if got := taskState(c, "t1"); got != tc.wantState {
				t.Errorf("task state %s, want %s", got, tc.wantState)
			}
		})
	}
}

func TestSecondSubscribeFailsOverFirst(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s1 := newSched(t, c, mediaJSON)
	fi := frameworkInfo("f")
	fi.FailoverTimeout = ptr(60.0)
	s1.subscribe(fi)
	s2 := newSched(t, c, mediaJSON)
	fi.ID = &mesos.FrameworkID{Value: s1.fwID}
	s2.subscribe(fi)
	ev := s1.next(scheduler.Event_ERROR)
	if ev.Error.Message != "Framework failed over" {
		t.Errorf("old stream ERROR %q, want \"Framework failed over\"", ev.Error.Message)
	}
	if code, body := s1.call(&scheduler.Call{Type: scheduler.Call_REVIVE}); code != http.StatusBadRequest {
		t.Errorf("call on the old stream: %d %s, want 400", code, body)
	}
	s2.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE})
}

func TestUnacknowledgedUpdatesAreResent(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, StatusUpdateRetry: 50 * time.Millisecond})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	s.mustCall(launchCall(o, 0, cmdTask(o, "t1", "exit 0", nil)))
	isStarting := func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.GetState() == mesos.TASK_STARTING
	}
	first := s.nextMatch("STARTING", isStarting).Update.Status
	again := s.nextMatch("STARTING resent", isStarting).Update.Status
	if string(first.UUID) != string(again.UUID) {
		t.Errorf("resent uuid %x, want the same %x", again.UUID, first.UUID)
	}
	// Updates go one at a time: nothing later arrives before the ACK.
	for _, ev := range s.backlog {
		if ev.Type == scheduler.Event_UPDATE && ev.Update.Status.GetState() != mesos.TASK_STARTING {
			t.Errorf("got %s before STARTING was acknowledged", ev.Update.Status.GetState())
		}
	}
	s.ack(first)
	s.update("t1", mesos.TASK_RUNNING)
	s.update("t1", mesos.TASK_FINISHED)
	waitFor(t, "the finished task is forgotten", func() bool { ti := c.Tasks(); return len(ti) == 1 && ti[0].Pending == 0 && !ti[0].Ended.IsZero() })
}

func TestDeclineFiltersSuppressRevive(t *testing.T) {
	c := startCluster(t, Config{Agents: 2})
	s := newSched(t, c, mediaProtobuf)
	s.subscribe(frameworkInfo("t"))
	var first mesos.Offer
	seen := map[string]bool{}
	for len(seen) < 2 {
		for _, o := range s.next(scheduler.Event_OFFERS).Offers.Offers {
			if len(seen) == 0 {
				first = o
			}
			seen[o.AgentID.Value] = true
			if o.AgentID == first.AgentID {
				s.decline(o, 3600)
			} else {
				s.decline(o, 0)
			}
		}
	}
	// For a while, only the other agent is offered.
	for range 5 {
		for _, o := range s.next(scheduler.Event_OFFERS).Offers.Offers {
			if o.AgentID == first.AgentID {
				t.Fatalf("agent %s offered again despite refuse_seconds 3600", o.AgentID.Value)
			}
			s.decline(o, 0)
		}
	}
	// SUPPRESS: no offers at all (the allocator runs every 20 ms).
	s.mustCall(&scheduler.Call{Type: scheduler.Call_SUPPRESS, Suppress: &scheduler.Call_Suppress{}})
	declineAll := func(ev *scheduler.Event) {
		if ev.Type == scheduler.Event_OFFERS {
			for _, o := range ev.Offers.Offers {
				s.decline(o, 0)
			}
		}
	}
	for _, ev := range s.backlog {
		declineAll(ev)
	}
	s.backlog = nil
	inFlight := time.After(100 * time.Millisecond) // offers made before SUPPRESS
	for done := false; !done; {
		select {
		case ev := <-s.events:
			declineAll(ev)
		case <-inFlight:
			done = true
		}
	}
	quiet := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-s.events:
			if ev.Type == scheduler.Event_OFFERS {
				t.Fatalf("offer while suppressed: %v", ev.Offers.Offers)
			}
		case <-quiet:
			done = true
		}
	}
	// REVIVE clears the filters too: the refused agent comes back.
	s.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE, Revive: &scheduler.Call_Revive{}})
	s.nextMatch("an offer of the refused agent", func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range ev.Offers.Offers {
			if o.AgentID == first.AgentID {
				return true
			}
			s.decline(o, 3600)
		}
		return false
	})
}

func TestTeardownKillsTasks(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, KillGracePeriod: 100 * time.Millisecond})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	launchOne(t, s, "t1")
	pid := c.Tasks()[0].PID
	s.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	waitFor(t, "the task is killed", func() bool { return taskState(c, "t1") == "TASK_KILLED" })
	waitFor(t, "the process is gone", func() bool { return processGone(pid) })
	if code, _ := s.call(&scheduler.Call{Type: scheduler.Call_REVIVE}); code != http.StatusBadRequest {
		t.Errorf("call after TEARDOWN: %d, want 400", code)
	}
}

func TestKillGracePeriod(t *testing.T) {
	tests := []struct {
		name     string
		cmd      string
		grace    time.Duration
		wantMsg  string
		minDelay time.Duration
	}{
		{name: "exits on SIGTERM", cmd: "touch ready; exec sleep 60", grace: 10 * time.Second, wantMsg: "Command terminated with signal Terminated"},
		{name: "ignores SIGTERM until SIGKILL", cmd: "trap '' TERM; touch ready; sleep 60 & wait; sleep 60", grace: 300 * time.Millisecond,
			wantMsg: "Command terminated with signal Killed", minDelay: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 1})
			s := newSched(t, c, mediaProtobuf)
			fi := frameworkInfo("t")
			fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}
			s.subscribe(fi)
			o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			s.mustCall(launchCall(o, 0, cmdTask(o, "t1", tc.cmd, nil)))
			s.update("t1", mesos.TASK_RUNNING)
			// The shell has installed its trap once it created "ready".
			ready := filepath.Join(c.Tasks()[0].Sandbox, "ready")
			waitFor(t, "the task is ready for the signal", func() bool { _, err := os.Stat(ready); return err == nil })
			start := time.Now()
			s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "t1"},
				KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: tc.grace.Nanoseconds()}}}})
			s.update("t1", mesos.TASK_KILLING)
			st := s.update("t1", mesos.TASK_KILLED)
			if d := time.Since(start); d < tc.minDelay {
				t.Errorf("killed after %v, want at least the grace period %v", d, tc.minDelay)
			}
			if st.GetMessage() != tc.wantMsg {
				t.Errorf("message %q, want %q", st.GetMessage(), tc.wantMsg)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Run("FailoverMaster keeps tasks and resends updates", func(t *testing.T) {
		c := startCluster(t, Config{Agents: 1})
		s := newSched(t, c, mediaJSON)
		s.subscribe(frameworkInfo("t"))
		o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		s.mustCall(launchCall(o, 0, cmdTask(o, "t1", "exec sleep 60", nil)))
		starting := s.nextMatch("STARTING (not acknowledged)", func(ev *scheduler.Event) bool {
			return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.GetState() == mesos.TASK_STARTING
		}).Update.Status
		if err := c.FailoverMaster(context.Background()); err != nil {
			t.Fatal(err)
		}
		timeout := time.After(testTimeout)
		for open := true; open; {
			select {
			case _, open = <-s.events:
			case <-timeout:
				t.Fatal("the stream did not end")
			}
		}
		if code, _ := s.call(&scheduler.Call{Type: scheduler.Call_REVIVE}); code != http.StatusForbidden {
			t.Errorf("call after the failover: %d, want 403", code)
		}
		fi := frameworkInfo("t")
		fi.ID = &mesos.FrameworkID{Value: s.fwID}
		s.backlog = nil
		s.subscribe(fi)
		again := s.update("t1", mesos.TASK_STARTING)
		if string(again.UUID) != string(starting.UUID) {
			t.Errorf("after failover STARTING uuid %x, want the unacknowledged %x", again.UUID, starting.UUID)
		}
		s.update("t1", mesos.TASK_RUNNING)
	})
	t.Run("StopAgent loses its tasks", func(t *testing.T) {
		c := startCluster(t, Config{Agents: 1})
		s := newSched(t, c, mediaJSON)
		s.subscribe(frameworkInfo("t"))
		o := launchOne(t, s, "t1")
		pid := c.Tasks()[0].PID
		rest := s.next(scheduler.Event_OFFERS).Offers.Offers[0] // the agent's remaining resources, outstanding
		s.backlog = nil
		if err := c.StopAgent(context.Background(), o.AgentID.Value); err != nil {
			t.Fatal(err)
		}
		// Master::__removeSlave (src/master/master.cpp): the task's update,
		// then the RESCIND, then FAILURE (sendSlaveLost).
		var order []string
		failure := s.nextMatch("FAILURE", func(ev *scheduler.Event) bool {
			switch ev.GetType() {
			case scheduler.Event_UPDATE, scheduler.Event_RESCIND, scheduler.Event_FAILURE:
				order = append(order, ev.GetType().String())
			}
			return ev.GetType() == scheduler.Event_FAILURE
		})
		s.backlog = append(s.backlog, failure) // checked below
		if got := strings.Join(order, " "); got != "UPDATE RESCIND FAILURE" {
			t.Errorf("events after StopAgent: %s, want UPDATE RESCIND FAILURE", got)
		}
		if r := s.next(scheduler.Event_RESCIND).Rescind; r.OfferID != rest.ID {
			t.Errorf("RESCIND of %s, want the outstanding offer %s", r.OfferID.Value, rest.ID.Value)
		}
		// Master::__removeSlave (src/master/master.cpp), from markUnreachable.
		st := s.update("t1", mesos.TASK_LOST)
		if st.GetReason() != mesos.REASON_AGENT_REMOVED || st.UUID != nil || st.GetMessage() != "health check timed out" || st.UnreachableTime == nil {
			t.Errorf("%+v: want REASON_AGENT_REMOVED, \"health check timed out\" and unreachable_time, without uuid", st)
		}
		if f := s.next(scheduler.Event_FAILURE).Failure; f.GetAgentID().GetValue() != o.AgentID.Value {
			t.Errorf("FAILURE %+v, want agent %s", f, o.AgentID.Value)
		}
		waitFor(t, "the process is gone", func() bool { return processGone(pid) })
		if err := c.StopAgent(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("StopAgent of an unknown agent: %v, want ErrNotFound", err)
		}
		if _, err := c.RestartAgent(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RestartAgent of an unknown agent: %v, want ErrNotFound", err)
		}
		// Restarted, the agent comes back empty under a new ID and is offered.
		newID, err := c.RestartAgent(context.Background(), o.AgentID.Value)
		if err != nil || newID == o.AgentID.Value {
			t.Fatalf("RestartAgent = %q, %v; want a new agent ID", newID, err)
		}
		back := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		cpus, _, ports := offerCPUs(back)
		if back.AgentID.Value != newID || cpus != DefaultCPUs {
			t.Errorf("offer after restart %+v, want agent %s with all its resources", back, newID)
		}
		if err := offeredShare(ports, PortRange{DefaultPortsBegin, DefaultPortsEnd}); err != nil {
			t.Errorf("offer after restart: %v", err)
		}
	})
	t.Run("KillTaskProcess fails the task", func(t *testing.T) {
		c := startCluster(t, Config{Agents: 1})
		s := newSched(t, c, mediaJSON)
		s.subscribe(frameworkInfo("t"))
		launchOne(t, s, "t1")
		if err := c.KillTaskProcess(context.Background(), s.fwID, "t1", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st := s.update("t1", mesos.TASK_FAILED)
		if st.GetMessage() != "Command terminated with signal Killed" {
			t.Errorf("message %q", st.GetMessage())
		}
		if err := c.KillTaskProcess(context.Background(), s.fwID, "t1", syscall.SIGKILL); err == nil {
			t.Error("KillTaskProcess of an ended task: nil error")
		}
	})
}
