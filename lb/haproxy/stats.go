package haproxy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Reading is one reading of HAProxy's counters with the process they
// belong to.
type Reading struct {
	lb.Stats
	// PID is the HAProxy process (the worker) that answered.
	PID int
	// Started is when that process started (second resolution); zero if
	// HAProxy does not say (Start_time_sec is in 2.6's show info).
	Started time.Time
	// Version is HAProxy's version string.
	Version string
	// Restarted reports that HAProxy restarted or reloaded since this
	// Balancer's previous reading: the process id or start time changed,
	// or the request counter went down. Counters then count from zero, and
	// servers added at run time are gone unless re-added. (lb.Meter treats
	// a counter that went down as a reset; Restarted also catches a
	// restart after which the counter has already passed its old value.)
	Restarted bool
	// Restored is the number of servers re-added after a restart, with
	// Config.Restore.
	Restored int
}

// Stats reads the counters with [Balancer.Read], or with
// [Balancer.Totals] if Config.TotalsOnly is set, and logs a warning when
// HAProxy restarted.
func (b *Balancer) Stats(ctx context.Context) (lb.Stats, error) {
	r, err := b.read(ctx, !b.cfg.TotalsOnly)
	return r.Stats, err
}

// Read reads the totals and one row per server: `show info` and `show stat
// <backend> 6 -1` (and `show stat <frontend> 1 -1` if Config.Frontend is
// set), in one round trip. Requests is req_tot in HTTP mode and stot
// (sessions) in TCP mode, of the frontend if Config.Frontend is set, else
// of the backend; Active is scur. Queued counts every request waiting for
// a server: the backend's qcur (requests queued with no server assigned)
// plus the qcur of each of the backend's server rows, whatever the
// server's state (requests bound to that server by a hash-based balance,
// persistence or use-server, waiting for a slot below its maxconn). Each
// server has an entry in Backends, keyed like [Balancer.Backends], whose
// Queued is that server's own qcur and Limit its slim (the configured
// maxconn, 0 if none). At is the time the answer arrived.
func (b *Balancer) Read(ctx context.Context) (Reading, error) { return b.read(ctx, true) }

// Totals is [Balancer.Read] without the server rows (Backends is nil). It
// asks HAProxy for the frontend and backend rows alone, so its cost does
// not grow with the pool; but it cannot see the servers' own queues, so
// Queued is the backend's qcur alone and misses the requests bound to one
// server (hash-based balance, persistence, use-server) that wait for it.
// With such a backend, a policy that counts queued requests needs Read.
func (b *Balancer) Totals(ctx context.Context) (Reading, error) { return b.read(ctx, false) }

func (b *Balancer) read(ctx context.Context, perServer bool) (Reading, error) {
	if err := b.checkOpen(ctx); err != nil {
		return Reading{}, fmt.Errorf("haproxy: stats: %w", err)
	}
	// Readings are taken one at a time, so that restart detection compares
	// each with the one before it.
	select {
	case b.statsSem <- struct{}{}:
	case <-ctx.Done():
		return Reading{}, fmt.Errorf("haproxy: stats: %w", ctx.Err())
	}
	defer func() { <-b.statsSem }()
	be := b.cfg.Backend
	mask := 2
	if perServer {
		mask = 6
	}
	var cmd strings.Builder
	fmt.Fprintf(&cmd, "show info;show stat %s %d -1", be, mask)
	if b.cfg.Frontend != "" {
		fmt.Fprintf(&cmd, ";show stat %s 1 -1", b.cfg.Frontend)
	}
	out, err := b.show(ctx, cmd.String())
	if err != nil {
		return Reading{}, fmt.Errorf("haproxy: stats: %w", err)
	}
	at := time.Now()
	rep, err := parseReply(out)
	if err != nil {
		return Reading{}, fmt.Errorf("haproxy: stats: %w", err)
	}
	return b.reading(ctx, rep, at, perServer)
}

