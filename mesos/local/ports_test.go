package local

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func rangesRes(rs ...mesos.Value_Range) mesos.Resource {
	return mesos.Resource{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: rs}}
}

func TestWithoutBusyPorts(t *testing.T) {
	cpus := scalar("cpus", 2)
	tests := []struct {
		name      string
		in        mesos.Resources
		busy      []uint64
		wantOffer string // portList of the offered ports
		wantHeld  string
	}{
		{name: "all free", in: mesos.Resources{cpus, portsResource(100, 104)}, wantOffer: "100-104"},
		{name: "one busy in the middle", in: mesos.Resources{cpus, portsResource(100, 104)}, busy: []uint64{102},
			wantOffer: "100-101,103-104", wantHeld: "102"},
		{name: "busy at both ends", in: mesos.Resources{cpus, portsResource(100, 104)}, busy: []uint64{100, 104},
			wantOffer: "101-103", wantHeld: "100,104"},
		{name: "all busy", in: mesos.Resources{cpus, portsResource(100, 101)}, busy: []uint64{100, 101},
			wantHeld: "100-101"},
		{name: "several ranges", in: mesos.Resources{rangesRes(mesos.Value_Range{Begin: 10, End: 12}, mesos.Value_Range{Begin: 20, End: 21})},
			busy: []uint64{11, 20}, wantOffer: "10,12,21", wantHeld: "11,20"},
		{name: "top of the port space does not wrap", in: mesos.Resources{portsResource(65534, 65535)}, busy: []uint64{65535},
			wantOffer: "65534", wantHeld: "65535"},
		{name: "no ports resource", in: mesos.Resources{cpus}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			probed := 0
			offer, held := withoutBusyPorts(tc.in, func(p uint64) bool {
				probed++
				if probed > 1000 {
					t.Fatalf("probed more than 1000 ports")
				}
				return !slices.Contains(tc.busy, p)
			})
			if got := portList(offer); got != tc.wantOffer {
				t.Errorf("offered ports %q, want %q", got, tc.wantOffer)
			}
			if got := portList(held); got != tc.wantHeld {
				t.Errorf("held ports %q, want %q", got, tc.wantHeld)
			}
			if containsAll(tc.in, mesos.Resources{cpus}) && !containsAll(offer, mesos.Resources{cpus}) {
				t.Errorf("cpus lost: offer %v", offer)
			}
			if tc.wantHeld == "" && len(held) != 0 {
				t.Errorf("held %v, want nil", held)
			}
			// Nothing lost, nothing made up.
			all := offer.Clone()
			all.Add(held...)
			if !resources.Equivalent(all, tc.in) {
				t.Errorf("offer %v + held %v != input %v", offer, held, tc.in)
			}
		})
	}
}

func TestPortFree(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint64(ln.Addr().(*net.TCPAddr).Port)
	if portFree(port) {
		t.Errorf("portFree(%d) with a listener on it = true", port)
	}
	// A listener on the wildcard address takes the port on 127.0.0.1 too.
	ln2, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if p := uint64(ln2.Addr().(*net.TCPAddr).Port); portFree(p) {
		t.Errorf("portFree(%d) with a listener on 0.0.0.0 = true", p)
	}
	ln.Close()
	if !portFree(port) {
		t.Logf("port %d still busy after Close: taken by someone else meanwhile", port)
	}
	for _, p := range []uint64{0, 65536, 1 << 40} {
		if portFree(p) {
			t.Errorf("portFree(%d) = true, want false (not a port)", p)
		}
	}
}

