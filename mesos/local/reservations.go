package local

import (
	"cmp"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Reservation is a snapshot of the dynamic reservations of one role on one
// agent: free, offered or used by tasks and executors, as the master's
// /state lists an agent's reserved_resources per role.
type Reservation struct {
	AgentID   string
	Role      string
	Principal string
	CPUs      float64
	Mem       float64 // MiB
}

// Reservations returns the dynamic reservations on the agents that run,
// ordered by agent (start order), role and principal.
func (c *Cluster) Reservations() []Reservation {
	c.mu.Lock()
	defer c.mu.Unlock()
	type key struct{ agent, role, principal string }
	sums := map[key]*Reservation{}
	add := func(a *agent, rs mesos.Resources) {
		if a.stopped {
			return
		}
		for _, r := range rs {
			if !r.IsDynamicallyReserved() || r.GetType() != mesos.SCALAR {
				continue
			}
			ri := r.Reservations[len(r.Reservations)-1]
			k := key{a.id, ri.GetRole(), ri.GetPrincipal()}
			s := sums[k]
			if s == nil {
				s = &Reservation{AgentID: a.id, Role: k.role, Principal: k.principal}
				sums[k] = s
			}
			switch r.Name {
			case "cpus":
				s.CPUs += r.GetScalar().GetValue()
			case "mem":
				s.Mem += r.GetScalar().GetValue()
			}
		}
	}
	order := map[string]int{}
	for i, a := range c.agents {
		order[a.id] = i
		add(a, a.free)
	}
	for _, o := range c.offers {
		add(o.agent, o.resources)
	}
	for _, fw := range c.frameworks {
		for _, t := range fw.tasks {
			if !t.freed {
				add(t.agent, t.res)
			}
		}
		for _, ex := range fw.executors {
			if !ex.freed {
				add(ex.agent, ex.res)
			}
		}
	}
	out := make([]Reservation, 0, len(sums))
	for _, s := range sums {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Reservation) int {
		return cmp.Or(cmp.Compare(order[a.AgentID], order[b.AgentID]), cmp.Compare(a.Role, b.Role), cmp.Compare(a.Principal, b.Principal))
	})
	return out
}
