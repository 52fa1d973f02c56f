package haproxyproc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// ErrConfig is wrapped by every error about an invalid [Config].
var ErrConfig = errors.New("haproxyproc: invalid config")

// Config describes the haproxy to run. A zero Config is valid: every field
// doc gives the default used when the field is zero.
type Config struct {
	// Dir receives haproxy.cfg, the pid file and the stats socket. If
	// empty, a new directory under os.TempDir is used and removed by Stop.
	// A unix socket path is limited to 107 bytes; keep Dir short.
	Dir string
	// FrontendPort is the port the frontend binds on 127.0.0.1. If zero, a
	// free port is picked.
	FrontendPort int
	// Frontend names the frontend section. If empty, "http-in" is used.
	Frontend string
	// Backend names the backend section the driver manages. If empty,
	// "webfarm" is used.
	Backend string
	// Balance is the backend's algorithm. If empty, "roundrobin" is used.
	Balance string
	// Mode is "http" or "tcp". If empty, "http" is used.
	Mode string
	// MasterWorker runs haproxy in master-worker mode (-W), so that
	// [Proc.Reload] can reload it with SIGUSR2.
	MasterWorker bool
	// Plain leaves out webfarm's tuning for restarts and reloads: no
	// "option idle-close-on-response" in the frontend and no
	// "hard-stop-after" in global, as in the original Mesos web farm's
	// haproxy.cfg (timeouts stay). Benchmarks use it to show what a -sf
	// restart or a reload costs without that tuning; leave it off otherwise.
	Plain bool
	// Servers are written into the backend as static servers s0, s1, ….
	// Usually empty: the driver adds servers at run time. [Proc.SetServers]
	// changes them (the old way, applied by Restart or Reload).
	Servers []netip.AddrPort
	// StatsTCP also opens an admin stats socket on a free 127.0.0.1 port
	// (see [Proc.StatsAddr]). A TCP socket has no file permissions: any
	// local user can reach it. For tests of TCP transports.
	StatsTCP bool
	// Routes adds backend sections after Backend, each with Backend's
	// balance, and routes requests whose path starts with "/" + name + "/"
	// to it (`use_backend name if { path_beg /name/ }`, http mode only);
	// other requests go to Backend. For farms of several services behind
	// one haproxy. The names follow Backend's rules.
	Routes []string
	// Global, Frontend and Backend lines are appended verbatim to their
	// sections (for example a second, user-level stats socket).
	GlobalLines, FrontendLines, BackendLines []string
	// Binary is the haproxy executable. If empty, /usr/sbin/haproxy is used
	// when present, else "haproxy" from PATH.
	Binary string
	// Logger receives haproxy's output lines and lifecycle events. If nil,
	// slog.Default() is used.
	Logger *slog.Logger
}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// withDefaults validates c and fills in its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Frontend == "" {
		c.Frontend = "http-in"
	}
	if c.Backend == "" {
		c.Backend = "webfarm"
	}
	if c.Balance == "" {
		c.Balance = "roundrobin"
	}
	if c.Mode == "" {
		c.Mode = "http"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	switch {
	case !identRE.MatchString(c.Frontend):
		return c, fmt.Errorf("%w: Frontend %q is not a valid haproxy name (letters, digits, '-', '_', '.', ':')", ErrConfig, c.Frontend)
	case !identRE.MatchString(c.Backend):
		return c, fmt.Errorf("%w: Backend %q is not a valid haproxy name (letters, digits, '-', '_', '.', ':')", ErrConfig, c.Backend)
	case c.Frontend == c.Backend:
		return c, fmt.Errorf("%w: Frontend and Backend are both %q; they need different names", ErrConfig, c.Frontend)
	case c.Mode != "http" && c.Mode != "tcp":
		return c, fmt.Errorf("%w: Mode %q: want \"http\" or \"tcp\"", ErrConfig, c.Mode)
	case c.FrontendPort < 0 || c.FrontendPort > 65535:
		return c, fmt.Errorf("%w: FrontendPort %d out of range 0–65535", ErrConfig, c.FrontendPort)
	case strings.ContainsAny(c.Balance, "\n\r#"):
		return c, fmt.Errorf("%w: Balance %q contains a newline or '#'", ErrConfig, c.Balance)
	}
	for i, r := range c.Routes {
		switch {
		case !identRE.MatchString(r):
			return c, fmt.Errorf("%w: Routes[%d] %q is not a valid haproxy name (letters, digits, '-', '_', '.', ':')", ErrConfig, i, r)
		case r == c.Frontend || r == c.Backend || slices.Contains(c.Routes[:i], r):
			return c, fmt.Errorf("%w: Routes[%d] %q is used twice (Frontend, Backend or Routes)", ErrConfig, i, r)
		case c.Mode != "http":
			return c, fmt.Errorf("%w: Routes needs Mode \"http\" (it routes by path)", ErrConfig)
		}
	}
	for _, lines := range [][]string{c.GlobalLines, c.FrontendLines, c.BackendLines} {
		for _, l := range lines {
			if strings.ContainsAny(l, "\n\r") {
				return c, fmt.Errorf("%w: extra line %q contains a newline", ErrConfig, l)
			}
		}
	}
	for i, s := range c.Servers {
		if !s.IsValid() || s.Port() == 0 {
			return c, fmt.Errorf("%w: Servers[%d] = %s is not an address with a port", ErrConfig, i, s)
		}
	}
	return c, nil
}

