package haproxy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb"
)

const baseCfg = `global
    stats socket /run/haproxy/admin.sock mode 600 level admin

defaults
    mode http

frontend http-in
    bind 127.0.0.1:8080
    default_backend webfarm

backend webfarm
    balance roundrobin
    # keep this comment
    option redispatch

backend other
    balance roundrobin
    server o1 127.0.0.1:9000
`

var (
	srvA = fileServer{name: "web.1", addr: netip.MustParseAddrPort("127.0.0.1:31001"), id: "web.1"}
	srvB = fileServer{name: "web.2", addr: netip.MustParseAddrPort("127.0.0.1:31002"), id: "web.2", disabled: true}
)

func TestRewriteServers(t *testing.T) {
	const opts = "pool-max-conn -1 pool-purge-delay 5s"
	block := "    " + MarkerBegin + "\n" +
		"    server web.1 127.0.0.1:31001 " + opts + "\n" +
		"    server web.2 127.0.0.1:31002 " + opts + " disabled\n" +
		"    " + MarkerEnd + "\n"
	withBlock := strings.Replace(baseCfg, "    option redispatch\n", "    option redispatch\n"+block, 1)
	tests := []struct {
		name    string
		in      string
		servers []fileServer
		want    string   // "" with wantErr
		skipped []string // names skipped
		wantErr string
	}{
		{name: "no markers yet: inserted after the last directive", in: baseCfg, servers: []fileServer{srvB, srvA}, want: withBlock},
		{name: "markers present: block replaced", in: withBlock, servers: []fileServer{srvA},
			want: strings.Replace(withBlock, "    server web.2 127.0.0.1:31002 "+opts+" disabled\n", "", 1)},
		{name: "empty pool keeps the markers", in: withBlock, servers: nil,
			want: strings.Replace(baseCfg, "    option redispatch\n", "    option redispatch\n    "+MarkerBegin+"\n    "+MarkerEnd+"\n", 1)},
		{name: "same pool gives the same text", in: withBlock, servers: []fileServer{srvA, srvB}, want: withBlock},
		{name: "user's marker lines kept as written",
			in:      strings.Replace(baseCfg, "    option redispatch\n", "    option redispatch\n\t# webfarm: servers begin\n\t# webfarm: servers end\n", 1),
			servers: []fileServer{srvA},
			want:    strings.Replace(baseCfg, "    option redispatch\n", "    option redispatch\n\t# webfarm: servers begin\n    server web.1 127.0.0.1:31001 "+opts+"\n\t# webfarm: servers end\n", 1)},
		{name: "CRLF file gets CRLF lines",
			in:      "backend webfarm\r\n    balance roundrobin\r\n",
			servers: []fileServer{srvA},
			want:    "backend webfarm\r\n    balance roundrobin\r\n    " + MarkerBegin + "\r\n    server web.1 127.0.0.1:31001 " + opts + "\r\n    " + MarkerEnd + "\r\n"},
		{name: "no final newline",
			in:      "backend webfarm\n    balance roundrobin",
			servers: []fileServer{srvA},
			want:    "backend webfarm\n    balance roundrobin\n    " + MarkerBegin + "\n    server web.1 127.0.0.1:31001 " + opts + "\n    " + MarkerEnd + "\n"},
		{name: "section with only a header", in: "backend webfarm\nbackend x\n", servers: []fileServer{srvA},
			want: "backend webfarm\n    " + MarkerBegin + "\n    server web.1 127.0.0.1:31001 " + opts + "\n    " + MarkerEnd + "\nbackend x\n"},
		{name: "listen section", in: "listen webfarm\n    bind :80\n", servers: nil,
			want: "listen webfarm\n    bind :80\n    " + MarkerBegin + "\n    " + MarkerEnd + "\n"},
		{name: "trailing comments stay after the block",
			in:      "backend webfarm\n    balance roundrobin\n\n# next: other\nbackend other\n",
			servers: nil,
			want:    "backend webfarm\n    balance roundrobin\n    " + MarkerBegin + "\n    " + MarkerEnd + "\n\n# next: other\nbackend other\n"},
		{name: "static server of the same name skipped",
			in:      "backend webfarm\n    server web.1 127.0.0.1:31001\n",
			servers: []fileServer{srvA}, skipped: []string{"web.1"},
			want: "backend webfarm\n    server web.1 127.0.0.1:31001\n    " + MarkerBegin + "\n    " + MarkerEnd + "\n"},
		{name: "hashed name carries its ID", in: "backend webfarm\n",
			servers: []fileServer{{name: "h_hxyz", addr: srvA.addr, id: "long id é"}},
			want:    "backend webfarm\n    " + MarkerBegin + "\n    server h_hxyz 127.0.0.1:31001 " + opts + " # id \"long id \\u00e9\"\n    " + MarkerEnd + "\n"},
		{name: "IPv6 address", in: "backend webfarm\n", servers: []fileServer{{name: "v6", addr: netip.MustParseAddrPort("[::1]:8080"), id: "v6"}},
			want: "backend webfarm\n    " + MarkerBegin + "\n    server v6 [::1]:8080 " + opts + "\n    " + MarkerEnd + "\n"},
		{name: "markers in another backend are not ours",
			in:      "backend other\n    " + MarkerBegin + "\n    server x 127.0.0.1:1\n    " + MarkerEnd + "\nbackend webfarm\n",
			servers: nil,
			want:    "backend other\n    " + MarkerBegin + "\n    server x 127.0.0.1:1\n    " + MarkerEnd + "\nbackend webfarm\n    " + MarkerBegin + "\n    " + MarkerEnd + "\n"},
		{name: "no such backend", in: baseCfg, wantErr: "no `backend webfarm`"},
		{name: "backend twice", in: "backend webfarm\nbackend webfarm\n", wantErr: "appears twice"},
		{name: "begin without end", in: "backend webfarm\n    " + MarkerBegin + "\n", wantErr: "must both be there"},
		{name: "end before begin", in: "backend webfarm\n    " + MarkerEnd + "\n    " + MarkerBegin + "\n", wantErr: "must both be there"},
		{name: "two begins", in: "backend webfarm\n" + MarkerBegin + "\n" + MarkerBegin + "\n" + MarkerEnd + "\n", wantErr: "two"},
		{name: "NUL byte", in: "backend webfarm\n\x00", wantErr: "NUL"},
		{name: "empty file", in: "", wantErr: "no `backend webfarm`"},
		{name: "commented-out header is no section", in: "# backend webfarm\n", wantErr: "no `backend webfarm`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if tc.name == "no such backend" {
				in = strings.ReplaceAll(in, "backend webfarm", "backend elsewhere")
			}
			got, skipped, err := rewriteServers(in, "webfarm", tc.servers, opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("rewriteServers() error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("rewriteServers() =\n%s\nwant\n%s", got, tc.want)
			}
			if strings.Join(skipped, ",") != strings.Join(tc.skipped, ",") {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
			// Rewriting the result with the same pool changes nothing.
			again, _, err := rewriteServers(got, "webfarm", tc.servers, opts)
			if err != nil || again != got {
				t.Errorf("second rewrite changed the text (err %v):\n%s", err, again)
			}
		})
	}
}

