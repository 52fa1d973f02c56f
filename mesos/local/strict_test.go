package local

// Rules of a real Mesos master (apache/mesos, master branch) that the
// emulation follows; each test names the source file and function.

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// rawPost posts body to the master with the given headers (Content-Type and
// Accept default to application/json; "" removes a header) and returns the
// status, headers and body of the answer. A 200 answer's body (an event
// stream) is not read.
func rawPost(t *testing.T, c *Cluster, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.URL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mediaJSON)
	req.Header.Set("Accept", mediaJSON)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, resp.Header, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestSubscribeFrameworkIDMustMatch follows validation::scheduler::call::validate
// (src/master/validation.cpp): a SUBSCRIBE's top-level framework_id must
// equal subscribe.framework_info.id (unset equals unset), so a failover
// that sets only framework_info.id is refused.
func TestSubscribeFrameworkIDMustMatch(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	fi := frameworkInfo("t")
	fi.FailoverTimeout = ptr(60.0)
	s.subscribe(fi)
	const msg = "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'"
	id := s.fwID
	tests := []struct {
		name     string
		topLevel *mesos.FrameworkID
		infoID   *mesos.FrameworkID
		want     int
	}{
		{name: "framework_info.id only", infoID: &mesos.FrameworkID{Value: id}, want: 400},
		{name: "framework_id only", topLevel: &mesos.FrameworkID{Value: id}, want: 400},
		{name: "different IDs", topLevel: &mesos.FrameworkID{Value: id}, infoID: &mesos.FrameworkID{Value: "other"}, want: 400},
		{name: "both, equal", topLevel: &mesos.FrameworkID{Value: id}, infoID: &mesos.FrameworkID{Value: id}, want: 200},
	}
	for _, tc := range tests {
		for _, media := range mediaTypes {
			t.Run(tc.name+"/"+media, func(t *testing.T) {
				s2 := newSched(t, c, media)
				fi := frameworkInfo("t")
				fi.FailoverTimeout = ptr(60.0)
				fi.ID = tc.infoID
				resp := s2.postSubscribe(fi, tc.topLevel)
				if resp.StatusCode != tc.want {
					t.Fatalf("SUBSCRIBE: %s, want %d", resp.Status, tc.want)
				}
				if tc.want == 400 {
					if b, _ := io.ReadAll(resp.Body); string(b) != msg {
						t.Errorf("body %q, want %q", b, msg)
					}
				}
			})
		}
	}
}

