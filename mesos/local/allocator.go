package local

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// quantities are scalar resource quantities by name (ResourceQuantities in
// Mesos): an absent name is zero, and no entry is zero or negative.
type quantities map[string]float64

// scalarsOf returns the scalar quantities of rs, whatever their roles and
// reservations.
func scalarsOf(rs mesos.Resources) quantities {
	q := quantities{}
	for _, r := range rs {
		if r.GetType() == mesos.SCALAR && r.GetScalar().GetValue() > 0 {
			q[r.Name] += r.GetScalar().GetValue()
		}
	}
	return q
}

func (q quantities) add(o quantities) {
	for k, v := range o {
		q[k] += v
	}
}

// minus returns q - o, dropping entries that are zero or negative, as
// ResourceQuantities::operator-= does.
func (q quantities) minus(o quantities) quantities {
	out := quantities{}
	for k, v := range q {
		if d := v - o[k]; d > 1e-9 {
			out[k] = d
		}
	}
	return out
}

// shrink returns the unreserved scalar resources of rs cut down to at most
// target (a name absent from target is dropped), as shrinkResources in
// src/master/allocator/mesos/hierarchical.cpp does.
func shrink(rs mesos.Resources, target quantities) mesos.Resources {
	left := target.clone()
	var out mesos.Resources
	for _, r := range rs {
		v := r.GetScalar().GetValue()
		if left[r.Name] <= 1e-9 {
			continue
		}
		if v > left[r.Name] {
			v = left[r.Name]
		}
		left[r.Name] -= v
		r2 := r
		r2.Scalar = &mesos.Value_Scalar{Value: v}
		out = append(out, r2)
	}
	return out
}

func (q quantities) clone() quantities {
	out := make(quantities, len(q))
	for k, v := range q {
		out[k] = v
	}
	return out
}

// allocState is what one allocation cycle knows about roles, computed from
// the master's offers, tasks and executors.
type allocState struct {
	total     quantities            // scalars of every agent that runs
	roleAlloc map[string]quantities // offered or used, by role (the role sorter's allocation)
	fwAlloc   map[string]quantities // offered or used, by framework ID + "\x00" + role
	consumed  map[string]quantities // quota consumption: reservations + unreserved allocation
	reserved  quantities            // every reservation, allocated or not
	resvAlloc quantities            // reservations that are offered or used
}

// charge records resources offered to or used by fw in role. Their
// unreserved part consumes the role's quota (reservations are counted
// once, wherever they are, by allocState).
func (s *allocState) charge(fw *framework, role string, rs mesos.Resources) {
	add := func(m map[string]quantities, k string, q quantities) {
		if m[k] == nil {
			m[k] = quantities{}
		}
		m[k].add(q)
	}
	q := scalarsOf(rs)
	add(s.roleAlloc, role, q)
	add(s.fwAlloc, fw.id+"\x00"+role, q)
	var unres, resv mesos.Resources
	for _, r := range rs {
		if r.IsUnreserved() {
			unres = append(unres, r)
		} else {
			resv = append(resv, r)
		}
	}
	add(s.consumed, role, scalarsOf(unres))
	s.resvAlloc.add(scalarsOf(resv))
}

// newAllocState returns a view with the cluster's total and no allocation;
// c.mu must be held.
func (c *Cluster) newAllocState() *allocState {
	s := &allocState{total: quantities{}, roleAlloc: map[string]quantities{}, fwAlloc: map[string]quantities{},
		consumed: map[string]quantities{}, reserved: quantities{}, resvAlloc: quantities{}}
	for _, a := range c.agents {
		if !a.stopped {
			s.total.add(scalarsOf(a.total))
		}
	}
	return s
}

