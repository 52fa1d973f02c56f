package status

import (
	"context"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Watch returns a balancer that forwards every call to bal and records on
// the board what it sees: each Stats reading (the pool as the balancer
// reports it, or the error), and each membership change that succeeded
// (one log line per change, the drain time from Drain to Remove). The
// result implements [lb.ConnCounter], [lb.Weighter] and [lb.Resumer]
// exactly when bal does, and its Close closes bal if bal has a Close
// method.
func (b *Board) Watch(bal lb.Balancer) lb.Balancer {
	w := &watched{next: bal, board: b}
	c, cc := bal.(lb.ConnCounter)
	wt, ww := bal.(lb.Weighter)
	_, rr := bal.(lb.Resumer)
	r := resumer{w}
	switch {
	case cc && ww && rr:
		return struct {
			*watched
			lb.ConnCounter
			lb.Weighter
			lb.Resumer
		}{w, c, wt, r}
	case cc && ww:
		return struct {
			*watched
			lb.ConnCounter
			lb.Weighter
		}{w, c, wt}
	case cc && rr:
		return struct {
			*watched
			lb.ConnCounter
			lb.Resumer
		}{w, c, r}
	case ww && rr:
		return struct {
			*watched
			lb.Weighter
			lb.Resumer
		}{w, wt, r}
	case cc:
		return struct {
			*watched
			lb.ConnCounter
		}{w, c}
	case ww:
		return struct {
			*watched
			lb.Weighter
		}{w, wt}
	case rr:
		return struct {
			*watched
			lb.Resumer
		}{w, r}
	}
	return w
}

type watched struct {
	next  lb.Balancer
	board *Board
}

var (
	_ lb.Balancer = (*watched)(nil)
	_ lb.Resumer  = resumer{}
)

// resumer forwards Resume and records that the backend is no longer
// draining.
type resumer struct{ w *watched }

func (r resumer) Resume(ctx context.Context, id string) error {
	err := lb.Resume(ctx, r.w.next, id)
	if err == nil {
		r.w.board.resumed(id)
	}
	return err
}

// Close closes the wrapped balancer if it has a Close method.
func (w *watched) Close() error { return lb.Close(w.next) }

func (w *watched) Stats(ctx context.Context) (lb.Stats, error) {
	s, err := w.next.Stats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.board.statsFailed(err)
		}
		return s, err
	}
	w.board.observeStats(s)
	return s, nil
}

func (w *watched) Backends(ctx context.Context) ([]lb.Backend, error) {
	bs, err := w.next.Backends(ctx)
	if err == nil {
		w.board.observeBackends(bs)
	}
	return bs, err
}

func (w *watched) Add(ctx context.Context, b lb.Backend) error {
	err := w.next.Add(ctx, b)
	if err == nil {
		w.board.added(b)
	}
	return err
}

func (w *watched) Drain(ctx context.Context, id string) error {
	err := w.next.Drain(ctx, id)
	if err == nil {
		w.board.drained(id)
	}
	return err
}

func (w *watched) Remove(ctx context.Context, id string) error {
	err := w.next.Remove(ctx, id)
	if err == nil {
		w.board.removed(id)
	}
	return err
}

func (b *Board) statsFailed(err error) {
	b.m.statsErrors.Inc()
	b.mu.Lock()
	b.counts.StatsErrors++
	b.mu.Unlock()
	_ = err // the controller logs failed polls
}

func (b *Board) observeStats(s lb.Stats) {
	if s.Backends == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	byState := map[lb.State]int{}
	for id, bs := range s.Backends {
		e, ok := b.pool[id]
		if !ok {
			e = &poolEntry{}
			if m, ok := b.members[id]; ok {
				e.addr = m.addr
			}
			b.pool[id] = e
		}
		e.state, e.requests, e.active = bs.State, bs.Requests, bs.Active
		byState[bs.State]++
	}
	for id := range b.pool {
		if _, ok := s.Backends[id]; !ok {
			delete(b.pool, id)
		}
	}
	for st := lb.StateUnknown; st <= lb.StateDown; st++ {
		b.m.pool.WithLabelValues(st.String()).Set(float64(byState[st]))
	}
}

func (b *Board) observeBackends(bs []lb.Backend) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, be := range bs {
		if e, ok := b.pool[be.ID]; ok {
			e.addr = be.Addr.String()
		}
		if m, ok := b.members[be.ID]; ok && m.addr == "" {
			m.addr = be.Addr.String()
		}
	}
}

func (b *Board) added(be lb.Backend) {
	b.mu.Lock()
	m, ok := b.members[be.ID]
	if !ok {
		m = &member{}
		b.members[be.ID] = m
		b.counts.Adds++
	}
	m.addr = be.Addr.String()
	if e, ok := b.pool[be.ID]; ok {
		e.addr = m.addr
	}
	b.mu.Unlock()
	if !ok {
		b.m.membership.WithLabelValues("add").Inc()
		b.log.Info("pool: backend added", "backend", be.ID, "addr", be.Addr.String())
	}
}

func (b *Board) drained(id string) {
	now := b.opts.Now()
	b.mu.Lock()
	m, ok := b.members[id]
	if !ok { // a backend this board did not see added (adopted)
		m = &member{}
		b.members[id] = m
	}
	fresh := m.drainedAt.IsZero()
	if fresh {
		m.drainedAt = now
		b.counts.Drains++
	}
	if e, ok := b.pool[id]; ok {
		e.state = lb.StateDraining
	}
	b.mu.Unlock()
	if fresh {
		b.m.membership.WithLabelValues("drain").Inc()
		b.log.Info("pool: backend draining", "backend", id)
	}
}

func (b *Board) resumed(id string) {
	b.mu.Lock()
	m, ok := b.members[id]
	wasDraining := ok && !m.drainedAt.IsZero()
	if wasDraining {
		m.drainedAt = time.Time{}
	}
	if e, ok := b.pool[id]; ok {
		e.state = lb.StateReady
	}
	b.mu.Unlock()
	if wasDraining {
		b.m.membership.WithLabelValues("resume").Inc()
		b.log.Info("pool: backend resumed", "backend", id)
	}
}

func (b *Board) removed(id string) {
	now := b.opts.Now()
	b.mu.Lock()
	m, ok := b.members[id]
	delete(b.members, id)
	delete(b.pool, id)
	if ok {
		b.counts.Removes++
	}
	b.mu.Unlock()
	if !ok {
		return // idempotent Remove of an absent backend: no change
	}
	b.m.membership.WithLabelValues("remove").Inc()
	args := []any{"backend", id}
	if !m.drainedAt.IsZero() {
		d := now.Sub(m.drainedAt)
		b.m.drain.Observe(d.Seconds())
		args = append(args, "drained_for", d.Round(time.Millisecond))
	}
	b.log.Info("pool: backend removed", args...)
}
