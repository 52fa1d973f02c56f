package local

import (
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
			s.next(scheduler.Event_HEARTBEAT)
		})
	}
}

func TestCallErrors(t *testing.T) {
	c := startCluster(t, Config{})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	good := `{"type":"REVIVE","framework_id":{"value":"` + s.fwID + `"}}`
	tests := []struct {
		name     string
		method   string
		ctype    string
		accept   string
		streamID string
		body     string
		want     int
		wantMsg  string
	}{
		{name: "ok", body: good, want: 202},
		{name: "GET", method: http.MethodGet, body: good, want: 405},
		{name: "no content type", ctype: "-", body: good, want: 400, wantMsg: "Content-Type"},
		{name: "text content type", ctype: "text/plain", body: good, want: 415},
		{name: "unparsable JSON", body: `{"type":`, want: 400, wantMsg: "Failed to parse"},
		{name: "unparsable protobuf", ctype: mediaProtobuf, body: "\xff\xff\xff", want: 400, wantMsg: "Failed to parse"},
		{name: "no stream ID", streamID: "-", body: good, want: 400, wantMsg: "Mesos-Stream-Id"},
		{name: "wrong stream ID", streamID: "00000000-0000-0000-0000-000000000000", body: good, want: 400, wantMsg: "didn't match"},
		{name: "no framework ID", body: `{"type":"REVIVE"}`, want: 400, wantMsg: "framework_id"},
		{name: "unknown framework", body: `{"type":"REVIVE","framework_id":{"value":"nope"}}`, want: 400, wantMsg: "cannot be found"},
		{name: "UNKNOWN call", body: `{"type":"UNKNOWN","framework_id":{"value":"` + s.fwID + `"}}`, want: 501},
		{name: "ACK uuid too short", body: `{"type":"ACKNOWLEDGE","framework_id":{"value":"` + s.fwID + `"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"AAEC"}}`, want: 400, wantMsg: "UUID"},
		{name: "ACCEPT missing accept", body: `{"type":"ACCEPT","framework_id":{"value":"` + s.fwID + `"}}`, want: 400, wantMsg: "'accept'"},
		{name: "ACCEPT with RESERVE", body: `{"type":"ACCEPT","framework_id":{"value":"` + s.fwID + `"},"accept":{"offer_ids":[],"operations":[{"type":"RESERVE","reserve":{"resources":[]}}]}}`, want: 501, wantMsg: "RESERVE"},
		{name: "SUBSCRIBE with stream ID", body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, want: 400, wantMsg: "should not include"},
		{name: "SUBSCRIBE without framework_info", streamID: "-", body: `{"type":"SUBSCRIBE","subscribe":{}}`, want: 400, wantMsg: "framework_info"},
		{name: "SUBSCRIBE not acceptable", streamID: "-", accept: "text/html", body: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, want: 406},
		{name: "too large", body: `{"type":"REVIVE","x":"` + strings.Repeat("a", maxBodyBytes) + `"}`, want: 413},
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
			default:
				req.Header.Set("Mesos-Stream-Id", tc.streamID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := make([]byte, 512)
			n, _ := resp.Body.Read(b)
			if resp.StatusCode != tc.want || !strings.Contains(string(b[:n]), tc.wantMsg) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, b[:n], tc.want, tc.wantMsg)
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
