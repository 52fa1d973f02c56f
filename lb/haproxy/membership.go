package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// server is one server of the managed backend, as `show stat` lists it.
type server struct {
	name string
	id   string
	addr netip.AddrPort // zero if HAProxy shows no address (an FQDN server not resolved yet)
	row  statRow
}

func (s server) backend() lb.Backend { return lb.Backend{ID: s.id, Addr: s.addr} }

// inMaint reports whether the server is in maintenance by its own admin
// state (not merely tracking another server's).
func (s server) inMaint() bool {
	return s.row.status == "MAINT"
}

// servers lists the backend's servers.
func (b *Balancer) servers(ctx context.Context) ([]server, error) {
	if err := b.checkOpen(ctx); err != nil {
		return nil, err
	}
	out, err := b.show(ctx, fmt.Sprintf("show stat %s 4 -1", b.cfg.Backend))
	if err != nil {
		return nil, fmt.Errorf("list servers: %w", err)
	}
	r, err := parseReply(out)
	if err != nil {
		return nil, fmt.Errorf("list servers of %s: %w", b.cfg.Backend, err)
	}
	return b.fromRows(r.rows), nil
}

// fromRows picks the managed backend's server rows.
func (b *Balancer) fromRows(rows []statRow) []server {
	var out []server
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, row := range rows {
		if row.typ != typeServer || row.proxy != b.cfg.Backend {
			continue
		}
		s := server{name: row.name, row: row}
		s.addr, _ = netip.ParseAddrPort(row.addr)
		if id, ok := b.names[row.name]; ok {
			s.id = id
		} else if id, ok := idFromName(row.name); ok {
			s.id = id
		} else {
			s.id = row.name // a static server, or a hashed name we did not add
		}
		out = append(out, s)
	}
	return out
}

// find returns the server for id: the one named serverName(id), else one
// whose ID reads as id (an adopted server named otherwise).
func find(ss []server, id string) (server, bool) {
	name := serverName(id)
	for _, s := range ss {
		if s.name == name {
			return s, true
		}
	}
	for _, s := range ss {
		if s.id == id {
			return s, true
		}
	}
	return server{}, false
}

// remember records the ID of a server whose name does not decode to it.
func (b *Balancer) remember(name, id string) {
	if got, ok := idFromName(name); ok && got == id {
		return
	}
	b.mu.Lock()
	b.names[name] = id
	b.mu.Unlock()
}

// forget drops what the Balancer knows of a deleted server.
func (b *Balancer) forget(name, id string) {
	b.mu.Lock()
	delete(b.names, name)
	delete(b.pool, id)
	b.mu.Unlock()
}

// Backends lists the backend's servers, draining ones included: those the
// driver added and those it found (adopted). A server added by the driver
// is listed under the ID it was added with; a server from the
// configuration under its name.
func (b *Balancer) Backends(ctx context.Context) ([]lb.Backend, error) {
	ss, err := b.servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("haproxy: backends: %w", err)
	}
	out := make([]lb.Backend, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.backend())
	}
	return out, nil
}

// Add adds the backend as a server and makes it ready:
// `add server <backend>/<name> <addr> <ServerOptions>`, then
// `enable health` if Config.HealthCheck, then `set server … state ready`.
// The server name derives from the ID (see the package doc). Add checks
// first, so it is idempotent (also when client-native re-sends the
// command after an I/O error): a server with this ID and address is left
// as it is (a draining one stays draining; one left in maintenance by an
// interrupted Add or Remove is made ready); one with another address gives
// an error wrapping lb.ErrExists. If a step after `add server` fails, the
// server is deleted again: nothing is left half-added.
func (b *Balancer) Add(ctx context.Context, bk lb.Backend) error {
	if err := bk.Validate(); err != nil {
		return fmt.Errorf("haproxy: add: %w", err)
	}
	if err := b.lock(ctx); err != nil {
		return fmt.Errorf("haproxy: add %s: %w", bk, err)
	}
	defer b.unlock()
	if _, err := b.add(ctx, bk); err != nil {
		return err
	}
	if err := b.persist(); err != nil {
		return fmt.Errorf("haproxy: add %s: %w", bk, err)
	}
	return nil
}