// TestContentTypeIsExact follows Master::Http::scheduler
// (src/master/http.cpp): the Content-Type header is compared with
// "application/json" and "application/x-protobuf" as strings, so
// parameters or another case get 415.
func TestContentTypeIsExact(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`
	const msg = "Expecting 'Content-Type' of application/json or application/x-protobuf"
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/x-protobuf; charset=binary", "application/json;"} {
		t.Run(ct, func(t *testing.T) {
			code, _, got := rawPost(t, c, map[string]string{"Content-Type": ct}, body)
			if code != http.StatusUnsupportedMediaType || got != msg {
				t.Errorf("got %d %q, want 415 %q", code, got, msg)
			}
			if _, err := DecodeCall(ct, []byte(body)); err == nil {
				t.Errorf("DecodeCall(%q) accepted the body", ct)
			}
		})
	}
	if code, _, got := rawPost(t, c, nil, body); code != http.StatusOK {
		t.Errorf("exact application/json: %d %q, want 200", code, got)
	}
}

// TestRequiredFields follows Master::Http::scheduler (src/master/http.cpp)
// and stout's protobuf::parse (3rdparty/stout/include/stout/protobuf.hpp,
// Parse<T>): a call missing a required field fails protobuf
// initialisation, and the JSON answer lists every missing field in
// protobuf's InitializationErrorString order.
func TestRequiredFields(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	fid := `"framework_id":{"value":"` + s.fwID + `"}`
	tests := []struct {
		name, body, want string
	}{
		{
			name: "framework_info without user and name",
			body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"failover_timeout":1}}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user, subscribe.framework_info.name",
		},
		{
			name: "subscribe without framework_info",
			body: `{"type":"SUBSCRIBE","subscribe":{}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info",
		},
		{
			name: "null is unset",
			body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":null,"name":"n"}}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user",
		},
		{
			name: "camelCase is no field name",
			body: `{"type":"KILL",` + fid + `,"kill":{"taskId":{"value":"t"}}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: kill.task_id",
		},
		{
			name: "nested task without name and agent",
			body: `{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[{"value":"o"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"task_id":{"value":"t"},"resources":[{"name":"cpus"}]}]}}]}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: accept.operations[0].launch.task_infos[0].name, accept.operations[0].launch.task_infos[0].agent_id, accept.operations[0].launch.task_infos[0].resources[0].type",
		},
		{
			name: "ACK without uuid",
			body: `{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"}}}`,
			want: "Failed to convert JSON into Call protobuf: Missing required fields: acknowledge.uuid",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, got := rawPost(t, c, map[string]string{"Mesos-Stream-Id": s.streamID}, tc.body)
			if code != http.StatusBadRequest || got != tc.want {
				t.Errorf("got %d %q, want 400 %q", code, got, tc.want)
			}
		})
	}
	// The same SUBSCRIBE in protobuf: type=SUBSCRIBE (field 2 = 1),
	// subscribe (3) holding an empty framework_info (1).
	t.Run("protobuf framework_info without user and name", func(t *testing.T) {
		pb := "\x10\x01\x1a\x02\x0a\x00"
		code, _, got := rawPost(t, c, map[string]string{"Content-Type": mediaProtobuf}, pb)
		if want := "Failed to parse body into Call protobuf"; code != http.StatusBadRequest || got != want {
			t.Errorf("got %d %q, want 400 %q", code, got, want)
		}
	})
}

// TestCallTypeRequired follows validation::scheduler::call::validate
// (src/master/validation.cpp, "Expecting 'type' to be present") and
// proto2 parsing: an unknown enum name (JSON, stout's Parser) or number
// (protobuf) leaves the type unset.
func TestCallTypeRequired(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	const want = "Failed to validate scheduler::Call: Expecting 'type' to be present"
	for name, tc := range map[string]struct{ ctype, body string }{
		"no type":             {mediaJSON, `{"framework_id":{"value":"f"}}`},
		"unknown type name":   {mediaJSON, `{"type":"FLY","framework_id":{"value":"f"}}`},
		"unknown type number": {mediaProtobuf, "\x0a\x03\x0a\x01f\x10\x63"}, // framework_id{value:"f"}, type=99
	} {
		t.Run(name, func(t *testing.T) {
			code, _, got := rawPost(t, c, map[string]string{"Content-Type": tc.ctype}, tc.body)
			if code != http.StatusBadRequest || got != want {
				t.Errorf("got %d %q, want 400 %q", code, got, want)
			}
		})
	}
}

// TestImplicitReconcileReportsStatusUpdateState follows Master::reconcile
// (src/master/master.cpp): a known task is reported in its
// status_update_state, the state of the update the master last received
// (the oldest one the scheduler has not acknowledged), never the later
// state the agent already knows.
func TestImplicitReconcileReportsStatusUpdateState(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, StatusUpdateRetry: time.Hour})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	s.mustCall(launchCall(o, 0, cmdTask(o, "t1", "exit 0", nil)))
	isUpdate := func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.TaskID.Value == "t1"
	}
	starting := s.nextMatch("STARTING", isUpdate).Update.Status
	if starting.GetState() != mesos.TASK_STARTING {
		t.Fatalf("first update %s, want TASK_STARTING", starting.GetState())
	}
	// The task finishes on the agent while STARTING is unacknowledged.
	waitFor(t, "the agent sees the task finished", func() bool { return taskState(c, "t1") == "TASK_FINISHED" })
	for _, tasks := range [][]scheduler.Call_Reconcile_Task{nil, {{TaskID: mesos.TaskID{Value: "t1"}}}} {
		s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: tasks}})
		st := s.nextMatch("the reconciliation answer", isUpdate).Update.Status
		if st.GetState() != mesos.TASK_STARTING || st.UUID != nil || st.GetReason() != mesos.REASON_RECONCILIATION ||
			st.GetMessage() != "Reconciliation: Latest task state" {
			t.Errorf("reconciliation (%d tasks named) answered %s %q uuid %x, want TASK_STARTING from the master without uuid",
				len(tasks), st.GetState(), st.GetMessage(), st.UUID)
		}
	}
	s.ack(starting)
	running := s.nextMatch("RUNNING", isUpdate).Update.Status
	if running.GetState() != mesos.TASK_RUNNING || len(running.UUID) != 16 {
		t.Fatalf("after the ACK: %s, want TASK_RUNNING with a uuid", running.GetState())
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{}})
	if st := s.nextMatch("the reconciliation answer", isUpdate).Update.Status; st.GetState() != mesos.TASK_RUNNING || st.UUID != nil {
		t.Errorf("reconciliation with RUNNING unacknowledged: %s, want TASK_RUNNING", st.GetState())
	}
}