// TestRewrittenConfigIsValid checks the written server lines with
// `haproxy -c`, with the default options and with health checks.
func TestRewrittenConfigIsValid(t *testing.T) {
	bin := haproxyBinary(t)
	for _, opts := range []string{DefaultServerOptions, DefaultServerOptions + " check inter 2s maxconn 100", ""} {
		t.Run("options "+opts, func(t *testing.T) {
			text, _, err := rewriteServers(baseCfg, "webfarm", []fileServer{srvA, srvB,
				{name: serverName(strings.Repeat("long-task-id.", 8)), addr: netip.MustParseAddrPort("[::1]:31003"), id: strings.Repeat("long-task-id.", 8)},
				{name: serverName("mesos task/2 é"), addr: netip.MustParseAddrPort("127.0.0.1:31004"), id: "mesos task/2 é"},
			}, opts)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "haproxy.cfg")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
				t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, text)
			}
		})
	}
}

func haproxyBinary(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "/usr/sbin/haproxy", "haproxy")
}

func TestOpenConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.cfg", baseCfg, 0o640)
	link := filepath.Join(dir, "link.cfg")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"good", good, ""},
		{"symlink resolved", link, ""},
		{"missing", filepath.Join(dir, "nope.cfg"), "cannot be read"},
		{"directory", dir, "not a regular file"},
		{"no backend", write("nobe.cfg", "global\n", 0o600), "no `backend webfarm`"},
		{"broken markers", write("broken.cfg", "backend webfarm\n"+MarkerBegin+"\n", 0o600), "must both be there"},
		{"binary", write("bin.cfg", "backend webfarm\n\x00\x01", 0o600), "NUL"},
	}
	if os.Geteuid() != 0 { // root may write anything
		tests = append(tests, struct{ name, path, want string }{"read-only", write("ro.cfg", baseCfg, 0o400), "not writable"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf, _, err := openConfigFile(tc.path, "webfarm")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cf.path != good {
					t.Errorf("path = %s, want %s (symlinks resolved)", cf.path, good)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Problem != ProblemConfigFile || !errors.Is(err, lb.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("openConfigFile(%s) = %v, want a ProblemConfigFile mentioning %q", tc.path, err, tc.want)
			}
		})
	}
}