// allocState computes the allocator's view from every offer, task and
// executor; c.mu must be held.
func (c *Cluster) allocState() *allocState {
	s := c.newAllocState()
	var all []mesos.Resources
	for _, a := range c.agents {
		if !a.stopped {
			all = append(all, a.free)
		}
	}
	for _, o := range c.offers {
		s.charge(o.fw, o.role, o.resources)
		all = append(all, o.resources)
	}
	for _, id := range c.fwOrder {
		fw := c.frameworks[id]
		if fw == nil {
			continue
		}
		for _, t := range fw.tasks {
			if !t.freed && !t.agent.stopped {
				s.charge(fw, t.role, t.res)
				all = append(all, t.res)
			}
		}
		for _, ex := range fw.executors {
			if !ex.freed && !ex.agent.stopped {
				s.charge(fw, ex.role, ex.res)
				all = append(all, ex.res)
			}
		}
	}
	// Reservations consume their role's quota whether allocated or not
	// (HierarchicalAllocatorProcess::__allocate: "Consumed Quota =
	// reservations + unreserved allocation").
	for _, rs := range all {
		for _, r := range rs {
			if !r.IsUnreserved() && r.GetType() == mesos.SCALAR {
				role := r.ReservationRole()
				if s.consumed[role] == nil {
					s.consumed[role] = quantities{}
				}
				s.consumed[role][r.Name] += r.GetScalar().GetValue()
				s.reserved[r.Name] += r.GetScalar().GetValue()
			}
		}
	}
	return s
}

// share is a client's weighted dominant share, as DRFSorter::calculateShare
// (src/master/allocator/mesos/sorter/drf/sorter.cpp) computes it: the
// largest fraction of the cluster's total of any scalar resource, divided
// by the weight.
func share(alloc, total quantities, weight float64) float64 {
	s := 0.0
	for name, t := range total {
		if t > 0 {
			s = math.Max(s, alloc[name]/t)
		}
	}
	return s / weight
}

// roleWeight returns a role's weight (Config.Weights, default 1).
func (c *Cluster) roleWeight(role string) float64 {
	if w, ok := c.cfg.Weights[role]; ok {
		return w
	}
	return 1
}

// sortedRoles returns every role with an active framework in DRF order:
// ascending weighted dominant share, then how often the role was allocated
// to, then name (DRFSorter::sort and Node::compareDRF, sorter.hpp).
func (c *Cluster) sortedRoles(s *allocState) []string {
	var roles []string
	for _, id := range c.fwOrder {
		if fw := c.frameworks[id]; fw.active() {
			for _, r := range fw.roles() {
				if !slices.Contains(roles, r) {
					roles = append(roles, r)
				}
			}
		}
	}
	slices.SortFunc(roles, func(a, b string) int {
		sa, sb := share(s.roleAlloc[a], s.total, c.roleWeight(a)), share(s.roleAlloc[b], s.total, c.roleWeight(b))
		switch {
		case sa != sb:
			return cmpFloat(sa, sb)
		case c.roleCount[a] != c.roleCount[b]:
			return int(c.roleCount[a]) - int(c.roleCount[b])
		}
		return cmpString(a, b)
	})
	return roles
}

// sortedFrameworks returns the active frameworks of a role in DRF order
// (the role's framework sorter: weight 1, share within the cluster).
func (c *Cluster) sortedFrameworks(s *allocState, role string) []*framework {
	var fws []*framework
	for _, id := range c.fwOrder {
		if fw := c.frameworks[id]; fw.active() && slices.Contains(fw.roles(), role) {
			fws = append(fws, fw)
		}
	}
	slices.SortFunc(fws, func(a, b *framework) int {
		sa, sb := share(s.fwAlloc[a.id+"\x00"+role], s.total, 1), share(s.fwAlloc[b.id+"\x00"+role], s.total, 1)
		switch {
		case sa != sb:
			return cmpFloat(sa, sb)
		case a.count != b.count:
			return int(a.count) - int(b.count)
		}
		return cmpString(a.id, b.id)
	})
	return fws
}

