package local

import (
	"slices"
	"strings"
)

// FrameworkShare is a snapshot of what one framework holds in one role:
// resources offered to it or used by its tasks and executors, as the
// allocator counts them.
type FrameworkShare struct {
	FrameworkID string
	Name        string
	Role        string
	CPUs        float64
	Mem         float64 // MiB
	// Share is the dominant share: the larger of CPUs and Mem as a
	// fraction of the cluster's (agents that run), 0 to 1, before the
	// role's weight.
	Share float64
}

// Shares returns the share of the cluster each connected or disconnected
// (not removed) framework holds, per role, ordered by framework
// subscription and role: what a status page shows as the cluster's share
// per framework.
func (c *Cluster) Shares() []FrameworkShare {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.allocState()
	var out []FrameworkShare
	for _, id := range c.fwOrder {
		fw := c.frameworks[id]
		if fw == nil || fw.removed {
			continue
		}
		roles := fw.roles()
		for k := range s.fwAlloc { // roles it holds resources in, e.g. after an update of its roles
			if fid, role, ok := strings.Cut(k, "\x00"); ok && fid == fw.id && !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
		for _, role := range roles {
			q := s.fwAlloc[fw.id+"\x00"+role]
			out = append(out, FrameworkShare{FrameworkID: fw.id, Name: fw.info.Name, Role: role,
				CPUs: q["cpus"], Mem: q["mem"], Share: share(q, s.total, 1)})
		}
	}
	return out
}
