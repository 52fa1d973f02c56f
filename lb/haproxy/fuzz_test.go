package haproxy

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// FuzzRewriteServers rewrites any text with any pool. It must not panic;
// when it succeeds, the result must hold the pool (every ID read back from
// the block, except servers defined outside it), rewriting it again must
// change nothing, and every line outside the driver's block must be kept
// as it was, in order.
func FuzzRewriteServers(f *testing.F) {
	f.Add(baseCfg, "webfarm", "web.1,web.2")
	f.Add("backend webfarm\r\n    balance roundrobin\r\n", "webfarm", "a b,é")
	f.Add("backend webfarm\n    "+MarkerBegin+"\n    server x 127.0.0.1:1\n    "+MarkerEnd+"\nbackend b\n", "webfarm", "")
	f.Add("listen webfarm\n  bind :80\n# c\n\nfrontend f\n", "webfarm", strings.Repeat("long-task-id.", 8))
	f.Add("backend webfarm\n    server web.1 127.0.0.1:1\n", "webfarm", "web.1")
	f.Add("backend webfarm", "webfarm", "x")
	f.Add("backend webfarm\n"+MarkerEnd+"\n"+MarkerBegin+"\n", "webfarm", "x")
	f.Fuzz(func(t *testing.T, text, backend, ids string) {
		var servers []fileServer
		seen := map[string]bool{}
		for i, id := range strings.Split(ids, ",") {
			if id == "" || seen[serverName(id)] {
				continue
			}
			seen[serverName(id)] = true
			servers = append(servers, fileServer{name: serverName(id), id: id, disabled: i%2 == 1,
				addr: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(1000+i))})
		}
		out, skipped, err := rewriteServers(text, backend, servers, DefaultServerOptions)
		if err != nil {
			return
		}
		again, _, err := rewriteServers(out, backend, servers, DefaultServerOptions)
		if err != nil || again != out {
			t.Fatalf("second rewrite: err %v, changed %v\nfirst:\n%q\nsecond:\n%q", err, again != out, out, again)
		}
		bb, err := findBackend(splitLines(out), backend)
		if err != nil {
			t.Fatalf("the result does not parse: %v\n%q", err, out)
		}
		for _, s := range servers {
			if slices.Contains(skipped, s.name) {
				if !bb.static[s.name] {
					t.Fatalf("%s skipped but not defined outside the block", s.name)
				}
				continue
			}
			if got, ok := bb.managed[s.name]; !ok || got != s.id {
				t.Fatalf("server %s: ID read back %q (present %v), want %q\n%q", s.name, got, ok, s.id, out)
			}
		}
		if len(bb.managed) != len(servers)-len(skipped) {
			t.Fatalf("block holds %d servers, want %d\n%q", len(bb.managed), len(servers)-len(skipped), out)
		}
		// Outside the block, the text is unchanged.
		strip := func(s string) string {
			lines := splitLines(s)
			b, err := findBackend(lines, backend)
			if err != nil {
				t.Fatalf("strip: %v", err)
			}
			var sb strings.Builder
			for i, l := range lines {
				if b.begin >= 0 && i >= b.begin && i <= b.fin {
					continue
				}
				sb.WriteString(l.text)
			}
			return sb.String()
		}
		before, after := strip(text), strip(out)
		if after != before && after != before+"\n" && after != before+"\r\n" {
			t.Fatalf("lines outside the block changed:\nbefore %q\nafter  %q", before, after)
		}
	})
}

// FuzzConfig validates any Config: no panic; an error wraps lb.ErrInvalid;
// an accepted Config has its defaults and options that cannot inject a
// runtime command or a configuration line.
func FuzzConfig(f *testing.F) {
	f.Add("/run/haproxy/admin.sock", "webfarm", "", "", "", false, int64(0), int64(0))
	f.Add("tcp://127.0.0.1:9999", "be", "fe", "check inter 2s", "/etc/haproxy/haproxy.cfg", true, int64(time.Second), int64(-1))
	f.Add("", "web farm", "a/b", "enabled", "", false, int64(0), int64(0))
	f.Add("", "", "", "none", "x", false, int64(0), int64(0))
	f.Add("", "", "", `weight "3"`, "/x.cfg", false, int64(0), int64(0))
	f.Add("\n", "", "", "check; del server webfarm/x", "", true, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, socket, backend, frontend, opts, file string, health bool, timeout, remove int64) {
		c := Config{Socket: socket, Backend: backend, Frontend: frontend, ServerOptions: opts, ConfigFile: file,
			HealthCheck: health, Timeout: time.Duration(timeout), RemoveTimeout: time.Duration(remove)}
		got, err := c.withDefaults()
		if err != nil {
			if !errors.Is(err, lb.ErrInvalid) {
				t.Fatalf("withDefaults(%+v) = %v, want lb.ErrInvalid", c, err)
			}
			return
		}
		switch {
		case got.Socket == "" || got.Backend == "" || got.Timeout <= 0 || got.RemoveTimeout <= 0 || got.Logger == nil:
			t.Fatalf("accepted %+v with a zero default: %+v", c, got)
		case !identRE.MatchString(got.Backend) || got.Frontend != "" && !identRE.MatchString(got.Frontend):
			t.Fatalf("accepted names %q / %q", got.Backend, got.Frontend)
		case strings.ContainsAny(got.ServerOptions, ";\n\r#") || strings.ContainsAny(got.Socket, "\n\r"):
			t.Fatalf("accepted options %q / socket %q that could inject a command", got.ServerOptions, got.Socket)
		case slices.Contains(strings.Fields(got.ServerOptions), "enabled"):
			t.Fatalf("accepted \"enabled\" in %q", got.ServerOptions)
		case got.HealthCheck && !slices.Contains(strings.Fields(got.ServerOptions), "check"):
			t.Fatalf("accepted HealthCheck without check: %q", got.ServerOptions)
		case got.ConfigFile != "" && strings.ContainsAny(got.ServerOptions, `"'\`):
			t.Fatalf("accepted ServerOptions %q that haproxy.cfg would read differently", got.ServerOptions)
		}
		// A server line with these options is one line.
		line := fileServer{name: "web.1", id: "web.1", addr: netip.MustParseAddrPort("127.0.0.1:1")}.line(got.ServerOptions)
		if strings.ContainsAny(line, "\n\r") {
			t.Fatalf("server line %q spans lines", line)
		}
	})
}
