package local

import (
	"fmt"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// withoutBusyPorts splits rs into what may be offered and the ports that
// cannot be: those portFree says something on this host holds right now
// (another cluster's task, another test's server). Other resources are
// untouched. busy is nil when every port is free.
func withoutBusyPorts(rs mesos.Resources, portFree func(uint64) bool) (offer, busy mesos.Resources) {
	for _, r := range rs {
		if r.Name != "ports" || r.GetType() != mesos.RANGES || r.Ranges == nil {
			offer = append(offer, r)
			continue
		}
		var free, held []mesos.Value_Range
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p >= rg.Begin; p++ { // p >= Begin: no wrap at the top
				if portFree(p) {
					free = appendPort(free, p)
				} else {
					held = appendPort(held, p)
				}
			}
		}
		if len(held) == 0 {
			offer = append(offer, r)
			continue
		}
		if len(free) > 0 {
			f := mesos.Resources{r}.Clone()[0]
			f.Ranges = &mesos.Value_Ranges{Range: free}
			offer = append(offer, f)
		}
		h := mesos.Resources{r}.Clone()[0]
		h.Ranges = &mesos.Value_Ranges{Range: held}
		busy = append(busy, h)
	}
	return offer, busy
}

// appendPort adds p to rs, extending the last range when p follows it.
func appendPort(rs []mesos.Value_Range, p uint64) []mesos.Value_Range {
	if n := len(rs); n > 0 && rs[n-1].End+1 == p {
		rs[n-1].End = p
		return rs
	}
	return append(rs, mesos.Value_Range{Begin: p, End: p})
}

// portList formats the ports of rs as "31000,31005-31007" for logs.
func portList(rs mesos.Resources) string {
	var parts []string
	for _, r := range rs {
		for _, rg := range r.GetRanges().GetRange() {
			if rg.Begin == rg.End {
				parts = append(parts, fmt.Sprint(rg.Begin))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", rg.Begin, rg.End))
			}
		}
	}
	return strings.Join(parts, ",")
}

// probeTTL is how long a port probe is trusted. Offers made in quick
// succession (a scheduler declining with refuse_seconds 0 while the
// allocator runs every few milliseconds) then cost one probe a port per
// probeTTL; a probe is stale anyway once the offer is out, until the
// task binds.
const probeTTL = time.Second

// portProbes caches the results of portFree for probeTTL. The zero value
// is ready to use; the cluster lock guards it.
type portProbes struct {
	m map[uint64]portProbe
	n int // probes since the last sweep of old entries
}

type portProbe struct {
	free bool
	at   time.Time
}

// free returns portFree(p), probing again when the last probe of p is
// older than probeTTL.
func (c *portProbes) free(p uint64, now time.Time, portFree func(uint64) bool) bool {
	if r, ok := c.m[p]; ok && now.Sub(r.at) < probeTTL && !now.Before(r.at) {
		return r.free
	}
	if c.m == nil {
		c.m = make(map[uint64]portProbe)
	}
	if c.n++; c.n > 65536 { // keep the map to the ports still offered
		c.n = 0
		for q, r := range c.m {
			if now.Sub(r.at) >= probeTTL {
				delete(c.m, q)
			}
		}
	}
	f := portFree(p)
	c.m[p] = portProbe{free: f, at: now}
	return f
}