// add is Add under the membership lock, without saving to ConfigFile.
// added reports whether it ran `add server` (false: the server was there).
func (b *Balancer) add(ctx context.Context, bk lb.Backend) (added bool, err error) {
	ss, err := b.servers(ctx)
	if err != nil {
		return false, fmt.Errorf("haproxy: add %s: %w", bk, err)
	}
	if s, ok := find(ss, bk.ID); ok {
		return false, b.adopt(ctx, s, bk)
	}
	name := serverName(bk.ID)
	attrs := strings.TrimSpace(bk.Addr.String() + " " + b.cfg.ServerOptions)
	err = b.exec(ctx, func(api runtimeAPI) error { return api.AddServer(b.cfg.Backend, name, attrs) })
	if said(err, msgExists) {
		// Added meanwhile: by client-native's retry after an I/O error, or
		// by another driver instance.
		ss, lerr := b.servers(ctx)
		if lerr != nil {
			return false, fmt.Errorf("haproxy: add %s: %w", bk, lerr)
		}
		if s, ok := find(ss, bk.ID); ok {
			return false, b.adopt(ctx, s, bk)
		}
	}
	if err != nil {
		return false, fmt.Errorf("haproxy: add %s: add server %s/%s %s: %w", bk, b.cfg.Backend, name, attrs, err)
	}
	b.remember(name, bk.ID)
	if err := b.enable(ctx, name); err != nil {
		b.rollback(ctx, name)
		return false, fmt.Errorf("haproxy: add %s: %w", bk, err)
	}
	b.setMember(bk, false)
	return true, nil
}

// adopt handles Add of an ID HAProxy already has.
func (b *Balancer) adopt(ctx context.Context, s server, bk lb.Backend) error {
	if s.addr != bk.Addr {
		return fmt.Errorf("haproxy: add %s: server %s/%s has address %s: %w", bk, b.cfg.Backend, s.name, s.row.addr, lb.ErrExists)
	}
	b.remember(s.name, bk.ID)
	if s.inMaint() {
		if err := b.enable(ctx, s.name); err != nil {
			return fmt.Errorf("haproxy: add %s: %w", bk, err)
		}
	}
	b.setMember(bk, strings.HasPrefix(s.row.status, "DRAIN"))
	return nil
}

// member is a backend this Balancer keeps in the pool.
type member struct {
	backend  lb.Backend
	draining bool
}

func (b *Balancer) setMember(bk lb.Backend, draining bool) {
	b.mu.Lock()
	b.pool[bk.ID] = member{bk, draining}
	b.mu.Unlock()
}

// restore re-adds the members that are not draining, after HAProxy lost
// them in a restart. It returns how many it added: members already in
// HAProxy (read from ConfigFile by the new process) are left as they are
// and not counted.
func (b *Balancer) restore(ctx context.Context) (int, error) {
	if err := b.lock(ctx); err != nil {
		return 0, err
	}
	defer b.unlock()
	b.mu.Lock()
	var want []lb.Backend
	for _, m := range b.pool {
		if !m.draining {
			want = append(want, m.backend)
		}
	}
	b.mu.Unlock()
	var errs []error
	n := 0
	for _, bk := range want {
		added, err := b.add(ctx, bk)
		if err != nil {
			errs = append(errs, err)
		}
		if added {
			n++
		}
	}
	if err := b.persist(); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// enable turns health checks on (if configured) and makes the server ready.
func (b *Balancer) enable(ctx context.Context, name string) error {
	be := b.cfg.Backend
	if b.cfg.HealthCheck {
		if err := b.exec(ctx, func(api runtimeAPI) error { return api.EnableServerHealth(be, name) }); err != nil {
			return fmt.Errorf("enable health %s/%s: %w", be, name, err)
		}
	}
	if err := b.exec(ctx, func(api runtimeAPI) error { return api.SetServerState(be, name, "ready") }); err != nil {
		return fmt.Errorf("set server %s/%s state ready: %w", be, name, err)
	}
	return nil
}

// rollback deletes a server Add created but could not make ready. It runs
// even when ctx is done (the server is in maintenance, so del works).
func (b *Balancer) rollback(ctx context.Context, name string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Timeout)
	defer cancel()
	err := b.exec(rctx, func(api runtimeAPI) error { return api.DeleteServer(b.cfg.Backend, name) })
	if err != nil && !said(err, msgNoServer) {
		b.log.Error("could not delete a half-added server", "server", name, "err", err)
		return
	}
	b.mu.Lock()
	delete(b.names, name)
	b.mu.Unlock()
}

