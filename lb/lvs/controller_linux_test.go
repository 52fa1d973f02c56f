package lvs

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// perServer asks for one server per target connections per second.
type perServer struct{ target float64 }

func (p perServer) Decide(in scaler.Input) scaler.Decision {
	d := scaler.Decision{At: in.Now, Current: in.Current, Count: in.Current, Reason: fmt.Sprint("no data: ", in.NoData)}
	if in.Obs != nil {
		d.Count = int(math.Ceil(in.Obs.RPS / p.target))
		d.Reason = fmt.Sprintf("%.1f conn/s at %.0f per server", in.Obs.RPS, p.target)
	}
	return d
}

type countTarget struct {
	mu      sync.Mutex
	desired int
}

func (c *countTarget) Status(context.Context) (scaler.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return scaler.Status{Desired: c.desired, Running: c.desired}, nil
}

func (c *countTarget) SetDesired(_ context.Context, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.desired = n
	return nil
}

// testKernelController drives scaler.Controller with the real driver: the
// rate it computes from IPVS's connection counters must count exactly the
// connections made, and the kernel's own estimate must see them too.
func testKernelController(t *testing.T) {
	needIPVS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ns := newNetns(t, netip.MustParsePrefix("10.0.0.1/32"))
	web := startWebServer(t, ns, "w1")
	b, err := New(ctx, Config{Service: Service{Addr: netip.MustParseAddrPort("10.0.0.1:80"), Scheduler: "rr"},
		Namespace: ns, DeleteOnClose: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Add(ctx, lb.Backend{ID: "w1", Addr: web.addr}); err != nil {
		t.Fatal(err)
	}
	tgt := &countTarget{desired: 1}
	c := &scaler.Controller{Balancer: b, Policy: perServer{target: 5}, Runner: tgt, Interval: time.Minute, Logger: testLogger(t)}
	if r, err := c.Tick(ctx); err != nil || r.Rate != nil {
		t.Fatalf("first Tick = %+v, %v; want no rate yet", r, err)
	}
	fresh := newClient(ns, false)
	const conns = 60
	for range conns {
		if _, err := get(ctx, fresh, "http://10.0.0.1:80/"); err != nil {
			t.Fatal(err)
		}
	}
	// Totals move on the kernel's 2 s timer; wait until they show all
	// connections, then tick.
	var ss ServiceStats
	waitFor(t, "the connection counter to reach 60", 5*time.Second, func() (bool, error) {
		ss, err = b.ServiceStats(ctx)
		return ss.Connections >= conns, err
	})
	r, err := c.Tick(ctx)
	if err != nil || r.Rate == nil {
		t.Fatalf("second Tick = %+v, %v; want a rate", r, err)
	}
	if r.Rate.Requests != conns || r.Rate.Backends["w1"] <= 0 {
		t.Errorf("Controller rate counted %d connections (backend w1 %.1f/s), want exactly %d", r.Rate.Requests, r.Rate.Backends["w1"], conns)
	}
	want := int(math.Ceil(r.Rate.PerSecond / 5))
	if tgt.desired != want || want < 1 {
		t.Errorf("target desired = %d, want %d from %.1f conn/s (%s)", tgt.desired, want, r.Rate.PerSecond, r.Reason)
	}
	t.Logf("controller: %d connections over %s = %.1f/s → %d servers; kernel estimate %d conn/s, packets in %d out %d, bytes in %d out %d",
		r.Rate.Requests, r.Rate.Interval.Round(time.Millisecond), r.Rate.PerSecond, tgt.desired,
		ss.ConnsPerSec, ss.PacketsIn, ss.PacketsOut, ss.BytesIn, ss.BytesOut)
	if ss.PacketsIn < conns || ss.PacketsOut < conns || ss.BytesIn == 0 || ss.BytesOut == 0 {
		t.Errorf("ServiceStats counters after %d HTTP connections: %+v", conns, ss.Counters)
	}
	if ss.ConnsPerSec == 0 {
		t.Errorf("the kernel's rate estimate is 0 after %d connections within 2 s", conns)
	}
}