// TestReconcileUnknownTasks follows Master::reconcile and Master::kill
// (src/master/master.cpp): an unknown task on a registered agent is
// TASK_GONE, on an unreachable agent TASK_UNREACHABLE, on an unknown (or
// no) agent TASK_UNKNOWN, for PARTITION_AWARE frameworks; others get
// TASK_LOST in every case. KILL of an unknown task answers the same.
func TestReconcileUnknownTasks(t *testing.T) {
	c := startCluster(t, Config{Agents: 2})
	agents := c.Agents()
	up, down := agents[0].ID, agents[1].ID
	if err := c.StopAgent(context.Background(), down); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, agent string
		aware, lost mesos.TaskState
		msg         string
	}{
		{"registered agent", up, mesos.TASK_GONE, mesos.TASK_LOST, "Reconciliation: Task is unknown to the agent"},
		{"unreachable agent", down, mesos.TASK_UNREACHABLE, mesos.TASK_LOST, "Reconciliation: Task is unreachable"},
		{"unknown agent", "no-such-agent", mesos.TASK_UNKNOWN, mesos.TASK_LOST, "Reconciliation: Task is unknown"},
		{"no agent", "", mesos.TASK_UNKNOWN, mesos.TASK_LOST, "Reconciliation: Task is unknown"},
	}
	for _, aware := range []bool{true, false} {
		s := newSched(t, c, mediaProtobuf)
		fi := frameworkInfo("t")
		if aware {
			fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}}
		}
		s.subscribe(fi)
		for _, tc := range cases {
			want := tc.lost
			if aware {
				want = tc.aware
			}
			for _, call := range []string{"RECONCILE", "KILL"} {
				name := tc.name + "/" + call
				if aware {
					name += "/partition aware"
				}
				t.Run(name, func(t *testing.T) {
					defer s.use(t)()
					id := mesos.TaskID{Value: strings.ReplaceAll(name, " ", "-")}
					var agentID *mesos.AgentID
					if tc.agent != "" {
						agentID = &mesos.AgentID{Value: tc.agent}
					}
					if call == "KILL" {
						s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: id, AgentID: agentID}})
					} else {
						s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{
							Tasks: []scheduler.Call_Reconcile_Task{{TaskID: id, AgentID: agentID}}}})
					}
					st := s.nextMatch("the answer about "+id.Value, func(ev *scheduler.Event) bool {
						return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.TaskID == id
					}).Update.Status
					if st.GetState() != want || st.GetMessage() != tc.msg || st.GetReason() != mesos.REASON_RECONCILIATION ||
						st.GetSource() != mesos.SOURCE_MASTER || st.UUID != nil || st.GetAgentID().GetValue() != tc.agent {
						t.Errorf("got %s %q (agent %q), want %s %q from the master", st.GetState(), st.GetMessage(), st.GetAgentID().GetValue(), want, tc.msg)
					}
				})
			}
		}
	}
}