// reading builds b's Reading from a parsed answer that holds its rows
// (and maybe other proxies'), taken at at, and notes a restart. The
// caller holds b.statsSem.
func (b *Balancer) reading(ctx context.Context, rep reply, at time.Time, perServer bool) (Reading, error) {
	be := b.cfg.Backend
	var beRow, feRow *statRow
	for i := range rep.rows {
		row := &rep.rows[i]
		switch {
		case row.typ == typeBackend && row.proxy == be:
			beRow = row
		case row.typ == typeFrontend && row.proxy == b.cfg.Frontend:
			feRow = row
		}
	}
	switch {
	case !rep.hasInfo:
		return Reading{}, fmt.Errorf("haproxy: stats: no process info in HAProxy's answer")
	case beRow == nil:
		return Reading{}, fmt.Errorf("haproxy: stats: no row for backend %s in HAProxy's answer", be)
	case b.cfg.Frontend != "" && feRow == nil:
		return Reading{}, fmt.Errorf("haproxy: stats: no row for frontend %s in HAProxy's answer", b.cfg.Frontend)
	}
	src := beRow
	if feRow != nil {
		src = feRow
	}
	r := Reading{
		Stats: lb.Stats{
			At:       at,
			Requests: src.counter(),
			Active:   int(src.scur),
			Queued:   int(beRow.qcur),
		},
		PID:     rep.info.pid,
		Version: rep.info.version,
	}
	if rep.info.startSec > 0 {
		r.Started = time.Unix(rep.info.startSec, 0)
	}
	if perServer {
		// HAProxy's backend qcur counts only the requests queued with no
		// server assigned; a request bound to one server waits in that
		// server's queue (src/queue.c, pendconn_add). Every server row
		// counts, draining or in maintenance too: what HAProxy did not
		// redistribute still waits.
		ss := b.fromRows(rep.rows)
		r.Backends = make(map[string]lb.BackendStats, len(ss))
		for _, s := range ss {
			r.Queued += int(s.row.qcur)
			r.Backends[s.id] = lb.BackendStats{
				Requests: s.row.counter(),
				Active:   int(s.row.scur),
				Queued:   int(s.row.qcur),
				Limit:    int(s.row.slim),
				State:    state(s.row.status),
				Errors:   s.row.hrsp5xx,
			}
		}
	}
	b.mu.Lock()
	if b.haveIt && (rep.info.pid != b.last.pid || rep.info.startSec != b.last.startSec || r.Requests < b.lastN) {
		r.Restarted = true
	}
	b.last, b.lastN, b.haveIt = rep.info, r.Requests, true
	b.mu.Unlock()
	if r.Restarted {
		if b.file != nil {
			b.log.Warn("HAProxy restarted: counters start from zero; the pool comes from the config file",
				"pid", r.PID, "started", r.Started, "file", b.file.path, "restore", b.cfg.Restore)
		} else {
			b.log.Warn("HAProxy restarted: counters start from zero and servers added at run time are gone",
				"pid", r.PID, "started", r.Started, "restore", b.cfg.Restore)
		}
		if b.cfg.Restore {
			n, err := b.restore(ctx)
			r.Restored = n
			if err != nil {
				b.log.Error("could not restore servers after HAProxy restarted", "restored", n, "err", err)
			} else {
				b.log.Info("restored servers after HAProxy restarted", "restored", n)
			}
		}
	}
	return r, nil
}

// state maps a server's `show stat` status to an lb.State.
func state(status string) lb.State {
	switch {
	case status == "no check" || status == "UP" || strings.HasPrefix(status, "UP "):
		return lb.StateReady
	case strings.HasPrefix(status, "DRAIN") || strings.HasPrefix(status, "NOLB"):
		return lb.StateDraining
	case strings.HasPrefix(status, "MAINT") || strings.HasPrefix(status, "DOWN"):
		return lb.StateDown
	}
	return lb.StateUnknown
}