// Drain stops new connections to the server (`set server … state drain`);
// connections already open continue. Draining a draining server succeeds;
// an unknown ID gives an error wrapping lb.ErrNotFound.
func (b *Balancer) Drain(ctx context.Context, id string) error {
	if err := b.lock(ctx); err != nil {
		return fmt.Errorf("haproxy: drain %q: %w", id, err)
	}
	defer b.unlock()
	ss, err := b.servers(ctx)
	if err != nil {
		return fmt.Errorf("haproxy: drain %q: %w", id, err)
	}
	s, ok := find(ss, id)
	if !ok {
		return fmt.Errorf("haproxy: drain %q: no such server in %s: %w", id, b.cfg.Backend, lb.ErrNotFound)
	}
	if !strings.HasPrefix(s.row.status, "DRAIN") {
		err = b.exec(ctx, func(api runtimeAPI) error { return api.SetServerState(b.cfg.Backend, s.name, "drain") })
		if err != nil {
			return fmt.Errorf("haproxy: drain %q: %w", id, notFound(err))
		}
	}
	if s.addr.IsValid() {
		b.setMember(s.backend(), true)
	}
	if err := b.persist(); err != nil {
		return fmt.Errorf("haproxy: drain %q: %w", id, err)
	}
	return nil
}

var _ lb.Resumer = (*Balancer)(nil)

// Resume puts a draining server back into service (`set server … state
// ready`), implementing [lb.Resumer]; the connections it kept while
// draining continue. Resuming a ready server succeeds, and one left in
// maintenance by an interrupted Remove is made ready too. An unknown ID
// gives an error wrapping lb.ErrNotFound. With Config.ConfigFile, the
// server's line is written without "disabled" again, so a restart or
// reload brings it back ready.
func (b *Balancer) Resume(ctx context.Context, id string) error {
	if err := b.lock(ctx); err != nil {
		return fmt.Errorf("haproxy: resume %q: %w", id, err)
	}
	defer b.unlock()
	ss, err := b.servers(ctx)
	if err != nil {
		return fmt.Errorf("haproxy: resume %q: %w", id, err)
	}
	s, ok := find(ss, id)
	if !ok {
		return fmt.Errorf("haproxy: resume %q: no such server in %s: %w", id, b.cfg.Backend, lb.ErrNotFound)
	}
	if strings.HasPrefix(s.row.status, "DRAIN") || s.inMaint() {
		err = b.exec(ctx, func(api runtimeAPI) error { return api.SetServerState(b.cfg.Backend, s.name, "ready") })
		if err != nil {
			return fmt.Errorf("haproxy: resume %q: set server %s/%s state ready: %w", id, b.cfg.Backend, s.name, notFound(err))
		}
	}
	if s.addr.IsValid() {
		b.setMember(s.backend(), false)
	}
	if err := b.persist(); err != nil {
		return fmt.Errorf("haproxy: resume %q: %w", id, err)
	}
	return nil
}

// Remove deletes the server: `set server … state maint`, then `del server`
// once no connection is attached. Config.RemoveTimeout bounds the wait:
// sessions still open near its end are shut (`shutdown sessions server`),
// and if HAProxy still counts connections when it ends, Remove returns an
// error wrapping ErrBusy with the server left in maintenance. Callers
// drain first and wait (see ActiveConns), so that nothing is cut. Removing an unknown ID succeeds.
// If ctx ends while Remove waits, the server stays in maintenance (no new
// traffic); a later Remove deletes it, a later Add makes it ready again.
func (b *Balancer) Remove(ctx context.Context, id string) error {
	if err := b.lock(ctx); err != nil {
		return fmt.Errorf("haproxy: remove %q: %w", id, err)
	}
	defer b.unlock()
	if err := b.remove(ctx, id); err != nil {
		return err
	}
	if err := b.persist(); err != nil {
		return fmt.Errorf("haproxy: remove %q: %w", id, err)
	}
	return nil
}

