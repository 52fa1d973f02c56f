package local

import (
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

var mediaTypes = []string{mediaJSON, mediaProtobuf}

func TestSubscribeOffersHeartbeat(t *testing.T) {
	for _, media := range mediaTypes {
		t.Run(media, func(t *testing.T) {
			c := startCluster(t, Config{HeartbeatInterval: 50 * time.Millisecond, Ports: PortRange{31000, 31999}})
			s := newSched(t, c, media)
			sub := s.subscribe(frameworkInfo("t"))
			if got := s.header.Get("Content-Type"); got != media {
				t.Errorf("Content-Type = %q, want %q", got, media)
			}
			if s.streamID == "" || len(s.streamID) != 36 {
				t.Errorf("Mesos-Stream-Id = %q, want a UUID", s.streamID)
			}
			if sub.FrameworkID.GetValue() == "" || sub.GetHeartbeatIntervalSeconds() != 0.05 {
				t.Errorf("SUBSCRIBED = %+v, want a framework ID and heartbeat 0.05", sub)
			}
			agents := map[string]mesos.Offer{}
			for len(agents) < 2 {
				for _, o := range s.next(scheduler.Event_OFFERS).Offers.Offers {
					agents[o.AgentID.Value] = o
				}
			}
			var prevEnd uint64
			for _, a := range c.Agents() {
				o := agents[a.ID]
				cpus, mem, ports := offerCPUs(o)
				if cpus != DefaultCPUs || mem != DefaultMem || o.Hostname != "127.0.0.1" || o.FrameworkID.Value != s.fwID {
					t.Errorf("offer %+v: cpus %v mem %v, want %v %v on 127.0.0.1", o, cpus, mem, DefaultCPUs, DefaultMem)
				}
				if a.Ports.Begin <= prevEnd || a.Ports.End-a.Ports.Begin != 499 {
					t.Errorf("agent %s has ports %v: want 500 ports not overlapping the previous agent's", a.ID, a.Ports)
				}
				if err := offeredShare(ports, a.Ports); err != nil {
					t.Errorf("agent %s: %v", a.ID, err)
				}
				prevEnd = a.Ports.End
			}
			// The first HEARTBEAT follows SUBSCRIBED at once; the second
			// comes after the interval.
			s.next(scheduler.Event_HEARTBEAT)
			s.next(scheduler.Event_HEARTBEAT)
		})
	}
}

// TestCallErrors checks the answers of Master::Http::scheduler
// (src/master/http.cpp) and validation::scheduler::call::validate
// (src/master/validation.cpp) to bad calls, in the order they are checked:
// status code, body and headers.
func TestCallErrors(t *testing.T) {
	c := startCluster(t, Config{})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	fid := `"framework_id":{"value":"` + s.fwID + `"}`
	good := `{"type":"REVIVE",` + fid + `}`
	const invalid = "Failed to validate scheduler::Call: "
	tests := []struct {
		name     string
		method   string
		ctype    string
		accept   string
		streamID string
		body     string
		want     int
		wantMsg  string // the whole body; "*" skips the check
		wantHdr  [2]string
	}{
		{name: "ok", body: good, want: 202},
		{name: "GET", method: http.MethodGet, body: good, want: 405, wantMsg: "405 Method Not Allowed. Expecting one of { 'POST' }, but received 'GET'.", wantHdr: [2]string{"Allow", "POST"}},
		{name: "no content type", ctype: "-", body: good, want: 400, wantMsg: "Expecting 'Content-Type' to be present"},
		{name: "text content type", ctype: "text/plain", body: good, want: 415, wantMsg: "Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{name: "unparsable JSON", body: `{"type":`, want: 400, wantMsg: "*"},
		{name: "JSON array", body: `[]`, want: 400, wantMsg: "Failed to convert JSON into Call protobuf: Expecting a JSON object"},
		{name: "JSON string for a message", body: `{"type":"REVIVE","framework_id":"x"}`, want: 400, wantMsg: "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'framework_id'"},
		{name: "unparsable protobuf", ctype: mediaProtobuf, body: "\xff\xff\xff", want: 400, wantMsg: "Failed to parse body into Call protobuf"},
		{name: "no stream ID", streamID: "-", body: good, want: 400, wantMsg: "All non-subscribe calls should include the 'Mesos-Stream-Id' header"},
		{name: "empty stream ID", streamID: " ", body: good, want: 400, wantMsg: "The stream ID '' included in this request didn't match the stream ID currently associated with framework ID " + s.fwID},
		{name: "wrong stream ID", streamID: "00000000-0000-0000-0000-000000000000", body: good, want: 400, wantMsg: "The stream ID '00000000-0000-0000-0000-000000000000' included in this request didn't match the stream ID currently associated with framework ID " + s.fwID},
		{name: "no framework ID", body: `{"type":"REVIVE"}`, want: 400, wantMsg: invalid + "Expecting 'framework_id' to be present"},
		{name: "empty framework ID", body: `{"type":"REVIVE","framework_id":{"value":""}}`, want: 400, wantMsg: "Framework cannot be found"},
		{name: "unknown framework", body: `{"type":"REVIVE","framework_id":{"value":"nope"}}`, want: 400, wantMsg: "Framework cannot be found"},
		{name: "UNKNOWN call", body: `{"type":"UNKNOWN",` + fid + `}`, want: 501, wantMsg: "501 Not Implemented."},
		{name: "UNKNOWN call without framework ID", body: `{"type":"UNKNOWN"}`, want: 400, wantMsg: invalid + "Expecting 'framework_id' to be present"},
		{name: "UNKNOWN call of an unknown framework", body: `{"type":"UNKNOWN","framework_id":{"value":"nope"}}`, want: 400, wantMsg: "Framework cannot be found"},
		{name: "ACK uuid too short", body: `{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`, want: 400, wantMsg: invalid + "Not a valid UUID"},
		{name: "ACK uuid of no known version", body: `{"type":"ACKNOWLEDGE",` + fid + `,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAAAAAAAAAAAAAAAAAAAAA=="}}`, want: 400, wantMsg: invalid + "Not a valid UUID"},
		{name: "ACCEPT missing accept", body: `{"type":"ACCEPT",` + fid + `}`, want: 400, wantMsg: invalid + "Expecting 'accept' to be present"},
		{name: "KILL missing kill", body: `{"type":"KILL",` + fid + `}`, want: 400, wantMsg: invalid + "Expecting 'kill' to be present"},
		{name: "KILL with a negative grace period", body: `{"type":"KILL",` + fid + `,"kill":{"task_id":{"value":"x"},"kill_policy":{"grace_period":{"nanoseconds":-1}}}}`, want: 202},
		{name: "UPDATE_FRAMEWORK of another ID", body: `{"type":"UPDATE_FRAMEWORK",` + fid + `,"update_framework":{"framework_info":{"user":"u","name":"n","id":{"value":"x"}}}}`, want: 400, wantMsg: invalid + "'framework_id' differs from 'update_framework.framework_info.id'"},
		{name: "ACCEPT with CREATE", body: `{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[],"operations":[{"type":"CREATE","create":{"volumes":[]}}]}}`, want: 501, wantMsg: "*"},
		{name: "ACCEPT with RESERVE without reserve", body: `{"type":"ACCEPT",` + fid + `,"accept":{"offer_ids":[],"operations":[{"type":"RESERVE"}]}}`, want: 400, wantMsg: "Expecting 'accept.operations[0].reserve' to be present"},
		{name: "SUBSCRIBE with stream ID", body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, want: 400, wantMsg: "Subscribe calls should not include the 'Mesos-Stream-Id' header"},
		{name: "SUBSCRIBE with an empty stream ID", streamID: " ", body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, want: 400, wantMsg: "Subscribe calls should not include the 'Mesos-Stream-Id' header"},
		{name: "SUBSCRIBE without subscribe", streamID: "-", body: `{"type":"SUBSCRIBE"}`, want: 400, wantMsg: invalid + "Expecting 'subscribe' to be present"},
		{name: "SUBSCRIBE not acceptable", streamID: "-", accept: "text/html", body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, want: 406, wantMsg: "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
		{name: "RECONCILE_OPERATIONS not acceptable", accept: "text/html", body: `{"type":"RECONCILE_OPERATIONS",` + fid + `,"reconcile_operations":{}}`, want: 406, wantMsg: "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
		{name: "invalid before not acceptable", streamID: "-", accept: "text/html", body: `{"type":"SUBSCRIBE"}`, want: 400, wantMsg: invalid + "Expecting 'subscribe' to be present"},
		{name: "too large", body: `{"type":"REVIVE","x":"` + strings.Repeat("a", maxBodyBytes) + `"}`, want: 413, wantMsg: "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, c.URL(), strings.NewReader(tc.body))
			switch tc.ctype {
			case "":
				req.Header.Set("Content-Type", mediaJSON)
			case "-":
			default:
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			switch tc.streamID {
			case "":
				req.Header.Set("Mesos-Stream-Id", s.streamID)
			case "-":
			case " ":
				req.Header["Mesos-Stream-Id"] = []string{""}
			default:
				req.Header.Set("Mesos-Stream-Id", tc.streamID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || (tc.wantMsg != "*" && string(b) != tc.wantMsg) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, b, tc.want, tc.wantMsg)
			}
			if tc.want >= 400 && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q, want libprocess's text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
			}
			if h := tc.wantHdr; h[0] != "" && resp.Header.Get(h[0]) != h[1] {
				t.Errorf("%s: %q, want %q", h[0], resp.Header.Get(h[0]), h[1])
			}
		})
	}
}

func TestLaunchFinishAckAndResources(t *testing.T) {
	for _, media := range mediaTypes {
		t.Run(media, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 1})
			s := newSched(t, c, media)
			s.subscribe(frameworkInfo("t"))
			o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			task := cmdTask(o, "t1", `echo "$GREETING" > out; pwd > where; exec sleep 30`, map[string]string{"GREETING": "hello world"})
			s.mustCall(launchCall(o, 0, task))
			starting := s.update("t1", mesos.TASK_STARTING)
			running := s.update("t1", mesos.TASK_RUNNING)
			if len(starting.UUID) != 16 || len(running.UUID) != 16 || string(starting.UUID) == string(running.UUID) {
				t.Errorf("uuids %x %x: want two distinct 16-byte uuids", starting.UUID, running.UUID)
			}
			if running.GetAgentID().GetValue() != o.AgentID.Value || running.GetSource() != mesos.SOURCE_EXECUTOR {
				t.Errorf("RUNNING update %+v: want agent %s, source executor", running, o.AgentID.Value)
			}
			if cs := running.GetContainerStatus(); len(cs.GetNetworkInfos()) != 1 || cs.NetworkInfos[0].IPAddresses[0].GetIPAddress() != "127.0.0.1" ||
				int(cs.GetExecutorPID()) != c.Tasks()[0].PID {
				t.Errorf("RUNNING container_status %+v: want IP 127.0.0.1 and the task's pid", cs)
			}
			// The offer shrinks by the task's resources.
			o2 := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			if cpus, mem, _ := offerCPUs(o2); cpus != DefaultCPUs-0.1 || mem != DefaultMem-32 {
				t.Errorf("offer while running: cpus %v mem %v, want %v %v", cpus, mem, DefaultCPUs-0.1, DefaultMem-32)
			}
			s.decline(o2, 0)
			ti := c.Tasks()[0]
			waitFile := func(name string) string {
				deadline := time.Now().Add(testTimeout)
				for {
					b, err := os.ReadFile(filepath.Join(ti.Sandbox, name))
					if err == nil && len(b) > 0 {
						return string(b)
					}
					if time.Now().After(deadline) {
						t.Fatalf("no %s in the sandbox", name)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if got := waitFile("out"); got != "hello world\n" {
				t.Errorf("task wrote %q, want the environment variable's value", got)
			}
			if got := strings.TrimSpace(waitFile("where")); got != ti.Sandbox {
				t.Errorf("task ran in %q, want its sandbox %q", got, ti.Sandbox)
			}
			s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: task.TaskID}})
			killed := s.update("t1", mesos.TASK_KILLED)
			if !strings.Contains(killed.GetMessage(), "signal Terminated") {
				t.Errorf("KILLED message %q, want the SIGTERM", killed.GetMessage())
			}
			// Resources come back.
			o3 := s.nextMatch("a full offer", func(ev *scheduler.Event) bool {
				if ev.Type != scheduler.Event_OFFERS {
					return false
				}
				o := ev.Offers.Offers[0]
				if cpus, mem, _ := offerCPUs(o); cpus == DefaultCPUs && mem == DefaultMem {
					return true
				}
				s.decline(o, 0)
				return false
			}).Offers.Offers[0]
			// A shell task that exits 0 finishes; one exiting 3 fails.
			s.mustCall(launchCall(o3, 0, cmdTask(o3, "ok", "exit 0", nil), cmdTask(o3, "bad", "exit 3", nil)))
			s.update("ok", mesos.TASK_FINISHED)
			failed := s.update("bad", mesos.TASK_FAILED)
			if failed.GetMessage() != "Command exited with status 3" {
				t.Errorf("FAILED message %q", failed.GetMessage())
			}
			waitFor(t, "acknowledged tasks leave the master", func() bool {
				for _, ti := range c.Tasks() {
					if ti.Ended.IsZero() || ti.Pending > 0 {
						return false
					}
				}
				return len(c.Tasks()) == 3
			})
		})
	}
}

// waitFor polls cond (every 10 ms, up to testTimeout).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
