package proxy

import (
	"context"

	"github.com/webfarm/webfarm/lb"
)

// Stats implements [lb.Balancer]. Requests counts every request the
// proxy accepted, answered by a backend or not; a backend's Requests
// counts those sent to it.
func (b *Balancer) Stats(ctx context.Context) (lb.Stats, error) {
	if err := b.lock(ctx, "stats"); err != nil {
		return lb.Stats{}, err
	}
	defer b.mu.Unlock()
	s := lb.Stats{
		At:       b.now(),
		Requests: b.requests.Load(),
		Active:   int(b.active.Load()),
		Backends: make(map[string]lb.BackendStats, len(b.pool)),
	}
	for id, be := range b.pool {
		st := be.state
		if st == lb.StateReady && be.weight == 0 {
			st = lb.StateDraining // weight 0 takes no new requests
		}
		s.Backends[id] = lb.BackendStats{Requests: be.served.Load(), Active: int(be.active.Load()), State: st}
	}
	return s, nil
}
