package haproxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/webfarm/webfarm/lb"
)

// Balancer manages one HAProxy backend through the runtime API. Its
// methods are safe for concurrent use; membership changes are serialised.
type Balancer struct {
	cfg Config
	api runtimeAPI
	// reader, if set, runs the read-only `show` commands (see rawRuntime);
	// else they go through api.
	reader interface {
		query(ctx context.Context, command string) (string, error)
	}
	log *slog.Logger

	// sem serialises membership changes (Add, Drain, Remove, SetWeight)
	// so that check-then-act sequences see their own results.
	sem chan struct{}
	// statsSem serialises readings (see read).
	statsSem chan struct{}
	// file is Config.ConfigFile, resolved; nil if not set. fileMu
	// serialises its rewrites.
	file   *configFile
	fileMu sync.Mutex

	mu     sync.Mutex
	closed bool
	names  map[string]string // server name → ID, for names that do not decode (hashed)
	pool   map[string]member // what this Balancer put in (or found in) the pool, by ID
	last   processInfo       // the process of the last reading
	lastN  uint64            // the last reading's Requests
	haveIt bool              // last and lastN are set
}

var (
	_ lb.Balancer    = (*Balancer)(nil)
	_ lb.ConnCounter = (*Balancer)(nil)
	_ lb.Weighter    = (*Balancer)(nil)
)

// New connects to HAProxy's stats socket and checks that the driver can
// manage cfg.Backend: the socket answers, it is at level admin, the backend
// (and cfg.Frontend, if set) exists, and its algorithm takes servers at run
// time. A failed check returns a *ConfigError that says which and how to
// fix it. The checks change nothing and make HAProxy log no ALERT (`del
// server` of a name that cannot exist, `show stat`), except on a
// hash-based backend, whose `hash-type` only a refused `add server` reveals
// (HAProxy logs one ALERT for it). Servers already in the backend are
// adopted: Backends lists them and Add of the same ID and address changes
// nothing.
func New(ctx context.Context, cfg Config) (*Balancer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := newBalancer(cfg)
	if cfg.ConfigFile != "" {
		cf, ids, err := openConfigFile(cfg.ConfigFile, cfg.Backend)
		if err != nil {
			return nil, err
		}
		b.file = &cf
		for name, id := range ids {
			b.remember(name, id)
		}
	}
	if addr, ok := strings.CutPrefix(cfg.Socket, "tcp://"); ok {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("haproxy: config: Socket %q: want tcp://host:port: %w", cfg.Socket, lb.ErrInvalid)
		}
		raw := rawRuntime{network: "tcp", addr: addr, timeout: cfg.Timeout}
		b.api, b.reader = raw, raw
	} else {
		if err := b.checkSocketFile(); err != nil {
			return nil, err
		}
		api, err := runCtx(ctx, func() (runtimeAPI, error) { return newNative(ctx, cfg.Socket) })
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("haproxy: connect %s: %w", cfg.Socket, err)
			}
			return nil, &ConfigError{Problem: ProblemUnreachable, Detail: "no answer on " + cfg.Socket, Err: err,
				Fix: "check that HAProxy runs and that Socket is its `stats socket` path"}
		}
		b.api = api
		b.reader = rawRuntime{network: "unix", addr: cfg.Socket, timeout: cfg.Timeout}
	}
	return b.open(ctx)
}

func newBalancer(cfg Config) *Balancer {
	return &Balancer{
		cfg:      cfg,
		log:      cfg.Logger.With("driver", "haproxy", "backend", cfg.Backend),
		sem:      make(chan struct{}, 1),
		statsSem: make(chan struct{}, 1),
		names:    make(map[string]string),
		pool:     make(map[string]member),
	}
}

// open probes HAProxy through b.api and logs the servers it adopts.
func (b *Balancer) open(ctx context.Context) (*Balancer, error) {
	if err := b.probe(ctx); err != nil {
		return nil, err
	}
	servers, err := b.servers(ctx)
	if err != nil {
		return nil, fmt.Errorf("haproxy: %w", err)
	}
	if len(servers) > 0 {
		ids := make([]string, 0, len(servers))
		for _, s := range servers {
			ids = append(ids, s.id)
			if s.addr.IsValid() {
				// A server in maintenance takes no traffic either: kept
				// as draining (written "disabled" to ConfigFile).
				b.setMember(s.backend(), state(s.row.status) == lb.StateDraining || s.inMaint())
			}
		}
		b.log.Info("adopted servers already in the backend", "count", len(servers), "ids", ids)
	}
	if err := b.persist(); err != nil {
		return nil, &ConfigError{Problem: ProblemConfigFile, Detail: "cannot write the pool into " + b.cfg.ConfigFile, Err: err,
			Fix: "let this process write the file and its directory"}
	}
	return b, nil
}

