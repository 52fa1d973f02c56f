package lvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
)

// dest is a real server as the kernel reports it, with its backend ID.
type dest struct {
	member
	addr netip.AddrPort
	raw  *ipvs.Destination
}

// readDests lists the service's real servers and reconciles the ID map
// with them: unknown addresses are adopted, vanished ones forgotten. The
// kernel stays the source of truth, so real servers changed with ipvsadm
// show up as they are. The caller holds the lock.
func (b *Balancer) readDests(ctx context.Context) ([]dest, error) {
	return b.readDestsOn(ctx, b.nl)
}

// readDestsOn is readDests with the real servers listed over n, which may
// be another Balancer's socket in the same namespace (see [ReadAll]).
func (b *Balancer) readDestsOn(ctx context.Context, n *socket) ([]dest, error) {
	raw, err := call(ctx, n, func(h handle) ([]*ipvs.Destination, error) { return h.GetDestinations(b.svc) })
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, kernelErr("list real servers of "+b.cfg.Service.String(), err)
	}
	if len(raw) == 0 {
		// The kernel answers a dump of the real servers of a service it
		// does not have with an empty list, not an error
		// (ip_vs_genl_dump_dests in net/netfilter/ipvs/ip_vs_ctl.c): ask
		// for the service itself.
		if err := b.checkService(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]dest, 0, len(raw))
	seen := make(map[netip.AddrPort]bool, len(raw))
	for _, d := range raw {
		addr, err := destAddr(d)
		if err != nil {
			return nil, fmt.Errorf("lvs: list real servers of %s: %w", b.cfg.Service, err)
		}
		m, ok := b.members[addr]
		if !ok {
			m = member{id: addr.String(), adopted: true}
			b.members[addr] = m
			b.log.Info("lvs: adopted a real server found in the kernel", "id", m.id, "weight", d.Weight, "forward", destForward(d))
		}
		seen[addr] = true
		out = append(out, dest{member: m, addr: addr, raw: d})
	}
	for addr, m := range b.members {
		if !seen[addr] {
			delete(b.members, addr)
			delete(b.dstCount, m.id)
			b.forgetWeight(addr)
		}
	}
	slices.SortFunc(out, func(x, y dest) int { return strings.Compare(x.id, y.id) })
	return out, nil
}

// checkService reads the virtual service. If it is gone (deleted with
// ipvsadm -D, or by another program), checkService creates it again, empty,
// forgets the real servers it had, and returns an error wrapping
// ErrServiceGone: the caller's pool is empty and its backends must be
// added again (the mesos scheduler's pool repair does that at its next
// read). The caller holds the lock.
func (b *Balancer) checkService(ctx context.Context) error {
	s := b.cfg.Service
	_, err := call(ctx, b.nl, func(h handle) (*ipvs.Service, error) { return h.GetService(b.svc) })
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return err
	case !isErrno(err, syscall.ESRCH) && !strings.Contains(err.Error(), "obtained=0"): // moby/ipvs: "Expected only one service obtained=0"
		return kernelErr("read service "+s.String(), err)
	}
	lost := len(b.members)
	clear(b.members)
	clear(b.dstCount)
	clear(b.preDrain)
	b.svcCount = counters{}
	if _, cerr := b.ensureService(ctx); cerr != nil {
		return fmt.Errorf("lvs: virtual service %s was deleted outside this driver (%d real servers lost), and creating it again failed: %w: %w",
			s, lost, ErrServiceGone, cerr)
	}
	b.log.Warn("lvs: the virtual service was deleted outside this driver: created it again, empty", "lost_real_servers", lost)
	return fmt.Errorf("lvs: virtual service %s was deleted outside this driver (%d real servers lost); created it again, empty: add the backends again: %w",
		s, lost, ErrServiceGone)
}

