package lvs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
)

// ReadAll reads the services of several Balancers of one kernel (the same
// Config.Namespace) in one pass over one netlink socket: one dump of
// every virtual service with its counters (IPVS_CMD_GET_SERVICE with
// NLM_F_DUMP, moby/ipvs's GetServices), then one dump of each service's
// real servers. The kernel has no dump of the real servers of all
// services at once: IPVS_CMD_GET_DEST needs the service
// (ip_vs_genl_dump_dests in net/netfilter/ipvs/ip_vs_ctl.c), so a round
// costs 1+N dumps where N Balancers reading alone cost 2N exchanges and
// N socket locks.
//
// Each reading is what [Balancer.ServiceStats] would return, in bs's
// order. A service missing from the dump (deleted outside the driver) is
// handled as ServiceStats handles it: created again, and its error wraps
// [ErrServiceGone]. ReadAll returns every reading it got, a zero one for
// each Balancer that failed, and the failures joined (errors.Join), each
// naming its service. Balancers of different namespaces, a Balancer given
// twice, or none at all give an error wrapping [lb.ErrInvalid] and read
// nothing; a closed Balancer fails alone ([lb.ErrClosed]).
func ReadAll(ctx context.Context, bs ...*Balancer) ([]ServiceStats, error) {
	if err := checkMembers("read all", bs); err != nil {
		return nil, err
	}
	out, errs, err := readAll(ctx, bs)
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

// checkMembers checks bs as ReadAll needs them.
func checkMembers(op string, bs []*Balancer) error {
	if len(bs) == 0 {
		return fmt.Errorf("lvs: %s: no balancer: %w", op, lb.ErrInvalid)
	}
	for i, b := range bs {
		if b == nil {
			return fmt.Errorf("lvs: %s: balancer %d is nil: %w", op, i, lb.ErrInvalid)
		}
		if b.cfg.Namespace != bs[0].cfg.Namespace {
			return fmt.Errorf("lvs: %s: service %s is in namespace %q, service %s in %q: one kernel per read: %w",
				op, b.cfg.Service, b.cfg.Namespace, bs[0].cfg.Service, bs[0].cfg.Namespace, lb.ErrInvalid)
		}
		if slices.Contains(bs[:i], b) {
			return fmt.Errorf("lvs: %s: service %s given twice: %w", op, b.cfg.Service, lb.ErrInvalid)
		}
	}
	return nil
}

// readAll does ReadAll's work: err fails the whole read (nothing was
// read), errs[i] fails bs[i]'s reading alone.
func readAll(ctx context.Context, bs []*Balancer) (out []ServiceStats, errs []error, err error) {
	// Take every Balancer's lock, in service order so that two
	// overlapping reads cannot deadlock; each Balancer's own calls wait
	// meanwhile, as they wait for one another.
	order := slices.Clone(bs)
	slices.SortFunc(order, func(x, y *Balancer) int { return cmp.Compare(x.cfg.Service.String(), y.cfg.Service.String()) })
	// A closed Balancer fails alone.
	errs = make([]error, len(bs))
	closed := map[*Balancer]error{}
	var held []*Balancer
	defer func() {
		for _, b := range held {
			b.nl.unlock()
		}
	}()
	for _, b := range order {
		if err := b.begin(ctx, "stats"); err != nil {
			if ctx.Err() != nil {
				return nil, nil, fmt.Errorf("lvs: stats: service %s: %w", b.cfg.Service, err)
			}
			closed[b] = fmt.Errorf("lvs: stats: service %s: %w", b.cfg.Service, err)
			continue
		}
		held = append(held, b)
	}
	if len(held) == 0 { // every one is closed
		for i, b := range bs {
			errs[i] = closed[b]
		}
		return make([]ServiceStats, len(bs)), errs, nil
	}
	// Any open Balancer's socket will do: they share the namespace.
	n := held[0].nl
	all, err := call(ctx, n, func(h handle) ([]*ipvs.Service, error) { return h.GetServices() })
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, wrapCtx("stats", err)
		}
		return nil, nil, kernelErr("stats: dump the virtual services", err)
	}
	at := time.Now()
	out = make([]ServiceStats, len(bs))
	for i, b := range bs {
		if errs[i] = closed[b]; errs[i] != nil {
			continue
		}
		k := findService(all, b.svc)
		if k == nil {
			// Gone: report it and create it again, as ServiceStats does.
			if cerr := b.checkService(ctx); cerr != nil {
				errs[i] = wrapCtx("stats", cerr)
			} else { // created again between the dump and now by someone else
				errs[i] = fmt.Errorf("lvs: stats: service %s was missing from the kernel's dump: %w", b.cfg.Service, ErrServiceGone)
			}
			continue
		}
		out[i], errs[i] = b.serviceStats(ctx, n, k, at)
		if errs[i] != nil && ctx.Err() != nil {
			return nil, nil, errs[i]
		}
	}
	return out, errs, nil
}

