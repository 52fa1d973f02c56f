package local

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func TestExecutorAPIErrors(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	url := "http://" + c.Agents()[0].Endpoint + ExecutorPath
	tests := []struct {
		name    string
		method  string
		ctype   string
		body    string
		want    int
		wantMsg string
	}{
		{name: "GET", method: http.MethodGet, ctype: mediaJSON, body: `{}`, want: 405},
		{name: "no content type", body: `{}`, want: 400, wantMsg: "Content-Type"},
		{name: "bad JSON", ctype: mediaJSON, body: `{"type":`, want: 400, wantMsg: "Failed to parse"},
		{name: "no IDs", ctype: mediaJSON, body: `{"type":"SUBSCRIBE"}`, want: 400, wantMsg: "executor_id"},
		{name: "unknown executor", ctype: mediaJSON, body: `{"type":"SUBSCRIBE","framework_id":{"value":"f"},"executor_id":{"value":"e"}}`, want: 400, wantMsg: "cannot be found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, url, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantMsg) {
				t.Errorf("got %d %q, want %d containing %q", resp.StatusCode, b, tc.want, tc.wantMsg)
			}
		})
	}
}

func TestCustomExecutor(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaProtobuf)
	s.subscribe(frameworkInfo("t"))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	executor := func(id, cmd string) *mesos.ExecutorInfo {
		return &mesos.ExecutorInfo{Type: mesos.ExecutorInfo_CUSTOM, ExecutorID: mesos.ExecutorID{Value: id},
			Resources: mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)},
			Command: &mesos.CommandInfo{Value: ptr(cmd), Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: "LOCAL_TEST_HELPER", Value: ptr("executor")}}}}}
	}
	task := func(o mesos.Offer, id, name string, ei *mesos.ExecutorInfo) mesos.TaskInfo {
		return mesos.TaskInfo{Name: name, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Executor: ei,
			Resources: mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)}}
	}
	e1 := executor("e1", "exec '"+exe+"' executor")
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	// validation::task::internal::validateTask (src/master/validation.cpp)
	// takes a health check on a task of a custom executor: running it is
	// that executor's job.
	stay := task(o, "stay", "stay", e1)
	stay.HealthCheck = &mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1}}
	s.mustCall(launchCall(o, 0, stay, task(o, "done", "finish", e1)))
	for _, id := range []string{"stay", "done"} {
		if st := s.update(id, mesos.TASK_RUNNING); st.GetExecutorID().GetValue() != "e1" || st.GetSource() != mesos.SOURCE_EXECUTOR {
			t.Errorf("%s RUNNING: %+v, want it from executor e1", id, st)
		}
	}
	s.update("done", mesos.TASK_FINISHED)
	// The agent's next offer names the running executor, without its resources.
	o2 := s.nextMatch("an offer without the executor's and one task's resources", func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		o := ev.Offers.Offers[0]
		if cpus, mem, _ := offerCPUs(o); cpus == DefaultCPUs-0.2 && mem == DefaultMem-64 {
			return true
		}
		s.decline(o, 0) // made before "done" ended
		return false
	}).Offers.Offers[0]
	if len(o2.ExecutorIDs) != 1 || o2.ExecutorIDs[0].Value != "e1" {
		t.Errorf("offer executor_ids %v, want [e1]", o2.ExecutorIDs)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_MESSAGE, Message: &scheduler.Call_Message{AgentID: o.AgentID, ExecutorID: mesos.ExecutorID{Value: "e1"}, Data: []byte("ping")}})
	if m := s.next(scheduler.Event_MESSAGE).Message; string(m.Data) != "ping" || m.ExecutorID.Value != "e1" {
		t.Errorf("MESSAGE %+v, want ping echoed by e1", m)
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "stay"}}})
	s.update("stay", mesos.TASK_KILLED)
	s.mustCall(&scheduler.Call{Type: scheduler.Call_SHUTDOWN, Shutdown: &scheduler.Call_Shutdown{AgentID: o.AgentID, ExecutorID: mesos.ExecutorID{Value: "e1"}}})
	if f := s.next(scheduler.Event_FAILURE).Failure; f.GetExecutorID().GetValue() != "e1" || f.GetStatus() != 0 {
		t.Errorf("FAILURE %+v, want executor e1 exited 0", f)
	}
	t.Run("executor that dies fails its task", func(t *testing.T) {
		defer s.use(t)()
		s.decline(o2, 0)
		o := s.nextMatch("a full offer", func(ev *scheduler.Event) bool {
			if ev.Type != scheduler.Event_OFFERS {
				return false
			}
			if cpus, _, _ := offerCPUs(ev.Offers.Offers[0]); cpus == DefaultCPUs {
				return true
			}
			s.decline(ev.Offers.Offers[0], 0)
			return false
		}).Offers.Offers[0]
		s.mustCall(launchCall(o, 0, task(o, "doomed", "doomed", executor("e2", "exit 7"))))
		st := s.update("doomed", mesos.TASK_FAILED)
		if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || !strings.Contains(st.GetMessage(), "status 7") {
			t.Errorf("%+v: want REASON_EXECUTOR_TERMINATED, exit status 7", st)
		}
		if f := s.next(scheduler.Event_FAILURE).Failure; f.GetExecutorID().GetValue() != "e2" || f.GetStatus() != 7 {
			t.Errorf("FAILURE %+v, want executor e2 status 7", f)
		}
	})
}