// TestKillOfAnotherAgentIsIgnored follows Master::kill
// (src/master/master.cpp): a KILL naming another agent than the task's is
// dropped.
func TestKillOfAnotherAgentIsIgnored(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	fi := frameworkInfo("t")
	fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE}}
	s.subscribe(fi)
	launchOne(t, s, "t1")
	s.backlog = nil // STARTING, acknowledged on the way
	s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "t1"}, AgentID: &mesos.AgentID{Value: "other"}}})
	// A kill would queue TASK_KILLING before the reconciliation answer.
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: []scheduler.Call_Reconcile_Task{{TaskID: mesos.TaskID{Value: "t1"}}}}})
	st := s.nextMatch("an update of t1", func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.TaskID.Value == "t1"
	}).Update.Status
	if st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION {
		t.Errorf("after a KILL naming another agent: %s %s, want the reconciliation answer TASK_RUNNING", st.GetState(), st.GetReason())
	}
}

// TestCommandHealthCheckFailures follows HealthChecker::failure and
// HealthChecker::success (src/checks/health_checker.cpp) and
// CommandExecutor::taskHealthUpdated and CommandExecutor::reaped
// (src/launcher/executor.cpp): every failed check is one TASK_RUNNING
// update with healthy=false, the one reaching consecutive_failures kills
// the task, and its TASK_KILLED carries healthy=false and no reason. A
// passing check is reported once, not at every run.
func TestCommandHealthCheckFailures(t *testing.T) {
	run := func(t *testing.T, check string, failures uint32) (*sched, *Cluster) {
		c := startCluster(t, Config{Agents: 1, KillGracePeriod: 200 * time.Millisecond})
		s := newSched(t, c, mediaProtobuf)
		s.subscribe(frameworkInfo("t"))
		o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		ti := cmdTask(o, "web", "exec sleep 60", nil)
		ti.HealthCheck = &mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: &mesos.CommandInfo{Value: ptr(check)},
			DelaySeconds: ptr(0.0), IntervalSeconds: ptr(0.05), GracePeriodSeconds: ptr(0.0), TimeoutSeconds: ptr(5.0),
			ConsecutiveFailures: ptr(failures)}
		s.mustCall(launchCall(o, 0, ti))
		s.update("web", mesos.TASK_RUNNING)
		s.backlog = nil // STARTING, acknowledged on the way
		return s, c
	}
	t.Run("failing", func(t *testing.T) {
		s, _ := run(t, "exit 1", 3)
		for i := 1; i <= 3; i++ {
			st := s.update("web", mesos.TASK_RUNNING)
			if st.Healthy == nil || st.GetHealthy() || st.GetReason() != mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
				t.Fatalf("update %d after RUNNING: healthy %v reason %s, want healthy=false REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", i, st.Healthy, st.GetReason())
			}
		}
		next := s.nextMatch("the next update", func(ev *scheduler.Event) bool {
			if ev.Type == scheduler.Event_UPDATE && len(ev.Update.Status.UUID) > 0 {
				s.ack(ev.Update.Status)
			}
			return ev.Type == scheduler.Event_UPDATE
		}).Update.Status
		if next.GetState() != mesos.TASK_KILLED || next.Reason != nil || next.Healthy == nil || next.GetHealthy() {
			t.Errorf("after 3 failures: %s reason %v healthy %v, want TASK_KILLED, no reason, healthy=false", next.GetState(), next.Reason, next.Healthy)
		}
	})
	t.Run("passing", func(t *testing.T) {
		s, c := run(t, `echo run >> "$MESOS_SANDBOX/runs"`, 3)
		sandbox := c.Tasks()[0].Sandbox
		// Five runs done means the fourth was reported (or not) already.
		waitFor(t, "five health checks ran", func() bool {
			b, _ := os.ReadFile(filepath.Join(sandbox, "runs"))
			return strings.Count(string(b), "run") >= 5
		})
		s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: []scheduler.Call_Reconcile_Task{{TaskID: mesos.TaskID{Value: "web"}}}}})
		healthy := 0
		s.nextMatch("the reconciliation answer", func(ev *scheduler.Event) bool {
			if ev.Type != scheduler.Event_UPDATE {
				return false
			}
			st := ev.Update.Status
			if len(st.UUID) > 0 {
				s.ack(st)
				if st.Healthy != nil {
					healthy++
				}
			}
			return st.GetReason() == mesos.REASON_RECONCILIATION
		})
		if healthy != 1 {
			t.Errorf("%d health updates after at least 4 passing checks, want 1 (the first success)", healthy)
		}
	})
}

