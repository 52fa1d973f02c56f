package haproxyproc

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzRender renders any Config: no panic; an error wraps ErrConfig; an
// accepted Config renders exactly the lines it asked for (no value can
// add a line or a section), and the frontend and backend sections appear
// once. TestRenderIsValid checks representative renderings with
// `haproxy -c`.
func FuzzRender(f *testing.F) {
	f.Add("http-in", "webfarm", "roundrobin", "http", 8080, "", "", "hash-type consistent", "127.0.0.1:8081")
	f.Add("", "", "", "tcp", 1, "maxconn 10", "option forwardfor", "", "[::1]:1")
	f.Add("a b", "x", "static-rr\nserver y 1.2.3.4:5", "udp", 70000, "a\nb", "", "", "1.2.3.4:0")
	f.Add("x", "x", "", "", 0, "", "", "", "")
	f.Fuzz(func(t *testing.T, fe, be, balance, mode string, port int, global, front, back, server string) {
		c := Config{Frontend: fe, Backend: be, Balance: balance, Mode: mode}
		if global != "" {
			c.GlobalLines = []string{global}
		}
		if front != "" {
			c.FrontendLines = []string{front}
		}
		if back != "" {
			c.BackendLines = []string{back}
		}
		if ap, err := netip.ParseAddrPort(server); err == nil {
			c.Servers = []netip.AddrPort{ap}
		} else if server != "" {
			c.Servers = []netip.AddrPort{{}}
		}
		text, err := Render(c, "/run/haproxy/admin.sock", port)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Render = %v, want ErrConfig", err)
			}
			return
		}
		base, err := Render(Config{Frontend: c.Frontend, Backend: c.Backend, Mode: c.Mode}, "/run/haproxy/admin.sock", port)
		if err != nil {
			t.Fatalf("the same names and mode without extras fail: %v", err)
		}
		extra := len(c.GlobalLines) + len(c.FrontendLines) + len(c.BackendLines) + len(c.Servers)
		if got, want := strings.Count(text, "\n"), strings.Count(base, "\n")+extra; got != want || strings.ContainsRune(text, '\r') {
			t.Fatalf("rendered %d lines, want %d (a value added lines):\n%s", got, want, text)
		}
		fields := func(l string) []string { return strings.Fields(l) }
		nfe, nbe := 0, 0
		for l := range strings.SplitSeq(text, "\n") {
			w := fields(l)
			if len(w) == 2 && l == "frontend "+w[1] {
				nfe++
			}
			if len(w) == 2 && l == "backend "+w[1] {
				nbe++
			}
		}
		if nfe != 1 || nbe != 1 {
			t.Fatalf("%d frontend and %d backend headers, want 1 each:\n%s", nfe, nbe, text)
		}
	})
}