func cmpFloat(a, b float64) int {
	if a < b {
		return -1
	}
	return 1
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// active reports whether the allocator offers to fw: connected, not
// removed and not suppressed.
func (fw *framework) active() bool {
	return fw != nil && !fw.removed && fw.stream != nil && !fw.suppressed
}

// roles returns a framework's roles (protobuf::framework::getRoles).
func (fw *framework) roles() []string { return frameworkRoles(&fw.info) }

// allocatableTo returns the resources of rs a role may be offered: the
// unreserved ones and those reserved to it (Resources::allocatableTo).
func allocatableTo(rs mesos.Resources, role string) mesos.Resources {
	var out mesos.Resources
	for _, r := range rs {
		if r.IsAllocatableTo(role) {
			out = append(out, r)
		}
	}
	return out
}

// split returns the unreserved scalar resources of rs, and the rest
// (reservations and non-scalar resources such as ports).
func split(rs mesos.Resources) (unreservedScalars, rest mesos.Resources) {
	for _, r := range rs {
		if r.GetType() == mesos.SCALAR && r.IsUnreserved() && !r.IsRevocable() {
			unreservedScalars = append(unreservedScalars, r)
		} else {
			rest = append(rest, r)
		}
	}
	return unreservedScalars, rest
}

// allocate makes offers as HierarchicalAllocatorProcess::__allocate
// (src/master/allocator/mesos/hierarchical.cpp) does. Agents are taken in
// random order. Stage 1: roles with an unsatisfied quota guarantee, in DRF
// order, get their reservations plus unreserved resources up to the
// guarantee (more only out of surplus headroom). Stage 2: every role in
// DRF order, and every framework of it in DRF order, gets what is left of
// the agent that it may use, minus the unreserved resources held back so
// that the unsatisfied guarantees of all quota roles can still be met
// (headroom). A framework gets one offer per agent and role; filters and
// the 0.01 cpus / 32 MiB minimum apply.
func (c *Cluster) allocate(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.fwOrder) == 0 {
		return
	}
	// Shares and quota consumption only matter when there is a choice to
	// make (two or more framework-role clients) or quota to enforce;
	// counting every task of every framework is skipped otherwise, so that
	// one framework of 10,000 tasks costs O(agents) per allocation.
	clients := 0
	for _, id := range c.fwOrder {
		if fw := c.frameworks[id]; fw.active() {
			clients += len(fw.roles())
		}
	}
	if clients == 0 {
		return // nobody to offer to
	}
	var s *allocState
	if clients > 1 || len(c.cfg.Quota) > 0 {
		s = c.allocState()
	} else {
		s = c.newAllocState()
	}
	// Required headroom = sum (guarantee - consumed quota) over quota roles;
	// available headroom = total - allocated - unallocated reservations.
	required := quantities{}
	for role, g := range c.cfg.Quota {
		required.add(g.quantities().minus(s.consumed[role]))
	}
	allocated := quantities{}
	for _, q := range s.roleAlloc {
		allocated.add(q)
	}
	available := s.total.minus(allocated).minus(s.reserved.minus(s.resvAlloc))

	type key struct {
		fw   *framework
		role string
		a    *agent
	}
	offerable := map[key]mesos.Resources{}
	var order []key
	give := func(fw *framework, role string, a *agent, toOffer mesos.Resources) {
		a.free.Subtract(toOffer...)
		k := key{fw, role, a}
		if _, ok := offerable[k]; !ok {
			order = append(order, k)
		}
		offerable[k] = append(offerable[k], toOffer...)
		s.charge(fw, role, toOffer)
		c.roleCount[role]++
		fw.count++
	}
	filtered := func(fw *framework, a *agent, toOffer mesos.Resources) bool {
		if !allocatable(toOffer) {
			return true
		}
		if f, ok := fw.filters[a.id]; ok {
			if now.Before(f.until) && containsAll(f.refused, toOffer) {
				return true
			}
		}
		return false
	}
	agents := make([]*agent, 0, len(c.agents))
	for _, a := range c.agents {
		if a.stopped {
			continue
		}
		agents = append(agents, a)
		if len(a.held) > 0 {
			// Ports busy at an earlier offer are probed again: those free
			// now are the agent's again (and grow it beyond a filter).
			back, still := withoutBusyPorts(a.held, func(p uint64) bool { return c.probes.free(p, now, portFree) })
			a.held = still
			a.free.Add(back...)
		}
	}
	rand.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })

	// Stage 1: quota guarantees.
	for _, a := range agents {
		for _, role := range c.sortedRoles(s) {
			g, ok := c.cfg.Quota[role]
			if !ok || len(a.free) == 0 {
				continue
			}
			unsatisfied := g.quantities().minus(s.consumed[role])
			if len(unsatisfied) == 0 {
				continue
			}
			for _, fw := range c.sortedFrameworks(s, role) {
				if len(unsatisfied) == 0 {
					break
				}
				avail := allocatableTo(a.free, role)
				if len(avail) == 0 {
					break
				}
				unres, rest := split(avail)
				guaranteed := shrink(unres, unsatisfied)
				if len(guaranteed) == 0 {
					continue
				}
				extra := mesos.Resources(unres.Clone()).Minus(guaranteed...)
				extra = shrink(extra, available.minus(required))
				toOffer := append(append(guaranteed.Clone(), rest...), extra...)
				if filtered(fw, a, toOffer) {
					continue
				}
				inc := scalarsOf(append(guaranteed.Clone(), extra...))
				unsatisfied = unsatisfied.minus(inc)
				required = required.minus(scalarsOf(guaranteed))
				available = available.minus(inc)
				give(fw, role, a, toOffer)
			}
		}
	}
	// Stage 2: everything else, keeping the headroom.
	rand.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	for _, a := range agents {
		for _, role := range c.sortedRoles(s) {
			if len(a.free) == 0 {
				break
			}
			for _, fw := range c.sortedFrameworks(s, role) {
				avail := allocatableTo(a.free, role)
				if len(avail) == 0 {
					break
				}
				unres, rest := split(avail)
				if len(required) > 0 {
					unres = shrink(unres, available.minus(required))
				}
				toOffer := append(rest.Clone(), unres...)
				if filtered(fw, a, toOffer) {
					continue
				}
				available = available.minus(scalarsOf(unres))
				give(fw, role, a, toOffer)
			}
		}
	}

	batches := map[*framework][]mesos.Offer{}
	for _, k := range order {
		fw, a := k.fw, k.a
		var cand mesos.Resources
		cand.Add(offerable[k]...)
		offered, held := withoutBusyPorts(cand, func(p uint64) bool { return c.probes.free(p, now, portFree) })
		if len(held) > 0 {
			c.log.Debug("ports busy on 127.0.0.1; not offered", "agent", a.id, "ports", portList(held))
			a.held.Add(held...)
		}
		o := &offer{id: c.nextID("O"), fw: fw, agent: a, role: k.role, resources: offered}
		c.offers[o.id] = o
		batches[fw] = append(batches[fw], c.offerMessage(o))
	}
	for _, id := range c.fwOrder {
		if fw := c.frameworks[id]; fw != nil && len(batches[fw]) > 0 {
			fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: batches[fw]}})
		}
	}
}