// TestFirstHeartbeatFollowsSubscribed follows Framework::heartbeat
// (src/master/framework.cpp) and ResponseHeartbeaterProcess::initialize
// (src/common/heartbeater.hpp): the heartbeater starts without a delay, so
// a HEARTBEAT is the event right after SUBSCRIBED.
func TestFirstHeartbeatFollowsSubscribed(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, HeartbeatInterval: time.Hour})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	select {
	case ev := <-s.events:
		if ev.GetType() != scheduler.Event_HEARTBEAT {
			t.Errorf("event after SUBSCRIBED: %s, want HEARTBEAT", ev.GetType())
		}
	case <-time.After(testTimeout):
		t.Fatal("no event after SUBSCRIBED")
	}
}

// TestTeardownClosesWithoutRescind follows Master::removeFramework
// (src/master/master.cpp): the framework is deactivated without rescinding
// its offers and its stream closes, so no RESCIND precedes the end.
func TestTeardownClosesWithoutRescind(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	s.next(scheduler.Event_OFFERS) // outstanding
	s.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	timeout := time.After(testTimeout)
	for {
		select {
		case ev, open := <-s.events:
			if !open {
				if n := len(c.Tasks()); n != 0 {
					t.Errorf("%d tasks after TEARDOWN", n)
				}
				return
			}
			if ev.GetType() == scheduler.Event_RESCIND {
				t.Errorf("RESCIND after TEARDOWN, want the stream to close without one")
			}
		case <-timeout:
			t.Fatal("the stream did not end after TEARDOWN")
		}
	}
}

// TestUpdateFramework follows Master::updateFramework
// (src/master/master.cpp) and validation::framework::validateUpdate
// (src/master/validation.cpp): 200 OK when applied, 400 with the master's
// message otherwise.
func TestUpdateFramework(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	update := func(mutate func(fi *mesos.FrameworkInfo), suppressed ...string) *scheduler.Call {
		fi := frameworkInfo("t")
		fi.ID = &mesos.FrameworkID{Value: s.fwID}
		mutate(&fi)
		return &scheduler.Call{Type: scheduler.Call_UPDATE_FRAMEWORK, UpdateFramework: &scheduler.Call_UpdateFramework{FrameworkInfo: fi, SuppressedRoles: suppressed}}
	}
	tests := []struct {
		name string
		call *scheduler.Call
		code int
		msg  string
	}{
		{name: "new name and capability", code: 200, call: update(func(fi *mesos.FrameworkInfo) {
			fi.Name = "renamed"
			fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}}
		})},
		{name: "another user", code: 400, msg: "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported; attempted to update from 'root' to 'nobody'",
			call: update(func(fi *mesos.FrameworkInfo) { fi.User = "nobody" })},
		{name: "invalid role", code: 400, msg: "Supplied FrameworkInfo is not valid: 'FrameworkInfo.role' is not a valid role: Role '/web' cannot start with a slash",
			call: update(func(fi *mesos.FrameworkInfo) { fi.Role = ptr("/web") })},
		{name: "suppressed role not its own", code: 400, msg: "'UpdateFramework' call is not valid: Suppressed roles { web } are not contained in the set of roles",
			call: update(func(fi *mesos.FrameworkInfo) {}, "web")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := s.call(tc.call); code != tc.code || body != tc.msg {
				t.Errorf("got %d %q, want %d %q", code, body, tc.code, tc.msg)
			}
		})
	}
	// The capability applied: an unknown task on the agent is TASK_GONE.
	s.mustCall(&scheduler.Call{Type: scheduler.Call_RECONCILE, Reconcile: &scheduler.Call_Reconcile{Tasks: []scheduler.Call_Reconcile_Task{
		{TaskID: mesos.TaskID{Value: "x"}, AgentID: &mesos.AgentID{Value: c.Agents()[0].ID}}}}})
	s.update("x", mesos.TASK_GONE)
}