// findService returns the service of the dump that has key's identity
// (protocol, address and port, or firewall mark and family), or nil.
func findService(dump []*ipvs.Service, key *ipvs.Service) *ipvs.Service {
	for _, s := range dump {
		if key.FWMark != 0 {
			if s.FWMark == key.FWMark && s.AddressFamily == key.AddressFamily {
				return s
			}
			continue
		}
		if s.FWMark == 0 && s.Protocol == key.Protocol && s.Port == key.Port && s.Address.Equal(key.Address) {
			return s
		}
	}
	return nil
}

// Group shares one read among the Balancers of one kernel, so that one
// controller per service (each calling Stats on its own service's
// Balancer) costs one [ReadAll] per round, not one read per service. Use
// [Group.Member] in place of a Balancer where Stats is read:
//
//	g, _ := lvs.NewGroup(time.Second, web, api, static)
//	ctl := &scaler.Controller{Balancer: g.Member(api), Runner: apiService, ...}
//
// A member whose service failed alone (say it was deleted outside the
// driver) gets its error; the others keep their readings. Its methods
// are safe for concurrent use.
type Group struct {
	members []*Balancer
	maxAge  time.Duration

	mu       sync.Mutex // held during a read: concurrent callers wait for it
	at       time.Time
	readings map[*Balancer]ServiceStats
	reads    int
}

// NewGroup returns a Group of bs, which must share one kernel (see
// [ReadAll]). A Stats call within maxAge of the group's last read is
// answered from it; set maxAge to about half the controllers' interval.
// A maxAge ≤ 0 or bad members give an error wrapping [lb.ErrInvalid].
func NewGroup(maxAge time.Duration, bs ...*Balancer) (*Group, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("lvs: group: maxAge %v must be positive: %w", maxAge, lb.ErrInvalid)
	}
	if err := checkMembers("group", bs); err != nil {
		return nil, err
	}
	return &Group{members: slices.Clone(bs), maxAge: maxAge}, nil
}

// Reads returns how many times the group read the kernel.
func (g *Group) Reads() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.reads
}

// Read returns b's reading from the group's last read if it is younger
// than maxAge and b's part of it succeeded, else reads every member at
// once first. b must be a member ([lb.ErrInvalid] otherwise).
func (g *Group) Read(ctx context.Context, b *Balancer) (ServiceStats, error) {
	if !slices.Contains(g.members, b) {
		s := "<nil>"
		if b != nil {
			s = b.cfg.Service.String()
		}
		return ServiceStats{}, fmt.Errorf("lvs: group: service %s is not a member: %w", s, lb.ErrInvalid)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.readings[b]; ok && time.Since(g.at) < g.maxAge {
		return r, nil
	}
	out, errs, err := readAll(ctx, g.members)
	if err != nil {
		return ServiceStats{}, err
	}
	g.reads++
	g.at = time.Now()
	g.readings = make(map[*Balancer]ServiceStats, len(out))
	var mine error
	for i, m := range g.members {
		if errs[i] == nil {
			g.readings[m] = out[i]
		} else if m == b {
			mine = errs[i]
		}
	}
	if mine != nil {
		return ServiceStats{}, mine
	}
	return g.readings[b], nil
}

// Member returns b with its Stats read through the group; every other
// method (and optional interface) is b's own.
func (g *Group) Member(b *Balancer) *Member { return &Member{Balancer: b, g: g} }

// Member is a group member: a *Balancer whose Stats come from the group's
// shared read.
type Member struct {
	*Balancer
	g *Group
}

var _ lb.Balancer = (*Member)(nil)

// Stats returns the member's counters from the group's shared read (see
// [Group.Read]), in the form [Balancer.Stats] gives.
func (m *Member) Stats(ctx context.Context) (lb.Stats, error) {
	ss, err := m.g.Read(ctx, m.Balancer)
	if err != nil {
		return lb.Stats{}, err
	}
	return ss.lbStats(), nil
}