// checkSocketFile checks the unix socket's permissions: connecting needs
// write permission, and the socket is at level admin, so a socket any
// local user can write is a way for any of them to reconfigure HAProxy.
func (b *Balancer) checkSocketFile() error {
	path := b.cfg.Socket
	fi, err := os.Stat(path)
	if err != nil {
		return &ConfigError{Problem: ProblemUnreachable, Detail: "cannot stat " + path, Err: err,
			Fix: "add `stats socket " + path + " mode 600 level admin` to haproxy.cfg's global section, or set Config.Socket to its path"}
	}
	if fi.Mode().Type() != os.ModeSocket {
		return &ConfigError{Problem: ProblemUnreachable, Detail: path + " is not a unix socket (" + fi.Mode().String() + ")",
			Fix: "set Config.Socket to the path of HAProxy's `stats socket`"}
	}
	perm := fi.Mode().Perm()
	switch {
	case perm&0o002 != 0 && !b.cfg.AllowWorldWritableSocket:
		return &ConfigError{Problem: ProblemSocketPermissions,
			Detail: fmt.Sprintf("%s has mode %v: every local user can reconfigure HAProxy through it", path, perm),
			Fix:    "set `mode 600` (or 660 with a dedicated group) on the `stats socket` line, or set Config.AllowWorldWritableSocket"}
	case perm&0o002 != 0:
		b.log.Warn("stats socket is writable by every local user", "socket", path, "mode", perm.String())
	case perm&0o020 != 0:
		b.log.Warn("stats socket is group-writable: the group can reconfigure HAProxy", "socket", path, "mode", perm.String())
	}
	return nil
}

// probeName is a server name HAProxy refuses ('%' is not allowed), so no
// server by that name can exist: `del server <backend>/%webfarm-probe`
// changes nothing. HAProxy 2.6's `del server` checks the access level,
// then looks the backend and the server up by name (no parsing, so no
// ALERT in HAProxy's log): "Permission denied", "No such backend." or, on
// a good socket and backend, "No such server.".
const probeName = "%webfarm-probe"

// dynamicAlgos are the algorithms `show stat` names that always take
// servers at run time; staticAlgos those that never do. The hash-based
// ones (source, uri, url_param, hdr, rdp-cookie, hash) take them only
// with `hash-type consistent`, which `show stat` does not show. HAProxy
// 2.6 shows `balance random` as "unknown": backend_lb_algo_str
// (src/backend.c) has no case for BE_LB_ALGO_RND, the one algorithm it
// leaves out; later versions say "random".
var (
	dynamicAlgos = map[string]bool{"roundrobin": true, "leastconn": true, "first": true, "random": true, "unknown": true}
	staticAlgos  = map[string]bool{"static-rr": true}
)