// TestSubscribeRefusedFrameworkInfo follows Master::subscribe
// (src/master/master.cpp): a FrameworkInfo that validateFramework refuses
// (validation::framework::validate in src/master/validation.cpp) gets 200
// and a single ERROR event, then the stream ends.
func TestSubscribeRefusedFrameworkInfo(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	tests := []struct {
		name   string
		mutate func(fi *mesos.FrameworkInfo)
		want   string
	}{
		{"role with a dot component", func(fi *mesos.FrameworkInfo) { fi.Role = ptr("a/./b") }, "'FrameworkInfo.role' is not a valid role: Role 'a/./b' cannot include '.' as a component"},
		{"roles without MULTI_ROLE", func(fi *mesos.FrameworkInfo) { fi.Roles = []string{"web"} }, "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"},
		{"failover_timeout beyond int64 ns", func(fi *mesos.FrameworkInfo) { fi.FailoverTimeout = ptr(1e10) }, "The framework failover_timeout (1e+10) is invalid"},
	}
	// validation::framework::validateUpdate, called by Master::_subscribe.
	first := newSched(t, c, mediaJSON)
	fi := frameworkInfo("t")
	fi.FailoverTimeout, fi.Principal = ptr(60.0), ptr("a")
	first.subscribe(fi)
	tests = append(tests, struct {
		name   string
		mutate func(fi *mesos.FrameworkInfo)
		want   string
	}{"another principal on failover", func(fi *mesos.FrameworkInfo) {
		fi.ID, fi.Principal = &mesos.FrameworkID{Value: first.fwID}, ptr("b")
	}, "Changing framework's principal is not allowed."})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSched(t, c, mediaJSON)
			s.client = &http.Client{Timeout: testTimeout} // an accepted SUBSCRIBE's stream never ends
			fi := frameworkInfo("t")
			tc.mutate(&fi)
			resp := s.postSubscribe(fi, fi.ID)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"type":"ERROR"`) || !strings.Contains(string(b), tc.want) ||
				strings.Contains(string(b), "SUBSCRIBED") {
				t.Errorf("got %s %q, want 200 with only ERROR %q", resp.Status, b, tc.want)
			}
		})
	}
}

// TestAuthentication follows BasicAuthenticatorProcess::authenticate
// (3rdparty/libprocess/src/authenticator.cpp) with the master's realm
// DEFAULT_HTTP_FRAMEWORK_AUTHENTICATION_REALM (src/master/constants.hpp),
// and validation::scheduler::call::validate for a FrameworkInfo principal
// that is not the authenticated one (400, not 403).
func TestAuthentication(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, Auth: &Credentials{Principal: "p", Secret: "s"}})
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","principal":"q"}}}`
	basic := func(cred string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)) }
	for name, auth := range map[string]string{"none": "", "wrong secret": basic("p:x"), "colon in the secret": basic("p:s:x"), "not basic": "Bearer x"} {
		t.Run(name, func(t *testing.T) {
			code, hdr, got := rawPost(t, c, map[string]string{"Authorization": auth}, body)
			if code != http.StatusUnauthorized || got != "401 Unauthorized." || hdr.Get("WWW-Authenticate") != `Basic realm="mesos-master-scheduler"` {
				t.Errorf("got %d %q %v, want 401 with the master's realm", code, got, hdr)
			}
		})
	}
	code, _, got := rawPost(t, c, map[string]string{"Authorization": basic("p:s")}, body)
	if want := "Failed to validate scheduler::Call: Authenticated principal 'p' does not match principal 'q' set in `FrameworkInfo`"; code != http.StatusBadRequest || got != want {
		t.Errorf("principal mismatch: got %d %q, want 400 %q", code, got, want)
	}
}