// TestConfigFileWrite checks the atomic write: mode kept, symlink kept,
// no temporary files left, IDs of hashed names read back.
func TestConfigFileWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(baseCfg), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current.cfg")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	cf, _, err := openConfigFile(link, "webfarm")
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("long-task-id.", 8)
	hashed := fileServer{name: serverName(long), addr: srvA.addr, id: long}
	if _, err := cf.write("webfarm", []fileServer{srvA, hashed}, DefaultServerOptions); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after write = %v, want 0640", fi.Mode().Perm())
	}
	if lfi, err := os.Lstat(link); err != nil || lfi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced (%v, %v)", lfi, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("directory holds %d entries after the write, want 2 (no temporary files left)", len(ents))
	}
	_, ids, err := openConfigFile(path, "webfarm")
	if err != nil {
		t.Fatal(err)
	}
	if ids[hashed.name] != long || ids["web.1"] != "web.1" {
		t.Errorf("IDs read back = %q, want %s → %q and web.1", ids, hashed.name, long)
	}
}

// TestPersistWithFake drives Add, Drain and Remove on the fake runtime API
// and checks the file after each, and that a failed write is reported
// with ErrNotSaved while the live change stands.
func TestPersistWithFake(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(baseCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	b := openFake(t, f, Config{})
	cf, _, err := openConfigFile(path, "webfarm")
	if err != nil {
		t.Fatal(err)
	}
	b.file = &cf
	servers := func() []string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range splitLines(string(data)) {
			if f := l.fields(); len(f) >= 3 && f[0] == "server" && f[1] != "o1" {
				s := f[1] + " " + f[2]
				if strings.Contains(l.content(), "disabled") {
					s += " disabled"
				}
				out = append(out, s)
			}
		}
		return out
	}
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"add 1", func() error { return b.Add(ctx, lb.Backend{ID: "web.1", Addr: srvA.addr}) }, "web.1 127.0.0.1:31001"},
		{"add 2", func() error { return b.Add(ctx, lb.Backend{ID: "web.2", Addr: srvB.addr}) }, "web.1 127.0.0.1:31001,web.2 127.0.0.1:31002"},
		{"add again", func() error { return b.Add(ctx, lb.Backend{ID: "web.2", Addr: srvB.addr}) }, "web.1 127.0.0.1:31001,web.2 127.0.0.1:31002"},
		{"drain 1", func() error { return b.Drain(ctx, "web.1") }, "web.1 127.0.0.1:31001 disabled,web.2 127.0.0.1:31002"},
		{"remove 1", func() error { return b.Remove(ctx, "web.1") }, "web.2 127.0.0.1:31002"},
		{"remove unknown", func() error { return b.Remove(ctx, "web.9") }, "web.2 127.0.0.1:31002"},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := strings.Join(servers(), ","); got != st.want {
			t.Fatalf("%s: servers in the file = %q, want %q", st.name, got, st.want)
		}
	}
	// The file loses its backend section: the next change is applied to
	// HAProxy, and reported as not saved.
	if err := os.WriteFile(path, []byte("global\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = b.Add(ctx, lb.Backend{ID: "web.3", Addr: netip.MustParseAddrPort("127.0.0.1:31003")})
	if !errors.Is(err, ErrNotSaved) {
		t.Fatalf("Add with a broken file = %v, want ErrNotSaved", err)
	}
	checkPrefixOnce(t, "Add with a broken file", err)
	got, _ := b.Backends(ctx)
	if len(got) != 2 {
		t.Errorf("Backends = %v, want web.2 and web.3 (the live change stands)", got)
	}
}

// TestRestoreAddsOnlyWhatIsMissing: after a restart whose new process read
// part of the pool from the file (a change raced the restart), Restore
// adds the missing server only, and the file then holds the whole pool.
func TestRestoreAddsOnlyWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(baseCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFake()
	b := openFake(t, f, Config{Restore: true})
	cf, _, err := openConfigFile(path, "webfarm")
	if err != nil {
		t.Fatal(err)
	}
	b.file = &cf
	for _, s := range []fileServer{srvA, {name: "web.3", id: "web.3", addr: netip.MustParseAddrPort("127.0.0.1:31003")}} {
		if err := b.Add(ctx, lb.Backend{ID: s.id, Addr: s.addr}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Read(ctx); err != nil {
		t.Fatal(err)
	}
	// A new process that has web.1 (from the file) but not web.3.
	f.mu.Lock()
	f.pid++
	delete(f.servers, "web.3")
	f.order = slices.DeleteFunc(f.order, func(n string) bool { return n == "web.3" })
	f.mu.Unlock()
	r, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Restarted || r.Restored != 1 {
		t.Errorf("reading after the restart: Restarted %v, Restored %d; want true, 1 (web.3 only)", r.Restarted, r.Restored)
	}
	if got, _ := b.Backends(ctx); len(got) != 2 {
		t.Errorf("Backends = %v, want web.1 and web.3 once each", got)
	}
	if n := strings.Count(strings.Join(f.callLog(), "\n"), "add server webfarm/web.1 "); n != 1 {
		t.Errorf("web.1 added %d times, want 1 (it was there after the restart)", n)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), "server web.1 ") || !strings.Contains(string(data), "server web.3 ") {
		t.Errorf("file after restore:\n%s", data)
	}
}
