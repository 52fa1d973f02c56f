package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/internal/recordio"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 20 * time.Second

func startCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.AllocationInterval == 0 {
		cfg.AllocationInterval = 20 * time.Millisecond
	}
	if cfg.KillGracePeriod == 0 {
		cfg.KillGracePeriod = 2 * time.Second
	}
	c, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// sched is a minimal v1 scheduler speaking raw HTTP, to check the wire.
type sched struct {
	t        testing.TB
	c        *Cluster
	url      string
	client   *http.Client
	media    string
	streamID string
	fwID     string
	events   chan *scheduler.Event
	resp     *http.Response
	header   http.Header
	auth     *Credentials
	backlog  []*scheduler.Event // events read but not matched yet
}

func newSched(t testing.TB, c *Cluster, media string) *sched {
	return &sched{t: t, c: c, url: c.URL(), client: &http.Client{}, media: media}
}

func (s *sched) encode(call *scheduler.Call) []byte {
	s.t.Helper()
	b, err := marshal(s.media, call)
	if err != nil {
		s.t.Fatalf("encode %v: %v", call.Type, err)
	}
	return b
}

func (s *sched) post(body []byte, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", s.media)
	req.Header.Set("Accept", s.media)
	if s.auth != nil {
		req.SetBasicAuth(s.auth.Principal, s.auth.Secret)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return s.client.Do(req)
}

// postSubscribe posts a SUBSCRIBE of fi with the top-level framework_id
// fid; the caller closes the response's body, closed at the test's end too.
func (s *sched) postSubscribe(fi mesos.FrameworkInfo, fid *mesos.FrameworkID) *http.Response {
	s.t.Helper()
	call := &scheduler.Call{Type: scheduler.Call_SUBSCRIBE, FrameworkID: fid, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &fi}}
	resp, err := s.post(s.encode(call), nil)
	if err != nil {
		s.t.Fatalf("SUBSCRIBE: %v", err)
	}
	s.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// subscribe subscribes (with fi, and its ID as the top-level framework_id)
// and starts reading events.
func (s *sched) subscribe(fi mesos.FrameworkInfo) *scheduler.Event_Subscribed {
	s.t.Helper()
	resp := s.postSubscribe(fi, fi.ID)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.t.Fatalf("SUBSCRIBE: %s: %s", resp.Status, b)
	}
	s.resp = resp
	s.header = resp.Header
	s.streamID = resp.Header.Get("Mesos-Stream-Id")
	s.events = make(chan *scheduler.Event, 1000)
	go func(events chan *scheduler.Event) {
		defer close(events)
		r := recordio.NewReader(resp.Body, maxBodyBytes)
		for {
			b, err := r.ReadRecord()
			if err != nil {
				return
			}
			ev := new(scheduler.Event)
			if s.media == mediaProtobuf {
				err = ev.Unmarshal(b)
			} else {
				err = json.Unmarshal(b, ev)
			}
			if err != nil {
				s.t.Errorf("decode event %q: %v", b, err)
				return
			}
			events <- ev
		}
	}(s.events)
	ev := s.next(scheduler.Event_SUBSCRIBED)
	s.fwID = ev.Subscribed.FrameworkID.Value
	return ev.Subscribed
}

// disconnect closes the subscription stream.
func (s *sched) disconnect() {
	s.resp.Body.Close()
	for range s.events {
	}
	s.backlog = nil
}

// next returns the next event of type typ; events of other types are kept
// in the backlog for later calls.
func (s *sched) next(typ scheduler.Event_Type) *scheduler.Event {
	s.t.Helper()
	return s.nextMatch(typ.String(), func(ev *scheduler.Event) bool { return ev.Type == typ })
}

func (s *sched) nextMatch(what string, match func(*scheduler.Event) bool) *scheduler.Event {
	s.t.Helper()
	for i, ev := range s.backlog {
		if match(ev) {
			s.backlog = append(s.backlog[:i:i], s.backlog[i+1:]...)
			return ev
		}
	}
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("stream ended while waiting for %s", what)
			}
			if match(ev) {
				return ev
			}
			if ev.Type != scheduler.Event_HEARTBEAT {
				s.backlog = append(s.backlog, ev)
			}
		case <-timer.C:
			s.t.Fatalf("no %s within %v", what, testTimeout)
		}
	}
}

