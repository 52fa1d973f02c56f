package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// groupOf makes n services on one fake kernel, each with two real servers,
// and gives service i i*1000+1 connections and its first server i*10+1.
func groupOf(t *testing.T, k *fakeKernel, n int) []*Balancer {
	t.Helper()
	ctx := context.Background()
	bs := make([]*Balancer, n)
	for i := range bs {
		svc := Service{Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(8000+i)), Scheduler: "rr"}
		bs[i] = newFake(t, k, Config{Service: svc})
		for j := range 2 {
			if err := bs[i].Add(ctx, be(fmt.Sprintf("s%d-b%d", i, j), fmt.Sprintf("10.0.%d.%d:80", i+1, j+1))); err != nil {
				t.Fatal(err)
			}
		}
		k.mu.Lock()
		fs := k.services[svcKey(toIPVSService(svc))]
		fs.svc.Stats.Connections = uint32(i*1000 + 1)
		fs.dests[0].Stats.Connections = uint32(i*10 + 1)
		fs.dests[0].ActiveConnections = i + 1
		k.mu.Unlock()
	}
	return bs
}

func diff(after, before map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// TestGroupOneDumpPerRound runs one poller per service, as one controller
// per service would, for several rounds: each round costs one dump of the
// services and one of each service's real servers, and each poller gets
// its own service's numbers.
func TestGroupOneDumpPerRound(t *testing.T) {
	const n, rounds = 6, 4
	ctx := context.Background()
	k := newFakeKernel()
	bs := groupOf(t, k, n)

	// Alone, each Balancer costs a GetService and a GetDestinations.
	before := k.readCounts()
	for _, b := range bs {
		if _, err := b.Stats(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := diff(k.readCounts(), before); d["service"] != n || d["dests"] != n || d["services"] != 0 {
		t.Fatalf("%d Balancers reading alone: reads %v, want %d service and %d dests", n, d, n, n)
	}

	g, err := NewGroup(time.Hour, bs...) // rounds are ended by the test, not by age
	if err != nil {
		t.Fatal(err)
	}
	for r := range rounds {
		before := k.readCounts()
		g.mu.Lock()
		g.readings = nil // a new round: the next Stats reads
		g.mu.Unlock()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, b := range bs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := g.Member(b).Stats(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				id := fmt.Sprintf("s%d-b0", i)
				if s.Requests != uint64(i*1000+1) || s.Backends[id].Requests != uint64(i*10+1) || s.Active != i+1 || len(s.Backends) != 2 {
					errs[i] = fmt.Errorf("service %d: Stats = %+v, want requests %d, %s %d, active %d, 2 backends", i, s, i*1000+1, id, i*10+1, i+1)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if d := diff(k.readCounts(), before); d["services"] != 1 || d["dests"] != n || d["service"] != 0 {
			t.Errorf("round %d: reads %v, want 1 services dump, %d dests and no single service read", r, d, n)
		}
	}
	if got := g.Reads(); got != rounds {
		t.Errorf("Reads() = %d, want %d", got, rounds)
	}
}

// TestGroupMaxAge: within maxAge the group answers from its last read.
func TestGroupMaxAge(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	bs := groupOf(t, k, 3)
	g, err := NewGroup(50*time.Millisecond, bs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if _, err := g.Member(b).Stats(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if g.Reads() != 1 {
		t.Fatalf("Reads() = %d after one round, want 1", g.Reads())
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := g.Member(bs[1]).Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Reads() != 2 {
		t.Fatalf("Reads() = %d after maxAge, want 2", g.Reads())
	}
}

// TestGroupServiceGone: a service deleted outside the driver fails its
// member alone (created again, ErrServiceGone); the others read on.
func TestGroupServiceGone(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	bs := groupOf(t, k, 3)
	k.mu.Lock()
	delete(k.services, svcKey(bs[1].svc))
	k.mu.Unlock()

	ss, err := ReadAll(ctx, bs...)
	if !errors.Is(err, ErrServiceGone) {
		t.Fatalf("ReadAll with a service deleted = %v, want ErrServiceGone", err)
	}
	if ss[0].Connections != 1 || ss[2].Connections != 2001 || ss[1].Connections != 0 {
		t.Errorf("ReadAll readings = %d, %d, %d connections, want 1, 0, 2001", ss[0].Connections, ss[1].Connections, ss[2].Connections)
	}
	if k.service(bs[1].cfg.Service) == nil {
		t.Errorf("the deleted service was not created again")
	}

	k.mu.Lock()
	delete(k.services, svcKey(bs[2].svc))
	k.mu.Unlock()
	g, err := NewGroup(time.Hour, bs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Member(bs[2]).Stats(ctx); !errors.Is(err, ErrServiceGone) {
		t.Fatalf("member of a deleted service: Stats = %v, want ErrServiceGone", err)
	}
	s, err := g.Member(bs[0]).Stats(ctx)
	if err != nil || s.Requests != 1 {
		t.Fatalf("other member: Stats = %+v, %v; want 1 request", s, err)
	}
	if g.Reads() != 1 {
		t.Errorf("Reads() = %d, want 1: the other member is answered from the same read", g.Reads())
	}
}

func TestGroupBadMembers(t *testing.T) {
	ctx := context.Background()
	k := newFakeKernel()
	bs := groupOf(t, k, 2)
	other := newFake(t, k, Config{Service: Service{Addr: netip.MustParseAddrPort("10.0.0.9:80")}, Namespace: t.TempDir()})
	closed := newFake(t, k, Config{Service: Service{Addr: netip.MustParseAddrPort("10.0.0.8:80")}})
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]*Balancer{
		"none":            nil,
		"nil":             {bs[0], nil},
		"twice":           {bs[0], bs[1], bs[0]},
		"other namespace": {bs[0], other},
	} {
		if _, err := ReadAll(ctx, in...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("ReadAll(%s) = %v, want lb.ErrInvalid", name, err)
		}
		if _, err := NewGroup(time.Second, in...); !errors.Is(err, lb.ErrInvalid) {
			t.Errorf("NewGroup(%s) = %v, want lb.ErrInvalid", name, err)
		}
	}
	if _, err := NewGroup(0, bs...); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("NewGroup(maxAge 0) = %v, want lb.ErrInvalid", err)
	}
	// A closed member fails alone: a service removed from the farm does
	// not blind the others.
	if ss, err := ReadAll(ctx, closed, bs[1]); !errors.Is(err, lb.ErrClosed) || ss[1].Connections != 1001 {
		t.Errorf("ReadAll with a closed member = %v, %v; want lb.ErrClosed and the other's 1001 connections", ss, err)
	}
	if _, err := ReadAll(ctx, closed); !errors.Is(err, lb.ErrClosed) {
		t.Errorf("ReadAll of a closed member = %v, want lb.ErrClosed", err)
	}
	g, err := NewGroup(time.Second, bs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Member(other).Stats(ctx); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("Stats of a non-member = %v, want lb.ErrInvalid", err)
	}
	if _, err := g.Read(ctx, nil); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("Read(nil) = %v, want lb.ErrInvalid", err)
	}
}

// testKernelGroup runs three services in one namespace, each with its own
// web server, sends each a different number of connections and reads them
// all with ReadAll: each reading matches the service's own ServiceStats,
// and a service deleted outside the driver fails alone.
func testKernelGroup(t *testing.T) {
	needIPVS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := newNetns(t, netip.MustParsePrefix("10.0.0.1/32"))
	const n = 3
	bs := make([]*Balancer, n)
	for i := range bs {
		web := startWebServer(t, ns, fmt.Sprintf("w%d", i))
		b, err := New(ctx, Config{Service: Service{Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(80+i)), Scheduler: "rr"},
			Namespace: ns, DeleteOnClose: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.Add(ctx, lb.Backend{ID: fmt.Sprintf("w%d", i), Addr: web.addr}); err != nil {
			t.Fatal(err)
		}
		bs[i] = b
	}
	fresh := newClient(ns, false)
	want := func(i int) uint64 { return uint64(3 + 4*i) } // 3, 7, 11 connections
	for i := range bs {
		for range want(i) {
			if _, err := get(ctx, fresh, fmt.Sprintf("http://10.0.0.1:%d/", 80+i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Totals move on the kernel's 2 s timer.
	var all []ServiceStats
	waitFor(t, "every service's connection counter", 5*time.Second, func() (bool, error) {
		var err error
		all, err = ReadAll(ctx, bs...)
		if err != nil {
			return false, err
		}
		for i, ss := range all {
			if ss.Connections < want(i) {
				return false, nil
			}
		}
		return true, nil
	})
	for i, ss := range all {
		alone, err := bs[i].ServiceStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("w%d", i)
		if ss.Connections != want(i) || len(ss.Dests) != 1 || ss.Dests[0].ID != id || ss.Dests[0].Connections != want(i) || ss.Scheduler != "rr" {
			t.Errorf("service %d: ReadAll reading %+v, want %d connections on %s alone", i, ss, want(i), id)
		}
		if alone.Connections != ss.Connections || len(alone.Dests) != 1 || alone.Dests[0].Connections != ss.Dests[0].Connections {
			t.Errorf("service %d: ReadAll reading %d connections (%v), ServiceStats %d (%v)", i, ss.Connections, ss.Dests, alone.Connections, alone.Dests)
		}
	}

	h, err := ipvs.New(ns)
	if err != nil {
		t.Fatalf("ipvs.New(%s): %v", ns, err)
	}
	defer h.Close()
	if err := h.DelService(bs[1].svc); err != nil {
		t.Fatal(err)
	}
	all, err = ReadAll(ctx, bs...)
	if !errors.Is(err, ErrServiceGone) {
		t.Fatalf("ReadAll after ipvsadm -D of one service = %v, want ErrServiceGone", err)
	}
	if all[0].Connections != want(0) || all[2].Connections != want(2) {
		t.Errorf("the other services' readings: %d and %d connections, want %d and %d", all[0].Connections, all[2].Connections, want(0), want(2))
	}
	if _, err := h.GetService(bs[1].svc); err != nil {
		t.Errorf("the deleted service was not created again: %v", err)
	}
}

// TestGroupControllers drives one scaler.Controller per service through a
// Group on the fake kernel: each round of N ticks costs one dump of the
// services (and one of each service's real servers), and each controller
// counts its own service's connections.
func TestGroupControllers(t *testing.T) {
	const n, rounds = 5, 3
	ctx := context.Background()
	k := newFakeKernel()
	bs := groupOf(t, k, n)
	g, err := NewGroup(time.Hour, bs...) // rounds are ended by the test, not by age
	if err != nil {
		t.Fatal(err)
	}
	ctls := make([]*scaler.Controller, n)
	for i, b := range bs {
		ctls[i] = &scaler.Controller{Balancer: g.Member(b), Policy: perServer{target: 5}, Runner: &countTarget{desired: 1}, Interval: time.Minute, Logger: quiet}
	}
	for r := range rounds {
		k.mu.Lock()
		for i, b := range bs {
			k.services[svcKey(b.svc)].svc.Stats.Connections += uint32(10 * (i + 1))
		}
		k.mu.Unlock()
		g.mu.Lock()
		g.readings = nil // a new round: the next Stats reads
		g.mu.Unlock()
		before := k.readCounts()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, c := range ctls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := c.Tick(ctx)
				switch {
				case err != nil:
					errs[i] = err
				case r > 0 && (res.Rate == nil || res.Rate.Requests != uint64(10*(i+1))):
					errs[i] = fmt.Errorf("service %d: rate %+v, want %d connections", i, res.Rate, 10*(i+1))
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		if d := diff(k.readCounts(), before); d["services"] != 1 || d["dests"] != n || d["service"] != 0 {
			t.Errorf("round %d: %d controllers' ticks read %v, want 1 services dump, %d dests and no single service read", r, n, d, n)
		}
	}
}
