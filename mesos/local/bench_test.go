package local

import (
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// BenchmarkLaunchToFinished measures one command task ("exit 0") from ACCEPT
// to an acknowledged TASK_FINISHED, through the HTTP API (protobuf): the
// master's share of a scale-up, plus a fork/exec.
func BenchmarkLaunchToFinished(b *testing.B) {
	c := startClusterB(b)
	s := newSched(b, c, mediaProtobuf)
	s.subscribe(frameworkInfo("bench"))
	b.ResetTimer()
	for i := range b.N {
		o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		id := fmt.Sprintf("b%d", i)
		s.mustCall(launchCall(o, 0, cmdTask(o, id, "exit 0", nil)))
		s.update(id, mesos.TASK_FINISHED)
	}
}

func startClusterB(b *testing.B) *Cluster {
	b.Helper()
	c, err := Start(b.Context(), Config{Agents: 1, AllocationInterval: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkEncodeOffers measures encoding an OFFERS event of 100 offers,
// which the master does on every allocation for a big cluster.
func BenchmarkEncodeOffers(b *testing.B) {
	offers := make([]mesos.Offer, 100)
	for i := range offers {
		offers[i] = mesos.Offer{ID: mesos.OfferID{Value: fmt.Sprint("o", i)}, FrameworkID: mesos.FrameworkID{Value: "f"},
			AgentID: mesos.AgentID{Value: fmt.Sprint("a", i)}, Hostname: "127.0.0.1",
			Resources: mesos.Resources{scalar("cpus", 4), scalar("mem", 4096), portsResource(31000, 31999)}}
	}
	ev := &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}}
	for _, media := range []string{mediaJSON, mediaProtobuf} {
		b.Run(media, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := marshal(media, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOfferPortProbe measures the port probe of one offer of an
// agent's default share (1000 ports, probed on 127.0.0.1): the cost it adds
// to every offer, under the cluster lock.
func BenchmarkOfferPortProbe(b *testing.B) {
	share := agentPorts(PortRange{DefaultPortsBegin, DefaultPortsEnd}, 0, DefaultAgents)
	rs := mesos.Resources{scalar("cpus", 4), portsResource(share.Begin, share.End)}
	for b.Loop() {
		withoutBusyPorts(rs, portFree)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(share.End-share.Begin+1), "ns/port")
}
