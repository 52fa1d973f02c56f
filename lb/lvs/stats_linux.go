package lvs

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
)

// ServiceStats is one reading of the virtual service and its real
// servers, with everything the kernel reports.
type ServiceStats struct {
	// At is when the reading was taken. The kernel folds its per-CPU
	// counters into the totals on its 2 s estimator timer, so totals lag
	// by up to 2 s; gauges (Active, Inactive) are live.
	At time.Time
	// Scheduler is the scheduler the kernel runs for the service.
	Scheduler string
	Counters
	// Dests lists the real servers, sorted by ID.
	Dests []DestStats
}

// Counters are cumulative IPVS counters and the kernel's rate estimates.
// Connections, PacketsIn and PacketsOut are extended past the 32 bits
// that moby/ipvs reads (see the package doc); the rates are the kernel's
// exponentially weighted averages over about 2 s and 8 s.
type Counters struct {
	Connections, PacketsIn, PacketsOut, BytesIn, BytesOut uint64
	// ConnsPerSec, PacketsInPerSec, PacketsOutPerSec, BytesInPerSec and
	// BytesOutPerSec are the kernel's rate estimates.
	ConnsPerSec, PacketsInPerSec, PacketsOutPerSec, BytesInPerSec, BytesOutPerSec uint32
}

// DestStats is one real server in a [ServiceStats] reading.
type DestStats struct {
	// ID is the backend ID; Adopted reports that the server was found in
	// the kernel rather than added by this Balancer (its ID is then its
	// address).
	ID      string
	Adopted bool
	Addr    netip.AddrPort
	Forward Forward
	// Weight is the IPVS weight; 0 means draining.
	Weight int
	// Active counts established connections, Inactive the others IPVS
	// tracks (closing, or UDP flows).
	Active, Inactive int
	Counters
}

// ServiceStats reads the service and its real servers.
func (b *Balancer) ServiceStats(ctx context.Context) (ServiceStats, error) {
	if err := b.begin(ctx, "stats"); err != nil {
		return ServiceStats{}, err
	}
	defer b.nl.unlock()
	k, err := call(ctx, b.nl, func(h handle) (*ipvs.Service, error) { return h.GetService(b.svc) })
	if err != nil {
		if ctx.Err() != nil {
			return ServiceStats{}, wrapCtx("stats", err)
		}
		if isErrno(err, syscall.ESRCH) { // gone: report it, and create it again
			if gerr := b.checkService(ctx); gerr != nil {
				return ServiceStats{}, wrapCtx("stats", gerr)
			}
		}
		return ServiceStats{}, kernelErr("stats: read service "+b.cfg.Service.String(), err)
	}
	return b.serviceStats(ctx, b.nl, k, time.Now())
}

// serviceStats completes a reading of the service from its kernel record
// k, read at at: it lists the real servers over n and extends the
// counters. The caller holds b's lock.
func (b *Balancer) serviceStats(ctx context.Context, n *socket, k *ipvs.Service, at time.Time) (ServiceStats, error) {
	ds, err := b.readDestsOn(ctx, n)
	if err != nil {
		return ServiceStats{}, wrapCtx("stats", err)
	}
	out := ServiceStats{At: at, Scheduler: k.SchedName, Counters: b.svcCount.observe(ipvs.DstStats(k.Stats))}
	out.Dests = make([]DestStats, len(ds))
	for i, d := range ds {
		c := b.dstCount[d.id]
		if c == nil {
			c = new(counters)
			b.dstCount[d.id] = c
		}
		out.Dests[i] = DestStats{
			ID: d.id, Adopted: d.adopted, Addr: d.addr, Forward: destForward(d.raw), Weight: d.raw.Weight,
			Active: d.raw.ActiveConnections, Inactive: d.raw.InactiveConnections,
			Counters: c.observe(d.raw.Stats),
		}
	}
	return out, nil
}

func (c *counters) observe(s ipvs.DstStats) Counters {
	return Counters{
		Connections: c.conns.observe(s.Connections),
		PacketsIn:   c.pktsIn.observe(s.PacketsIn),
		PacketsOut:  c.pktsOut.observe(s.PacketsOut),
		BytesIn:     s.BytesIn, BytesOut: s.BytesOut,
		ConnsPerSec: s.CPS, PacketsInPerSec: s.PPSIn, PacketsOutPerSec: s.PPSOut,
		BytesInPerSec: s.BPSIn, BytesOutPerSec: s.BPSOut,
	}
}

// Stats implements [lb.Balancer]. Requests is the service's connection
// count (IPVS balances connections, not requests), Active the sum of the
// real servers' established connections; per backend, State is draining
// for weight 0 and ready otherwise. Totals lag by up to 2 s (see
// [ServiceStats.At]): poll at intervals of several seconds, or expect
// rates to alternate around the true value.
func (b *Balancer) Stats(ctx context.Context) (lb.Stats, error) {
	ss, err := b.ServiceStats(ctx)
	if err != nil {
		return lb.Stats{}, err
	}
	return ss.lbStats(), nil
}

// lbStats is the [lb.Stats] view of a reading (see [Balancer.Stats]).
func (ss ServiceStats) lbStats() lb.Stats {
	s := lb.Stats{At: ss.At, Requests: ss.Connections, Backends: make(map[string]lb.BackendStats, len(ss.Dests))}
	for _, d := range ss.Dests {
		st := lb.StateReady
		if d.Weight == 0 {
			st = lb.StateDraining
		}
		s.Backends[d.ID] = lb.BackendStats{Requests: d.Connections, Active: d.Active, State: st}
		s.Active += d.Active
	}
	return s
}

// String returns "id@addr nat w=1 active=3 inactive=0".
func (d DestStats) String() string {
	return fmt.Sprintf("%s@%s %s w=%d active=%d inactive=%d", d.ID, d.Addr, d.Forward, d.Weight, d.Active, d.Inactive)
}