// TestJSONUnknownOptionalEnumIsUnset follows stout's Parser for JSON
// strings (3rdparty/stout/include/stout/protobuf.hpp): an unknown name in an
// optional enum field leaves it unset instead of failing the call, as
// proto2 does; a master newer than the client's enum list still takes it.
func TestJSONUnknownOptionalEnumIsUnset(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n","capabilities":[{"type":"FROM_THE_FUTURE"},{"type":"PARTITION_AWARE"}]}}}`
	if code, _, got := rawPost(t, c, nil, body); code != http.StatusOK {
		t.Fatalf("SUBSCRIBE with an unknown capability: %d %q, want 200", code, got)
	}
	call, err := DecodeCall(mediaJSON, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	caps := call.Subscribe.FrameworkInfo.Capabilities
	if len(caps) != 2 || caps[0].Type != mesos.FrameworkInfo_Capability_UNKNOWN || caps[1].Type != mesos.FrameworkInfo_Capability_PARTITION_AWARE {
		t.Errorf("capabilities %v, want an unset one and PARTITION_AWARE", caps)
	}
}

// TestEveryUpdateCarriesContainerStatus follows Slave::statusUpdate and
// Slave::_statusUpdate (src/slave/slave.cpp): every update of a task that
// reached its executor gets the container's status (ID, executor PID, and
// the agent's IP when the container has no network info), not only
// TASK_RUNNING.
func TestEveryUpdateCarriesContainerStatus(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	s.mustCall(launchCall(o, 0, cmdTask(o, "t1", "exit 0", nil)))
	var container string
	for _, state := range []mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FINISHED} {
		st := s.update("t1", state)
		cs := st.GetContainerStatus()
		ip := ""
		if len(cs.GetNetworkInfos()) == 1 && len(cs.NetworkInfos[0].IPAddresses) == 1 {
			ip = cs.NetworkInfos[0].IPAddresses[0].GetIPAddress()
		}
		if cs.GetContainerID().GetValue() == "" || ip != "127.0.0.1" || (container != "" && cs.GetContainerID().GetValue() != container) {
			t.Errorf("%s: container_status %+v, want the task's container on 127.0.0.1", state, cs)
		}
		container = cs.GetContainerID().GetValue()
		if state != mesos.TASK_STARTING && int(cs.GetExecutorPID()) != c.Tasks()[0].PID {
			t.Errorf("%s: executor_pid %d, want the task's process %d", state, cs.GetExecutorPID(), c.Tasks()[0].PID)
		}
	}
}

// TestProtobufUnknownEnumIsUnset follows proto2 parsing, which the master's
// Master::Http::scheduler (src/master/http.cpp) relies on with
// ParseFromString: an enum value without a name is kept out of its field,
// so an optional field is unset and a required one is missing (the parse
// fails).
func TestProtobufUnknownEnumIsUnset(t *testing.T) {
	fi := frameworkInfo("t")
	fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: 99}, {Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}}
	sub := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &fi}}
	b, err := sub.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	call, err := DecodeCall(mediaProtobuf, b)
	if err != nil {
		t.Fatalf("SUBSCRIBE with an unknown capability: %v", err)
	}
	if caps := call.Subscribe.FrameworkInfo.Capabilities; len(caps) != 2 || caps[0].Type != mesos.FrameworkInfo_Capability_UNKNOWN || caps[1].Type != mesos.FrameworkInfo_Capability_PARTITION_AWARE {
		t.Errorf("capabilities %v, want an unset one and PARTITION_AWARE", caps)
	}
	// Resource.type is required: an unknown one fails the parse.
	o := mesos.Offer{AgentID: mesos.AgentID{Value: "a"}, ID: mesos.OfferID{Value: "o"}}
	acc := launchCall(o, 0, cmdTask(o, "t", "true", nil))
	acc.FrameworkID = &mesos.FrameworkID{Value: "f"}
	acc.Accept.Operations[0].Launch.TaskInfos[0].Resources[0].Type = mesos.Value_Type(99).Enum()
	if b, err = acc.Marshal(); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeCall(mediaProtobuf, b); err == nil || !strings.Contains(err.Error(), "Failed to parse body into Call protobuf") {
		t.Errorf("ACCEPT with an unknown Resource.type: %v, want the parse failure", err)
	}
}