// update waits for an UPDATE of task id in state want, acknowledging
// updates that carry a uuid on the way.
func (s *sched) update(id string, want mesos.TaskState) mesos.TaskStatus {
	s.t.Helper()
	ev := s.nextMatch("UPDATE "+id+" "+want.String(), func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_UPDATE || ev.Update.Status.TaskID.Value != id {
			return false
		}
		st := ev.Update.Status
		if len(st.UUID) > 0 {
			s.ack(st)
		}
		return st.GetState() == want
	})
	return ev.Update.Status
}

func (s *sched) ack(st mesos.TaskStatus) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_ACKNOWLEDGE, Acknowledge: &scheduler.Call_Acknowledge{
		AgentID: *st.AgentID, TaskID: st.TaskID, UUID: st.UUID}})
}

// call sends a non-SUBSCRIBE call and returns the status and body.
func (s *sched) call(call *scheduler.Call) (int, string) {
	s.t.Helper()
	if call.FrameworkID == nil && s.fwID != "" {
		call.FrameworkID = &mesos.FrameworkID{Value: s.fwID}
	}
	resp, err := s.post(s.encode(call), map[string]string{"Mesos-Stream-Id": s.streamID})
	if err != nil {
		s.t.Fatalf("%v: %v", call.Type, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *sched) mustCall(call *scheduler.Call) {
	s.t.Helper()
	if code, body := s.call(call); code != http.StatusAccepted {
		s.t.Fatalf("%v: %d %s, want 202", call.Type, code, body)
	}
}

func frameworkInfo(name string) mesos.FrameworkInfo {
	return mesos.FrameworkInfo{User: "root", Name: name}
}

// cmdTask is a command task using cpus/mem of offer o.
func cmdTask(o mesos.Offer, id, shell string, env map[string]string) mesos.TaskInfo {
	ti := mesos.TaskInfo{
		Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
		Resources: mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)},
		Command:   &mesos.CommandInfo{Value: ptr(shell)},
	}
	if len(env) > 0 {
		ti.Command.Environment = &mesos.Environment{}
		for k, v := range env {
			ti.Command.Environment.Variables = append(ti.Command.Environment.Variables, mesos.Environment_Variable{Name: k, Value: ptr(v)})
		}
	}
	return ti
}

func launchCall(o mesos.Offer, refuse float64, tasks ...mesos.TaskInfo) *scheduler.Call {
	return &scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
		OfferIDs:   []mesos.OfferID{o.ID},
		Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH, Launch: &mesos.Offer_Operation_Launch{TaskInfos: tasks}}},
		Filters:    &mesos.Filters{RefuseSeconds: &refuse},
	}}
}

func offerCPUs(o mesos.Offer) (cpus, mem float64, ports []mesos.Value_Range) {
	for _, r := range o.Resources {
		switch r.Name {
		case "cpus":
			cpus += r.GetScalar().GetValue()
		case "mem":
			mem += r.GetScalar().GetValue()
		case "ports":
			ports = append(ports, r.GetRanges().GetRange()...)
		}
	}
	return
}

func (s *sched) decline(o mesos.Offer, refuse float64) {
	s.t.Helper()
	s.mustCall(&scheduler.Call{Type: scheduler.Call_DECLINE, Decline: &scheduler.Call_Decline{OfferIDs: []mesos.OfferID{o.ID}, Filters: &mesos.Filters{RefuseSeconds: &refuse}}})
}

// use makes s report to t (a subtest) until the returned func is called.
func (s *sched) use(t *testing.T) func() {
	old := s.t
	s.t = t
	return func() { s.t = old }
}

// processGone reports whether pid has exited (a zombie waiting for a reaper
// counts as gone: PID 1 here may reap late).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may contain spaces, so look after the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}