// remove is Remove under the membership lock, without saving to
// ConfigFile.
func (b *Balancer) remove(ctx context.Context, id string) error {
	ss, err := b.servers(ctx)
	if err != nil {
		return fmt.Errorf("haproxy: remove %q: %w", id, err)
	}
	s, ok := find(ss, id)
	if !ok {
		b.mu.Lock()
		delete(b.pool, id)
		b.mu.Unlock()
		return nil
	}
	be := b.cfg.Backend
	maint := func() error {
		return b.exec(ctx, func(api runtimeAPI) error { return api.SetServerState(be, s.name, "maint") })
	}
	if !s.inMaint() {
		if err := maint(); err != nil {
			if said(err, msgNoServer) {
				b.forget(s.name, id)
				return nil
			}
			return fmt.Errorf("haproxy: remove %q: set server %s/%s state maint: %w", id, be, s.name, err)
		}
	}
	// RemoveTimeout bounds the whole wait: sessions still open at shutAt
	// are shut, and what HAProxy still counts at deadline (connections
	// that outlived the shutdown, idle pooled connections it purges only
	// every pool-purge-delay) makes Remove give up with ErrBusy.
	start := time.Now()
	deadline := start.Add(b.cfg.RemoveTimeout)
	shutAt := deadline.Add(-min(b.cfg.RemoveTimeout/4, 2*time.Second))
	shut := false
	wait := 5 * time.Millisecond
	for {
		err := b.exec(ctx, func(api runtimeAPI) error { return api.DeleteServer(be, s.name) })
		switch {
		case err == nil || said(err, msgNoServer):
			b.forget(s.name, id)
			return nil
		case said(err, msgNotMaint): // made ready meanwhile, by someone else
			if err := maint(); err != nil && !said(err, msgNoServer) {
				return fmt.Errorf("haproxy: remove %q: set server %s/%s state maint: %w", id, be, s.name, err)
			}
		case said(err, msgBusy):
			now := time.Now()
			if shut && !now.Before(deadline) {
				return fmt.Errorf("haproxy: remove %q: server %s/%s still has connections %s after Remove began, its sessions shut "+
					"(idle pooled connections go at the next pool-purge-delay); it stays in maintenance, taking no traffic, "+
					"until Remove is called again: %w", id, be, s.name, now.Sub(start).Round(time.Millisecond), ErrBusy)
			}
			if !shut && !now.Before(shutAt) {
				shut = true
				b.log.Warn("server still has connections near RemoveTimeout: shutting its sessions", "id", id, "server", s.name,
					"waited", now.Sub(start).Round(time.Millisecond), "timeout", b.cfg.RemoveTimeout)
				out, err := b.raw(ctx, fmt.Sprintf("shutdown sessions server %s/%s", be, s.name))
				if err == nil {
					err = severityError(out)
				}
				if err != nil && !said(err, msgNoServer) {
					return fmt.Errorf("haproxy: remove %q: shutdown sessions: %w", id, err)
				}
			}
		default:
			return fmt.Errorf("haproxy: remove %q: del server %s/%s: %w", id, be, s.name, err)
		}
		next := deadline
		if !shut {
			next = shutAt
		}
		t := time.NewTimer(max(min(wait, time.Until(next)), time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("haproxy: remove %q: waiting for its connections to end: %w", id, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// ActiveConns returns the server's current sessions (`scur`). An unknown
// ID gives an error wrapping lb.ErrNotFound.
func (b *Balancer) ActiveConns(ctx context.Context, id string) (int, error) {
	ss, err := b.servers(ctx)
	if err != nil {
		return 0, fmt.Errorf("haproxy: active conns %q: %w", id, err)
	}
	s, ok := find(ss, id)
	if !ok {
		return 0, fmt.Errorf("haproxy: active conns %q: no such server in %s: %w", id, b.cfg.Backend, lb.ErrNotFound)
	}
	return int(s.row.scur), nil
}

// SetWeight sets the server's weight, 0–256 (`set server … weight`); 0
// takes no new connections. An unknown ID gives an error wrapping
// lb.ErrNotFound, a weight out of range one wrapping lb.ErrInvalid.
func (b *Balancer) SetWeight(ctx context.Context, id string, weight int) error {
	if weight < 0 || weight > 256 {
		return fmt.Errorf("haproxy: set weight %q: %d is outside 0–256: %w", id, weight, lb.ErrInvalid)
	}
	if err := b.lock(ctx); err != nil {
		return fmt.Errorf("haproxy: set weight %q: %w", id, err)
	}
	defer b.unlock()
	ss, err := b.servers(ctx)
	if err != nil {
		return fmt.Errorf("haproxy: set weight %q: %w", id, err)
	}
	s, ok := find(ss, id)
	if !ok {
		return fmt.Errorf("haproxy: set weight %q: no such server in %s: %w", id, b.cfg.Backend, lb.ErrNotFound)
	}
	w := strconv.Itoa(weight)
	if err := b.exec(ctx, func(api runtimeAPI) error { return api.SetServerWeight(b.cfg.Backend, s.name, w) }); err != nil {
		return fmt.Errorf("haproxy: set weight %q: %w", id, notFound(err))
	}
	return nil
}