// files holds the paths a rendered configuration refers to.
type files struct {
	socket   string
	statsTCP netip.AddrPort // zero when Config.StatsTCP is false
	frontend netip.AddrPort
}

// Render returns the haproxy.cfg for c, with its admin stats socket at
// socket and its frontend bound to 127.0.0.1:port. It is what [Start]
// writes; it is exported so that users can read the configuration webfarm
// expects, and so that tests can check it with `haproxy -c`.
func Render(c Config, socket string, port int) (string, error) {
	c, err := c.withDefaults()
	if err != nil {
		return "", err
	}
	if port <= 0 || port > 65535 {
		return "", fmt.Errorf("%w: frontend port %d out of range 1–65535", ErrConfig, port)
	}
	return render(c, files{socket: socket, frontend: netip.AddrPortFrom(loopback, uint16(port))}), nil
}

var loopback = netip.MustParseAddr("127.0.0.1")

func render(c Config, f files) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# generated by webfarm internal/haproxyproc")
	w("global")
	w("    stats socket %s mode 600 level admin", f.socket)
	if f.statsTCP.IsValid() {
		w("    stats socket ipv4@%s level admin", f.statsTCP)
	}
	w("    stats timeout 30s")
	if !c.Plain {
		w("    hard-stop-after 15s")
	}
	w("    maxconn 4096")
	for _, l := range c.GlobalLines {
		w("    %s", l)
	}
	w("")
	w("defaults")
	w("    mode %s", c.Mode)
	w("    timeout connect 5s")
	w("    timeout client 30s")
	w("    timeout server 30s")
	if c.Mode == "http" {
		w("    timeout http-keep-alive 10s")
	}
	w("")
	w("frontend %s", c.Frontend)
	w("    bind %s", f.frontend)
	if c.Mode == "http" && !c.Plain {
		w("    option idle-close-on-response")
	}
	for _, l := range c.FrontendLines {
		w("    %s", l)
	}
	for _, r := range c.Routes {
		w("    use_backend %s if { path_beg /%s/ }", r, r)
	}
	w("    default_backend %s", c.Backend)
	w("")
	w("backend %s", c.Backend)
	w("    balance %s", c.Balance)
	w("    retries 3")
	w("    option redispatch")
	for _, l := range c.BackendLines {
		w("    %s", l)
	}
	for i, s := range c.Servers {
		w("    server s%d %s", i, s)
	}
	for _, r := range c.Routes {
		w("")
		w("backend %s", r)
		w("    balance %s", c.Balance)
		w("    retries 3")
		w("    option redispatch")
	}
	return b.String()
}