// find returns the real server serving as id. An ID this Balancer gave
// wins over an adopted address-named one.
func find(ds []dest, id string) (dest, bool) {
	var found dest
	var ok bool
	for _, d := range ds {
		if d.id == id {
			if !d.adopted {
				return d, true
			}
			found, ok = d, true
		}
	}
	return found, ok
}

func byAddr(ds []dest, a netip.AddrPort) (dest, bool) {
	for _, d := range ds {
		if d.addr == a {
			return d, true
		}
	}
	return dest{}, false
}

// Backends implements [lb.Balancer]. It lists the service's real servers
// as the kernel has them, draining ones (weight 0) included.
func (b *Balancer) Backends(ctx context.Context) ([]lb.Backend, error) {
	if err := b.begin(ctx, "backends"); err != nil {
		return nil, err
	}
	defer b.nl.unlock()
	ds, err := b.readDests(ctx)
	if err != nil {
		return nil, wrapCtx("backends", err)
	}
	out := make([]lb.Backend, len(ds))
	for i, d := range ds {
		out[i] = lb.Backend{ID: d.id, Addr: d.addr}
	}
	return out, nil
}

// Add implements [lb.Balancer]: it adds b as a real server with
// Config.Forward and Config.Weight. Adding an address that an adopted real
// server has gives that server b's ID and changes nothing in the kernel.
func (b *Balancer) Add(ctx context.Context, be lb.Backend) error {
	return b.AddDest(ctx, be, Dest{Forward: b.cfg.Forward, Weight: b.cfg.Weight})
}

// AddDest is [Balancer.Add] with a forwarding method and weight for this
// real server. If be is already in the pool with the same address,
// AddDest changes nothing (a draining server stays draining, its method
// and weight stay as they are).
//
// Errors: an invalid backend or Dest wraps [lb.ErrInvalid]; for NAT and
// direct routing the backend's address family must be the service's (for a
// tunnel too, but that error wraps [lb.ErrUnsupported]: the kernel can
// tunnel across families, moby/ipvs v1.1.0 cannot ask it to), and
// for direct routing and tunnel its port must be the service's (the kernel
// does not rewrite ports then). An ID in the pool with another address,
// or an address serving another ID, wraps [lb.ErrExists].
func (b *Balancer) AddDest(ctx context.Context, be lb.Backend, d Dest) error {
	w := d.Weight
	if w == 0 {
		w = b.cfg.weight()
	}
	if w < 1 || w > MaxWeight {
		return fmt.Errorf("lvs: add %s: weight %d out of 1–%d: %w", be, d.Weight, MaxWeight, lb.ErrInvalid)
	}
	if err := checkBackend(b.cfg.Service, be, d.Forward); err != nil {
		return err
	}
	op := "add " + be.String()
	if err := b.begin(ctx, op); err != nil {
		return err
	}
	defer b.nl.unlock()
	ds, err := b.readDests(ctx)
	if err != nil {
		return wrapCtx(op, err)
	}
	if cur, ok := find(ds, be.ID); ok && !(cur.adopted && cur.addr != be.Addr) {
		if cur.addr == be.Addr {
			return nil
		}
		return fmt.Errorf("lvs: %s: pool has %s at %s: %w", op, be.ID, cur.addr, lb.ErrExists)
	}
	if cur, ok := byAddr(ds, be.Addr); ok {
		if !cur.adopted {
			return fmt.Errorf("lvs: %s: %s already serves backend %q: %w", op, be.Addr, cur.id, lb.ErrExists)
		}
		b.members[be.Addr] = member{id: be.ID}
		b.log.Info("lvs: adopted real server takes a backend ID", "id", be.ID, "addr", be.Addr)
		return nil
	}
	_, err = call(ctx, b.nl, func(h handle) (struct{}, error) {
		return struct{}{}, h.NewDestination(b.svc, toIPVSDest(be.Addr, d.Forward, w))
	})
	if err != nil && !isErrno(err, syscall.EEXIST) { // EEXIST: added outside since the read; take it
		return wrapCtx(op, kernelErr(op, err))
	}
	b.members[be.Addr] = member{id: be.ID}
	delete(b.dstCount, be.ID)
	b.log.Debug("lvs: added real server", "id", be.ID, "addr", be.Addr, "forward", d.Forward, "weight", w)
	return nil
}