// TestBusyPortNeverOffered: a port of the cluster's range held by a
// listener outside the cluster is in no offer; once released it is
// offered again.
func TestBusyPortNeverOffered(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := uint64(ln.Addr().(*net.TCPAddr).Port)
	if busy < 100 || busy > 65000 {
		t.Skipf("ephemeral port %d too close to the ends of the port space for this test", busy)
	}
	c := startCluster(t, Config{Agents: 1, Ports: PortRange{busy - 50, busy + 50}})
	s := newSched(t, c, "application/json")
	s.subscribe(frameworkInfo("ports"))
	offered := func(o mesos.Offer) bool {
		_, _, ports := offerCPUs(o)
		for _, rg := range ports {
			if busy >= rg.Begin && busy <= rg.End {
				return true
			}
		}
		return false
	}
	for i := range 5 {
		o := s.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
		cpus, _, ports := offerCPUs(o)
		if offered(o) {
			t.Fatalf("offer %d holds busy port %d: %v", i, busy, ports)
		}
		if cpus != DefaultCPUs || len(ports) == 0 {
			t.Fatalf("offer %d: cpus %v, ports %v; want the agent's cpus and its other ports", i, cpus, ports)
		}
		s.decline(o, 0)
	}
	ln.Close()
	if !portFree(busy) {
		t.Skipf("port %d taken by someone else after Close", busy)
	}
	// Probes are trusted for probeTTL: the port comes back after that.
	deadline := time.Now().Add(3 * probeTTL)
	for i := 0; ; i++ {
		o := s.next(scheduler.Event_OFFERS).GetOffers().Offers[0]
		if offered(o) {
			break
		}
		if i == 100000 || time.Now().After(deadline) {
			t.Fatalf("port %d not offered in %d offers (%v) after its listener closed", busy, i+1, 3*probeTTL)
		}
		s.decline(o, 0)
	}
}

// offeredShare checks the ports of an offer against the agent's share:
// ranges in order, inside the share, and at least 90% of it. The rest may
// be missing: ports other processes on this host held at offer time are
// not offered (TestBusyPortNeverOffered checks that part).
func offeredShare(got []mesos.Value_Range, share PortRange) error {
	var n, prev uint64
	for i, rg := range got {
		if rg.Begin > rg.End || rg.Begin < share.Begin || rg.End > share.End || (i > 0 && rg.Begin <= prev) {
			return fmt.Errorf("offered ports %v: want ordered ranges inside %d-%d", got, share.Begin, share.End)
		}
		n += rg.End - rg.Begin + 1
		prev = rg.End
	}
	if total := share.End - share.Begin + 1; n*10 < total*9 {
		return fmt.Errorf("offered ports %v: %d of the %d of %d-%d, want at least 90%%", got, n, total, share.Begin, share.End)
	}
	return nil
}

// TestPortProbesTTL drives the probe cache's clock by hand.
func TestPortProbesTTL(t *testing.T) {
	var c portProbes
	busy := map[uint64]bool{7: true}
	probes := 0
	probe := func(p uint64) bool { probes++; return !busy[p] }
	t0 := time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)
	steps := []struct {
		name       string
		at         time.Duration
		port       uint64
		busyNow    bool
		wantFree   bool
		wantProbes int // total so far
	}{
		{name: "first probe of a busy port", at: 0, port: 7, busyNow: true, wantFree: false, wantProbes: 1},
		{name: "freed, but the probe is trusted", at: probeTTL / 2, port: 7, wantFree: false, wantProbes: 1},
		{name: "re-probed after the TTL", at: probeTTL, port: 7, wantFree: true, wantProbes: 2},
		{name: "another port is probed on its own", at: probeTTL, port: 8, wantFree: true, wantProbes: 3},
		{name: "taken again, trusted free within the TTL", at: probeTTL + probeTTL/2, port: 8, busyNow: true, wantFree: true, wantProbes: 3},
		{name: "and busy once re-probed", at: 2 * probeTTL, port: 8, busyNow: true, wantFree: false, wantProbes: 4},
		{name: "a clock going back re-probes", at: probeTTL, port: 8, wantFree: true, wantProbes: 5},
	}
	for _, st := range steps {
		busy[st.port] = st.busyNow
		if got := c.free(st.port, t0.Add(st.at), probe); got != st.wantFree || probes != st.wantProbes {
			t.Errorf("%s: free(%d) = %v after %d probes, want %v after %d", st.name, st.port, got, probes, st.wantFree, st.wantProbes)
		}
	}
}
