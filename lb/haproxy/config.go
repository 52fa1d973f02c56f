package haproxy

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// DefaultServerOptions are the `add server` keywords used when
// Config.ServerOptions is empty. A server added at run time in HAProxy 2.6
// keeps no idle server-side connections unless asked to (its idle_lim is
// 0, see `show servers conn`), so every request would open a new
// connection: in BenchmarkPoolChanges, without them throughput fell 53 %
// and p99 went from 12 to 31 ms during pool changes. With these options
// dynamic servers perform like static ones.
const DefaultServerOptions = "pool-max-conn -1 pool-purge-delay 5s"

// Config configures the HAProxy driver. A zero Config is valid: every
// field doc gives the default used when the field is zero.
type Config struct {
	// Socket is HAProxy's stats socket at `level admin`: a unix socket
	// path ("/run/haproxy/admin.sock", or "unix:///run/…"), or
	// "tcp://127.0.0.1:9999" for a TCP socket. Give the worker's socket, never the master CLI. If
	// empty, "/run/haproxy/admin.sock" is used.
	Socket string
	// Backend is the backend section whose servers the driver manages. It
	// must use a dynamic algorithm (roundrobin, leastconn, random, first,
	// or a hash with hash-type consistent). If empty, "webfarm" is used.
	Backend string
	// Frontend, if set, is the frontend whose counters Stats reports
	// (Requests, Active); Queued always comes from the backend. If empty,
	// Stats reports the backend's counters: the requests routed to the
	// pool.
	Frontend string
	// ServerOptions are the keywords appended to every `add server`, for
	// example "pool-max-conn -1 pool-purge-delay 5s check inter 2s
	// maxconn 100". `add server` does not inherit default-server. The
	// keyword "enabled" is refused: in HAProxy 2.6.12 (haproxy/haproxy#2497)
	// it leaves the server out of the load-balancing tree. If empty,
	// [DefaultServerOptions] is used; use "none" for no options at all.
	ServerOptions string
	// HealthCheck enables health checks on added servers (`enable health`
	// after add). ServerOptions must then contain "check". If false,
	// servers are used as soon as they are added.
	HealthCheck bool
	// TotalsOnly makes Stats read the frontend/backend rows alone
	// (`show stat <proxy> <type> -1`), whose cost does not grow with the
	// pool; Stats.Backends is then nil, and Stats.Queued is the backend's
	// qcur alone: it misses the requests waiting in a server's own queue (a
	// hash-based balance, persistence or use-server binds a request to one
	// server, which queues it at its maxconn). If false, Stats also reads
	// one row per server, and Queued adds the servers' queues.
	TotalsOnly bool
	// Timeout bounds each runtime command on a TCP socket. (Commands on a
	// unix socket run in client-native, whose own timeout is 30 s; a
	// cancelled context returns at once either way.) If zero, 5s is used.
	Timeout time.Duration
	// RemoveTimeout bounds how long Remove waits for a server in
	// maintenance to lose its last connection: HAProxy deletes a server
	// only when it has no active and no idle connection and an empty
	// queue. A quarter of RemoveTimeout (at most 2s) before it ends,
	// Remove shuts the remaining sessions (`shutdown sessions server`);
	// if HAProxy still counts connections when RemoveTimeout ends (idle
	// pooled connections go only at the next pool-purge-delay), Remove
	// returns an error wrapping ErrBusy and leaves the server in
	// maintenance. So Remove returns within RemoveTimeout plus the time of
	// one runtime command (see Timeout). If zero, 10s is used.
	RemoveTimeout time.Duration
	// Restore re-adds, when a reading finds that HAProxy restarted or
	// reloaded, the servers this Balancer had in the pool and not draining
	// (a restart loses every server added at run time). If false, the
	// caller re-adds them (Reading.Restarted tells when).
	Restore bool
	// ConfigFile, if set, is the haproxy.cfg HAProxy runs with. The driver
	// then keeps the managed backend's server lines in it in step with the
	// live pool, so that a restart or reload (by an operator, systemd,
	// a package upgrade) starts with the pool instead of an empty backend.
	// After every Add, Drain and Remove that changed HAProxy, it rewrites
	// only the lines between MarkerBegin and MarkerEnd inside `backend
	// <Backend>` (inserting both at the end of that section the first
	// time), atomically (a temporary file in the same directory, then a
	// rename; mode and owner kept). Servers are written with
	// ServerOptions; a draining server is written "disabled", so a new
	// process keeps it in maintenance (no new connections) until Remove
	// deletes it. The driver never reloads HAProxy: changes still go
	// through the runtime API. New checks that the file holds the section
	// and that the file and its directory are writable, and writes the
	// current pool into it. If empty, nothing is written: a restart loses
	// the servers added at run time (see Restore).
	//
	// A new process reads these lines as configuration, so the section's
	// default-server line applies to them (it does not to `add server`),
	// and a "check" in ServerOptions runs health checks from the start
	// (at run time they wait for `enable health`, see HealthCheck).
	ConfigFile string
	// AllowWorldWritableSocket lets New use a unix socket that any local
	// user may write to (and so may use to reconfigure HAProxy). If false,
	// New refuses such a socket; a group-writable one is logged as a
	// warning.
	AllowWorldWritableSocket bool
	// Logger receives the driver's events: adoption of existing servers,
	// restarts detected, removals that had to cut sessions. If nil,
	// slog.Default() is used.
	Logger *slog.Logger
}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Socket == "" {
		c.Socket = "/run/haproxy/admin.sock"
	}
	c.Socket = strings.TrimPrefix(c.Socket, "unix://")
	if c.Backend == "" {
		c.Backend = "webfarm"
	}
	if c.ServerOptions == "" {
		c.ServerOptions = DefaultServerOptions
	} else if strings.TrimSpace(c.ServerOptions) == "none" {
		c.ServerOptions = ""
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.RemoveTimeout == 0 {
		c.RemoveTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	bad := func(format string, a ...any) (Config, error) {
		return c, fmt.Errorf("haproxy: config: "+format+": %w", append(a, lb.ErrInvalid)...)
	}
	switch {
	case !identRE.MatchString(c.Backend):
		return bad("Backend %q is not a valid HAProxy name (letters, digits, '-', '_', '.', ':')", c.Backend)
	case c.Frontend != "" && !identRE.MatchString(c.Frontend):
		return bad("Frontend %q is not a valid HAProxy name (letters, digits, '-', '_', '.', ':')", c.Frontend)
	case strings.ContainsAny(c.ServerOptions, ";\n\r#"):
		return bad("ServerOptions %q contains ';', '#' or a newline", c.ServerOptions)
	case c.Timeout < 0 || c.RemoveTimeout < 0:
		return bad("Timeout %s and RemoveTimeout %s must not be negative", c.Timeout, c.RemoveTimeout)
	case strings.ContainsAny(c.Socket, "\n\r"):
		return bad("Socket %q contains a newline", c.Socket)
	case strings.ContainsAny(c.ConfigFile, "\x00"):
		return bad("ConfigFile %q contains a NUL byte", c.ConfigFile)
	case c.ConfigFile != "" && strings.ContainsAny(c.ServerOptions, `"'\`):
		return bad("ServerOptions %q has quotes or a backslash, which haproxy.cfg would read differently from `add server`; drop them or leave ConfigFile empty", c.ServerOptions)
	}
	words := strings.Fields(c.ServerOptions)
	for _, w := range words {
		switch w {
		case "enabled":
			return bad("ServerOptions %q: drop \"enabled\": in HAProxy 2.6.12 a server added with it never joins the load-balancing tree (haproxy/haproxy#2497); the driver sets it ready itself", c.ServerOptions)
		case "disabled":
			return bad("ServerOptions %q: drop \"disabled\": the driver manages server state", c.ServerOptions)
		}
	}
	if c.HealthCheck && !slices.Contains(words, "check") {
		return bad("HealthCheck is set but ServerOptions %q lacks \"check\" (for example %q)", c.ServerOptions, DefaultServerOptions+" check inter 2s")
	}
	return c, nil
}