// Drain implements [lb.Balancer] by setting the real server's weight to 0:
// IPVS sends it no new connections, and established ones continue.
// Remove it once [Balancer.ActiveConns] reports 0, or let [Balancer.Reap]
// (Config.ReapInterval) do it.
func (b *Balancer) Drain(ctx context.Context, id string) error {
	return b.setWeight(ctx, "drain "+id, id, 0)
}

// SetWeight implements [lb.Weighter]. Weight 0 is draining in IPVS, so
// SetWeight(id, 0) drains, and a positive weight on a draining real server
// puts it back into service.
func (b *Balancer) SetWeight(ctx context.Context, id string, weight int) error {
	op := fmt.Sprintf("set weight %s %d", id, weight)
	if weight < 0 || weight > MaxWeight {
		return fmt.Errorf("lvs: %s: out of 0–%d: %w", op, MaxWeight, lb.ErrInvalid)
	}
	return b.setWeight(ctx, op, id, weight)
}

func (b *Balancer) setWeight(ctx context.Context, op, id string, weight int) error {
	return b.withDest(ctx, op, id, func(cur dest, ok bool) error {
		if !ok {
			return fmt.Errorf("lvs: %s: %w", op, lb.ErrNotFound)
		}
		if cur.raw.Weight == weight {
			return nil
		}
		if weight == 0 {
			b.keepWeight(cur.addr, cur.raw.Weight)
		} else {
			b.forgetWeight(cur.addr)
		}
		return b.updateWeight(ctx, op, cur, weight)
	})
}

// withDest runs f holding the netlink lock, with id's real server as the
// kernel has it now; ok is false when the service has no such server.
func (b *Balancer) withDest(ctx context.Context, op, id string, f func(cur dest, ok bool) error) error {
	if err := b.begin(ctx, op); err != nil {
		return err
	}
	defer b.nl.unlock()
	ds, err := b.readDests(ctx)
	if err != nil {
		return wrapCtx(op, err)
	}
	cur, ok := find(ds, id)
	return f(cur, ok)
}

// updateWeight writes cur's new weight to the kernel; the caller holds the
// lock.
func (b *Balancer) updateWeight(ctx context.Context, op string, cur dest, weight int) error {
	upd := *cur.raw
	upd.Weight = weight
	_, err := call(ctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.UpdateDestination(b.svc, &upd) })
	if isErrno(err, syscall.ENOENT) {
		return fmt.Errorf("lvs: %s: removed outside this driver: %w", op, lb.ErrNotFound)
	}
	if err != nil {
		return wrapCtx(op, kernelErr(op, err))
	}
	return nil
}

// Remove implements [lb.Balancer]: it deletes the real server at once.
// Connections still open to it stop being forwarded: with the kernel's
// default net.ipv4.vs.expire_nodest_conn=0 their packets are dropped and
// their clients time out (in the test VM, three keep-alive clients whose
// server was removed under them each timed out). Drain first and wait for
// [Balancer.ActiveConns] to reach 0, or let [Balancer.Reap] remove it.
func (b *Balancer) Remove(ctx context.Context, id string) error {
	op := "remove " + id
	return b.withDest(ctx, op, id, func(cur dest, ok bool) error {
		if !ok {
			return nil
		}
		return wrapCtx(op, b.remove(ctx, cur))
	})
}

// remove deletes one real server; the caller holds the lock.
func (b *Balancer) remove(ctx context.Context, d dest) error {
	_, err := call(ctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.DelDestination(b.svc, d.raw) })
	if err != nil && !isErrno(err, syscall.ENOENT) {
		return kernelErr("remove "+d.id, err)
	}
	delete(b.members, d.addr)
	delete(b.dstCount, d.id)
	b.forgetWeight(d.addr)
	return nil
}

