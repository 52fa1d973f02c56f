package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/webfarm/webfarm/internal/recordio"
)

// runTestExecutor is a small v1 HTTP executor (JSON): it reports launched
// tasks RUNNING (and FINISHED for tasks named "finish"), answers KILL with
// TASK_KILLED, echoes MESSAGE data back and exits 0 on SHUTDOWN.
func runTestExecutor() int {
	url := "http://" + os.Getenv("MESOS_AGENT_ENDPOINT") + ExecutorPath
	fw := mesos.FrameworkID{Value: os.Getenv("MESOS_FRAMEWORK_ID")}
	ex := mesos.ExecutorID{Value: os.Getenv("MESOS_EXECUTOR_ID")}
	post := func(call *mexec.Call) (*http.Response, error) {
		call.FrameworkID, call.ExecutorID = fw, ex
		b, err := json.Marshal(call)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", mediaJSON)
		req.Header.Set("Accept", mediaJSON)
		return http.DefaultClient.Do(req)
	}
	send := func(call *mexec.Call) {
		resp, err := post(call)
		if err != nil {
			fmt.Fprintln(os.Stderr, "call:", err)
			os.Exit(4)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			fmt.Fprintln(os.Stderr, "call:", resp.Status)
			os.Exit(5)
		}
	}
	update := func(id mesos.TaskID, state mesos.TaskState) {
		send(&mexec.Call{Type: mexec.Call_UPDATE, Update: &mexec.Call_Update{Status: mesos.TaskStatus{
			TaskID: id, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: newUUID(), ExecutorID: &ex}}})
	}
	resp, err := post(&mexec.Call{Type: mexec.Call_SUBSCRIBE, Subscribe: &mexec.Call_Subscribe{}})
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "subscribe:", err, resp)
		return 2
	}
	defer resp.Body.Close()
	r := recordio.NewReader(resp.Body, 0)
	for {
		rec, err := r.ReadRecord()
		if err != nil {
			fmt.Fprintln(os.Stderr, "stream:", err)
			return 3
		}
		var ev mexec.Event
		if err := json.Unmarshal(rec, &ev); err != nil {
			fmt.Fprintln(os.Stderr, "event:", err)
			return 3
		}
		switch ev.Type {
		case mexec.Event_LAUNCH:
			update(ev.Launch.Task.TaskID, mesos.TASK_RUNNING)
			if ev.Launch.Task.Name == "finish" {
				update(ev.Launch.Task.TaskID, mesos.TASK_FINISHED)
			}
		case mexec.Event_KILL:
			update(ev.Kill.TaskID, mesos.TASK_KILLED)
		case mexec.Event_MESSAGE:
			send(&mexec.Call{Type: mexec.Call_MESSAGE, Message: &mexec.Call_Message{Data: ev.Message.Data}})
		case mexec.Event_SHUTDOWN:
			return 0
		}
	}
}
