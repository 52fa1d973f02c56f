package local

import (
	"context"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// FuzzDecodeCall feeds arbitrary bodies to the master's call decoder: it
// must never panic, and a call it accepts must survive a round trip through
// its own encoding. Seeds: testdata/fuzz/FuzzDecodeCall plus the calls below.
func FuzzDecodeCall(f *testing.F) {
	for _, call := range seedCalls() {
		for _, media := range []string{mediaJSON, mediaProtobuf} {
			b, err := marshal(media, call)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(media, b)
		}
	}
	// The master compares the media type exactly: this one is refused (415
	// on the wire; see TestContentTypeIsExact).
	f.Add(mediaJSON+"; charset=utf-8", []byte(`{"type":"REVIVE","framework_id":{"value":"x"}}`))
	f.Add("text/plain", []byte("hello"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		call, err := DecodeCall(contentType, body)
		if err != nil {
			if call != nil {
				t.Fatalf("DecodeCall returned both a call and error %v", err)
			}
			return
		}
		for _, media := range []string{mediaJSON, mediaProtobuf} {
			b, err := marshal(media, call)
			if err != nil {
				t.Fatalf("accepted call does not encode as %s: %v", media, err)
			}
			again, err := DecodeCall(media, b)
			if err != nil {
				t.Fatalf("accepted call fails to decode after a %s round trip: %v\n%q", media, err, b)
			}
			if media == mediaProtobuf && !again.Equal(call) {
				t.Fatalf("protobuf round trip changed the call:\n%v\n%v", call, again)
			}
		}
	})
}

func seedCalls() []*scheduler.Call {
	fid := &mesos.FrameworkID{Value: "fw-1"}
	return []*scheduler.Call{
		{Type: scheduler.Call_SUBSCRIBE, Subscribe: &scheduler.Call_Subscribe{FrameworkInfo: &mesos.FrameworkInfo{User: "u", Name: "n", FailoverTimeout: ptr(5.0)}}},
		{Type: scheduler.Call_ACCEPT, FrameworkID: fid, Accept: &scheduler.Call_Accept{
			OfferIDs: []mesos.OfferID{{Value: "o1"}},
			Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH, Launch: &mesos.Offer_Operation_Launch{TaskInfos: []mesos.TaskInfo{{
				Name: "t", TaskID: mesos.TaskID{Value: "t"}, AgentID: mesos.AgentID{Value: "a"},
				Resources: mesos.Resources{scalar("cpus", 0.1), portsResource(31000, 31001)},
				Command:   &mesos.CommandInfo{Value: ptr("echo hi")},
			}}}}},
			Filters: &mesos.Filters{RefuseSeconds: ptr(1.0)},
		}},
		{Type: scheduler.Call_DECLINE, FrameworkID: fid, Decline: &scheduler.Call_Decline{OfferIDs: []mesos.OfferID{{Value: "o1"}}}},
		{Type: scheduler.Call_ACKNOWLEDGE, FrameworkID: fid, Acknowledge: &scheduler.Call_Acknowledge{AgentID: mesos.AgentID{Value: "a"}, TaskID: mesos.TaskID{Value: "t"}, UUID: newUUID()}},
		{Type: scheduler.Call_KILL, FrameworkID: fid, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "t"}, KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: 1e9}}}},
		{Type: scheduler.Call_RECONCILE, FrameworkID: fid, Reconcile: &scheduler.Call_Reconcile{}},
		{Type: scheduler.Call_SUPPRESS, FrameworkID: fid, Suppress: &scheduler.Call_Suppress{}},
		{Type: scheduler.Call_TEARDOWN, FrameworkID: fid},
	}
}

// FuzzHandleCall runs decoded calls (but SUBSCRIBE and TEARDOWN) through a
// live master (one cluster per fuzz process, a subscribed framework): no
// input may panic or wedge it.
// Commands are replaced by "exit 0" so that fuzzed tasks run nothing
// harmful; the placeholder offer ID "o1" and agent ID "a" of the seeds are
// swapped for a real outstanding offer so that launches get exercised.
func FuzzHandleCall(f *testing.F) {
	for _, call := range seedCalls() {
		b, err := marshal(mediaProtobuf, call)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c, err := Start(context.Background(), Config{Agents: 2, AllocationInterval: 10 * time.Millisecond,
		KillGracePeriod: 10 * time.Millisecond, StatusUpdateRetry: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	s := newSched(f, c, mediaProtobuf)
	s.subscribe(frameworkInfo("fuzz"))
	go func() {
		for range s.events {
		}
	}()
	safe := func(ci *mesos.CommandInfo) {
		if ci != nil {
			*ci = mesos.CommandInfo{Value: ptr("exit 0"), Environment: ci.Environment}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		call, herr := decodeCall(mediaProtobuf, body, "")
		if herr != nil || call.Type == scheduler.Call_SUBSCRIBE || call.Type == scheduler.Call_TEARDOWN {
			return // TEARDOWN would end the framework the harness needs (unit-tested elsewhere)
		}
		call.FrameworkID = &mesos.FrameworkID{Value: s.fwID}
		c.mu.Lock()
		var o *offer
		for _, x := range c.offers {
			o = x
			break
		}
		c.mu.Unlock()
		if a := call.Accept; a != nil {
			for i := range a.OfferIDs {
				if a.OfferIDs[i].Value == "o1" && o != nil {
					a.OfferIDs[i].Value = o.id
				}
			}
			for _, op := range a.Operations {
				if op.LaunchGroup != nil {
					safe(op.LaunchGroup.Executor.Command)
				}
				for i := range opTasks(op) {
					ti := &opTasks(op)[i]
					if ti.AgentID.Value == "a" && o != nil {
						ti.AgentID.Value = o.agent.id
					}
					safe(ti.Command)
					if ti.Executor != nil {
						safe(ti.Executor.Command)
					}
					if ti.HealthCheck != nil {
						safe(ti.HealthCheck.Command)
					}
				}
			}
		}
		hdr := http.Header{"Mesos-Stream-Id": {s.streamID}}
		if _, herr := c.handleCall(hdr, call); herr != nil && herr.code >= 500 && herr.code != 501 {
			t.Fatalf("%v: %v", call.Type, herr)
		}
		// The master still answers.
		if _, herr := c.handleCall(hdr, &scheduler.Call{Type: scheduler.Call_REVIVE, FrameworkID: call.FrameworkID}); herr != nil {
			t.Fatalf("REVIVE after %v: %v", call.Type, herr)
		}
	})
}