var _ lb.Resumer = (*Balancer)(nil)

// Resume implements [lb.Resumer]: it puts a draining real server (weight
// 0) back into service with the weight it had before Drain (or
// SetWeight(id, 0)), or Config.Weight when this Balancer did not see it
// drained (an adopted server found at weight 0). Established connections
// continue. Resuming a server with a positive weight succeeds and changes
// nothing; an unknown ID gives an error wrapping lb.ErrNotFound.
func (b *Balancer) Resume(ctx context.Context, id string) error {
	op := "resume " + id
	return b.withDest(ctx, op, id, func(cur dest, ok bool) error {
		if !ok {
			return fmt.Errorf("lvs: %s: %w", op, lb.ErrNotFound)
		}
		if cur.raw.Weight > 0 {
			return nil
		}
		w, kept := b.drainedWeight(cur.addr)
		if !kept {
			w = b.cfg.weight()
		}
		if err := b.updateWeight(ctx, op, cur, w); err != nil {
			return err
		}
		b.forgetWeight(cur.addr)
		b.log.Debug("lvs: resumed real server", "id", id, "addr", cur.addr, "weight", w)
		return nil
	})
}

// keepWeight records the weight a real server had before it was drained,
// for Resume. Callers hold the netlink lock.
func (b *Balancer) keepWeight(a netip.AddrPort, w int) {
	if w <= 0 {
		return
	}
	if b.preDrain == nil {
		b.preDrain = make(map[netip.AddrPort]int)
	}
	b.preDrain[a] = w
}

// drainedWeight returns the weight recorded by keepWeight.
func (b *Balancer) drainedWeight(a netip.AddrPort) (int, bool) {
	w, ok := b.preDrain[a]
	return w, ok
}

// forgetWeight drops the record: the server was resumed, given a positive
// weight, removed, or found gone from the kernel.
func (b *Balancer) forgetWeight(a netip.AddrPort) { delete(b.preDrain, a) }

// ActiveConns implements [lb.ConnCounter]: the real server's established
// connections (IPVS ActiveConn), read live from the kernel. Connections
// that are closing (InActConn) are not counted.
func (b *Balancer) ActiveConns(ctx context.Context, id string) (int, error) {
	op := "active conns " + id
	var n int
	err := b.withDest(ctx, op, id, func(cur dest, ok bool) error {
		if !ok {
			return fmt.Errorf("lvs: %s: %w", op, lb.ErrNotFound)
		}
		n = cur.raw.ActiveConnections
		return nil
	})
	return n, err
}

// Reap removes every draining real server (weight 0) that has no active
// connection left, and returns their IDs. Config.ReapInterval runs it in
// the background. Connections that are closing (InActConn) are not waited
// for; UDP flows never count as active, so a drained UDP server goes at
// the next Reap, as kube-proxy does.
func (b *Balancer) Reap(ctx context.Context) ([]string, error) {
	if err := b.begin(ctx, "reap"); err != nil {
		return nil, err
	}
	defer b.nl.unlock()
	ds, err := b.readDests(ctx)
	if err != nil {
		return nil, wrapCtx("reap", err)
	}
	var ids []string
	var errs []error
	for _, d := range ds {
		if d.raw.Weight != 0 || d.raw.ActiveConnections != 0 {
			continue
		}
		if err := b.remove(ctx, d); err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, d.id)
	}
	return ids, wrapCtx("reap", errors.Join(errs...))
}

// wrapCtx adds op to an error that is ctx's own (kernel errors already
// carry it).
func wrapCtx(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if !strings.HasPrefix(err.Error(), "lvs:") {
			return fmt.Errorf("lvs: %s: %w", op, err)
		}
	}
	return err
}
