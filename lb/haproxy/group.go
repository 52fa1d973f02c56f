package haproxy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// ReadAll reads the counters of several Balancers that drive backends of
// one HAProxy (the same Config.Socket) in one round trip: `show info;show
// stat -1 <types> -1` answers for every proxy at once, so the cost of
// reading N services is one command, not N. Each Reading is what
// [Balancer.Read] would return (or [Balancer.Totals], for a Balancer with
// Config.TotalsOnly), restart detection included; they come in bs's
// order. Balancers of different sockets, a Balancer given twice, or none
// at all give an error wrapping [lb.ErrInvalid].
func ReadAll(ctx context.Context, bs ...*Balancer) ([]Reading, error) {
	if len(bs) == 0 {
		return nil, fmt.Errorf("haproxy: read all: no balancer: %w", lb.ErrInvalid)
	}
	for i, b := range bs {
		if b == nil {
			return nil, fmt.Errorf("haproxy: read all: balancer %d is nil: %w", i, lb.ErrInvalid)
		}
		if b.cfg.Socket != bs[0].cfg.Socket {
			return nil, fmt.Errorf("haproxy: read all: backend %s is on socket %s, backend %s on %s: one HAProxy per read: %w",
				b.cfg.Backend, b.cfg.Socket, bs[0].cfg.Backend, bs[0].cfg.Socket, lb.ErrInvalid)
		}
		if slices.Contains(bs[:i], b) {
			return nil, fmt.Errorf("haproxy: read all: backend %s given twice: %w", b.cfg.Backend, lb.ErrInvalid)
		}
		if err := b.checkOpen(ctx); err != nil {
			return nil, fmt.Errorf("haproxy: stats: backend %s: %w", b.cfg.Backend, err)
		}
	}
	// Take every reading semaphore, in backend-name order so that two
	// overlapping ReadAll calls cannot deadlock.
	order := slices.Clone(bs)
	slices.SortFunc(order, func(a, b *Balancer) int { return cmp.Compare(a.cfg.Backend, b.cfg.Backend) })
	for i, b := range order {
		select {
		case b.statsSem <- struct{}{}:
		case <-ctx.Done():
			for _, held := range order[:i] {
				<-held.statsSem
			}
			return nil, fmt.Errorf("haproxy: stats: %w", ctx.Err())
		}
	}
	defer func() {
		for _, b := range order {
			<-b.statsSem
		}
	}()
	types := 3 // frontends and backends
	for _, b := range bs {
		if !b.cfg.TotalsOnly {
			types = 7 // and servers
		}
	}
	out, err := bs[0].show(ctx, fmt.Sprintf("show info;show stat -1 %d -1", types))
	if err != nil {
		return nil, fmt.Errorf("haproxy: stats: %w", err)
	}
	at := time.Now()
	rep, err := parseReply(out)
	if err != nil {
		return nil, fmt.Errorf("haproxy: stats: %w", err)
	}
	// Hand each Balancer its proxies' rows only: the cost stays linear in
	// the rows, however many Balancers share them.
	byProxy := make(map[string][]statRow)
	for _, row := range rep.rows {
		byProxy[row.proxy] = append(byProxy[row.proxy], row)
	}
	readings := make([]Reading, len(bs))
	for i, b := range bs {
		own := reply{info: rep.info, hasInfo: rep.hasInfo, rows: byProxy[b.cfg.Backend]}
		if fe := b.cfg.Frontend; fe != "" && fe != b.cfg.Backend {
			own.rows = append(slices.Clip(own.rows), byProxy[fe]...)
		}
		if readings[i], err = b.reading(ctx, own, at, !b.cfg.TotalsOnly); err != nil {
			return nil, err
		}
	}
	return readings, nil
}

// Group shares one read among the Balancers of one HAProxy, so that one
// controller per service (each calling Stats on its own service's
// Balancer) costs one `show stat` per round, not one per service. Use
// [Group.Member] in place of a Balancer where Stats is read:
//
//	g, _ := haproxy.NewGroup(500*time.Millisecond, web, api, static)
//	ctl := &scaler.Controller{Balancer: g.Member(api), Runner: apiService, ...}
//
// Its methods are safe for concurrent use.
type Group struct {
	members []*Balancer
	maxAge  time.Duration

	mu       sync.Mutex // held during a read: concurrent callers wait for it
	at       time.Time
	readings map[*Balancer]Reading
	reads    int
}

// NewGroup returns a Group of bs, which must share one HAProxy (see
// [ReadAll]). A Stats call within maxAge of the group's last read is
// answered from it; set maxAge to about half the controllers' interval.
// A maxAge ≤ 0 gives an error wrapping [lb.ErrInvalid].
func NewGroup(maxAge time.Duration, bs ...*Balancer) (*Group, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("haproxy: group: maxAge %v must be positive: %w", maxAge, lb.ErrInvalid)
	}
	// Check the members as ReadAll will, without reading.
	for i, b := range bs {
		if b == nil || b.cfg.Socket != bs[0].cfg.Socket || slices.Contains(bs[:i], b) {
			return nil, fmt.Errorf("haproxy: group: member %d: nil, given twice, or on another socket: %w", i, lb.ErrInvalid)
		}
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("haproxy: group: no balancer: %w", lb.ErrInvalid)
	}
	return &Group{members: slices.Clone(bs), maxAge: maxAge}, nil
}

// Reads returns how many times the group read HAProxy.
func (g *Group) Reads() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads
}

// Read returns b's reading from the group's last read if it is younger
// than maxAge, else reads every member at once ([ReadAll]) first. b must
// be a member ([lb.ErrInvalid] otherwise).
func (g *Group) Read(ctx context.Context, b *Balancer) (Reading, error) {
	if !slices.Contains(g.members, b) {
		return Reading{}, fmt.Errorf("haproxy: group: backend %s is not a member: %w", b.cfg.Backend, lb.ErrInvalid)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.readings[b]; ok && time.Since(g.at) < g.maxAge {
		return r, nil
	}
	rs, err := ReadAll(ctx, g.members...)
	if err != nil {
		return Reading{}, err
	}
	g.reads++
	g.at = time.Now()
	g.readings = make(map[*Balancer]Reading, len(rs))
	for i, r := range rs {
		g.readings[g.members[i]] = r
	}
	return g.readings[b], nil
}

// Member returns b with its Stats read through the group; every other
// method (and optional interface) is b's own.
func (g *Group) Member(b *Balancer) *Member { return &Member{Balancer: b, g: g} }

// Member is a group member: a *Balancer whose Stats come from the
// group's shared read.
type Member struct {
	*Balancer
	g *Group
}

var _ lb.Balancer = (*Member)(nil)

// Stats returns the member's counters from the group's shared read (see
// [Group.Read]).
func (m *Member) Stats(ctx context.Context) (lb.Stats, error) {
	r, err := m.g.Read(ctx, m.Balancer)
	return r.Stats, err
}