// probe checks the level and the backend with a `del server` of a name
// that cannot exist, reads the process and the proxies, and checks the
// backend's algorithm from `show stat`. It changes nothing. Only for a
// hash-based algorithm does it also send an `add server` that cannot
// succeed (HAProxy answers it after checking the algorithm, and logs one
// ALERT for the refused name).
func (b *Balancer) probe(ctx context.Context) error {
	be := b.cfg.Backend
	unreachable := func(err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("haproxy: probe: %w", err)
		}
		return &ConfigError{Problem: ProblemUnreachable, Detail: "no answer on " + b.cfg.Socket, Err: err,
			Fix: "check that HAProxy runs and that Socket is its `stats socket` address"}
	}
	staticBalance := func(algo string) error {
		return &ConfigError{Problem: ProblemStaticBalance,
			Detail: fmt.Sprintf("backend %q uses %s, which cannot take servers at run time", be, algo),
			Fix:    "use `balance roundrobin`, `leastconn`, `random` or `first`, or a hash with `hash-type consistent`"}
	}
	out, err := b.raw(ctx, fmt.Sprintf("del server %s/%s", be, probeName))
	if err != nil {
		return unreachable(err)
	}
	probeErr := severityError(out)
	switch {
	case said(probeErr, msgDenied):
		return &ConfigError{Problem: ProblemNotAdmin, Detail: b.cfg.Socket + ": HAProxy said " + msgDenied,
			Fix: "add `level admin` to this `stats socket` line (adding and deleting servers needs it)"}
	case said(probeErr, msgNoBackend):
		return &ConfigError{Problem: ProblemNoBackend, Detail: fmt.Sprintf("HAProxy has no backend %q", be),
			Fix: fmt.Sprintf("add `backend %s` with `balance roundrobin` to haproxy.cfg, or set Config.Backend", be)}
	case !said(probeErr, msgNoServer):
		return fmt.Errorf("haproxy: probe: del server %s/%s: want %q, HAProxy said %.120q", be, probeName, msgNoServer, out)
	}
	cmd := fmt.Sprintf("show info;show stat %s 2 -1", be)
	if b.cfg.Frontend != "" {
		cmd += fmt.Sprintf(";show stat %s 1 -1", b.cfg.Frontend)
	}
	out, err = b.raw(ctx, cmd)
	if err != nil {
		return unreachable(err)
	}
	noFrontend := &ConfigError{Problem: ProblemNoFrontend, Detail: fmt.Sprintf("HAProxy has no frontend %q", b.cfg.Frontend),
		Fix: "set Config.Frontend to a frontend of haproxy.cfg, or leave it empty to count the backend's requests"}
	r, err := parseReply(out)
	if err != nil {
		if said(err, msgNoProxy) && b.cfg.Frontend != "" {
			return noFrontend // the del server probe proved the backend exists
		}
		return fmt.Errorf("haproxy: probe: %w", err)
	}
	if !r.hasInfo {
		return &ConfigError{Problem: ProblemUnreachable, Detail: fmt.Sprintf("%s answered without a process id: %.120q", b.cfg.Socket, out),
			Fix: "point Config.Socket at a worker's stats socket (not the master CLI)"}
	}
	var haveBE, haveFE bool
	algo := ""
	for _, row := range r.rows {
		if row.typ == typeBackend && row.proxy == be {
			haveBE, algo = true, row.algo
		}
		haveFE = haveFE || row.typ == typeFrontend && row.proxy == b.cfg.Frontend
	}
	switch {
	case !haveBE || dynamicAlgos[algo]:
	case staticAlgos[algo]:
		return staticBalance("balance " + algo)
	default:
		// A hash (or an algorithm this driver does not know): only an
		// `add server` tells whether it takes servers at run time. Its
		// name is refused after the algorithm check, so nothing is added.
		out, err := b.raw(ctx, fmt.Sprintf("add server %s/%s 127.0.0.1:1", be, probeName))
		if err != nil {
			return unreachable(err)
		}
		if said(severityError(out), msgStaticBalance) {
			return staticBalance("balance " + algo)
		}
	}
	switch {
	case !haveBE:
		return &ConfigError{Problem: ProblemNoBackend, Detail: fmt.Sprintf("%q is not a backend", be),
			Fix: fmt.Sprintf("add `backend %s` with `balance roundrobin` to haproxy.cfg, or set Config.Backend", be)}
	case b.cfg.Frontend != "" && !haveFE:
		return noFrontend
	}
	if !versionAtLeast(r.info.version, 2, 6) {
		return &ConfigError{Problem: ProblemVersion, Detail: "HAProxy " + r.info.version,
			Fix: "use HAProxy 2.6 or later (add server / del server)"}
	}
	// The first reading compares with this process.
	b.mu.Lock()
	b.last, b.lastN, b.haveIt = r.info, 0, true
	b.mu.Unlock()
	return nil
}

// versionAtLeast reports whether an HAProxy version string ("2.6.12-1+deb12u4")
// is at least major.minor. An unparsable version passes (newer HAProxy
// releases changed the format; the commands fail clearly if unsupported).
func versionAtLeast(v string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(v, "%d.%d", &ma, &mi); err != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

// Close releases the Balancer. Later calls return an error wrapping
// lb.ErrClosed. Servers stay in HAProxy. Close does not wait for calls in
// flight; each ends within the socket timeout.
func (b *Balancer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *Balancer) checkOpen(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return lb.ErrClosed // callers add "haproxy: <op>:"
	}
	return nil
}

// lock takes the membership semaphore, or returns ctx's error.
func (b *Balancer) lock(ctx context.Context) error {
	if err := b.checkOpen(ctx); err != nil {
		return err
	}
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Balancer) unlock() { <-b.sem }

// runCtx runs f, which cannot be cancelled, and returns its result, or
// ctx's error as soon as ctx is done (f then finishes in the background
// and its result is dropped).
func runCtx[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// raw runs commands and returns HAProxy's answer.
func (b *Balancer) raw(ctx context.Context, cmd string) (string, error) {
	return runCtx(ctx, func() (string, error) { return b.api.ExecuteRaw(cmd) })
}

// show runs read-only commands and returns HAProxy's answer.
func (b *Balancer) show(ctx context.Context, cmd string) (string, error) {
	if b.reader == nil {
		return b.raw(ctx, cmd)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return b.reader.query(ctx, cmd)
}

// exec runs one client-native call.
func (b *Balancer) exec(ctx context.Context, f func(runtimeAPI) error) error {
	_, err := runCtx(ctx, func() (struct{}, error) { return struct{}{}, f(b.api) })
	return err
}