// offerMessage builds the Offer a framework receives: resources allocated to
// the offer's role for MULTI_ROLE frameworks (Master::offer strips the
// allocation_info for the others), in the pre-refinement reservation
// format (role and reservation) for frameworks without the
// RESERVATION_REFINEMENT capability (downgradeResources).
func (c *Cluster) offerMessage(o *offer) mesos.Offer {
	fw, a := o.fw, o.agent
	var execIDs []mesos.ExecutorID
	for _, ex := range fw.executors {
		if ex.agent == a && !ex.terminated {
			execIDs = append(execIDs, mesos.ExecutorID{Value: ex.id})
		}
	}
	_, port := splitHostPort(a.endpoint)
	res := o.resources.Clone()
	if !fw.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		res = downgrade(res)
	}
	var alloc *mesos.Resource_AllocationInfo
	if fw.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		res.Allocate(o.role)
		alloc = &mesos.Resource_AllocationInfo{Role: ptr(o.role)}
	}
	return mesos.Offer{
		ID:          mesos.OfferID{Value: o.id},
		FrameworkID: mesos.FrameworkID{Value: fw.id},
		AgentID:     mesos.AgentID{Value: a.id},
		Hostname:    a.hostname,
		URL: &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: ptr(a.hostname), IP: ptr("127.0.0.1"), Port: int32(port)},
			Path: ptr("/slave(1)")},
		Resources:      res,
		ExecutorIDs:    execIDs,
		AllocationInfo: alloc,
	}
}
