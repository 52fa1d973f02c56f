package haproxyproc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

func needHAProxy(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts haproxy; skipped with -short")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad backend name", Config{Backend: "web farm"}, `Backend "web farm"`},
		{"bad frontend name", Config{Frontend: "a#b"}, `Frontend "a#b"`},
		{"same names", Config{Frontend: "x", Backend: "x"}, "different names"},
		{"bad mode", Config{Mode: "udp"}, `Mode "udp"`},
		{"port out of range", Config{FrontendPort: 70000}, "FrontendPort 70000"},
		{"newline in balance", Config{Balance: "roundrobin\nserver x 1.2.3.4:5"}, "Balance"},
		{"newline in extra line", Config{BackendLines: []string{"a\nb"}}, "newline"},
		{"server without port", Config{Servers: []netip.AddrPort{netip.AddrPortFrom(loopback, 0)}}, "Servers[0]"},
		{"bad route name", Config{Routes: []string{"a b"}}, `Routes[0] "a b"`},
		{"route is the backend", Config{Routes: []string{"webfarm"}}, `Routes[0] "webfarm" is used twice`},
		{"route twice", Config{Routes: []string{"api", "api"}}, `Routes[1] "api" is used twice`},
		{"route in tcp mode", Config{Mode: "tcp", Routes: []string{"api"}}, "Routes needs Mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(context.Background(), tc.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start(%s) = %v, want ErrConfig mentioning %q", tc.name, err, tc.want)
			}
		})
	}
	long := Config{Dir: "/tmp/" + strings.Repeat("d", 120)}
	if _, err := Start(context.Background(), long); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "shorter Dir") {
		t.Errorf("Start with a long Dir = %v, want ErrConfig about the socket path", err)
	}
}

// TestRenderIsValid checks every variant of the generated file with haproxy -c.
func TestRenderIsValid(t *testing.T) {
	needHAProxy(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"tcp leastconn", Config{Mode: "tcp", Balance: "leastconn"}},
		{"static servers", Config{Servers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8081"), netip.MustParseAddrPort("[::1]:8082")}}},
		{"consistent hash", Config{Balance: "uri", BackendLines: []string{"hash-type consistent"}}},
		{"plain", Config{Plain: true}},
		{"routes", Config{Routes: []string{"api", "static"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			text, err := Render(tc.cfg, filepath.Join(dir, "s.sock"), 18080)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "haproxy.cfg")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("haproxy", "-c", "-f", path).CombinedOutput()
			if err != nil {
				t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, text)
			}
			if strings.Contains(string(out), "[WARNING]") {
				t.Errorf("haproxy -c warns:\n%s\n%s", out, text)
			}
		})
	}
}

// TestRenderPlain checks that Plain leaves out exactly the restart tuning.
func TestRenderPlain(t *testing.T) {
	tuning := []string{"option idle-close-on-response", "hard-stop-after"}
	tests := []struct {
		name string
		cfg  Config
		want bool // tuning lines present
	}{
		{"default is tuned", Config{}, true},
		{"plain has no tuning", Config{Plain: true}, false},
		{"plain tcp has no tuning", Config{Plain: true, Mode: "tcp"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text, err := Render(tc.cfg, "/run/haproxy/admin.sock", 8080)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range tuning {
				if strings.Contains(text, l) != tc.want {
					t.Errorf("line %q present = %v, want %v:\n%s", l, !tc.want, tc.want, text)
				}
			}
			for _, l := range []string{"timeout client 30s", "timeout server 30s", "timeout connect 5s"} {
				if !strings.Contains(text, l) {
					t.Errorf("timeout line %q missing:\n%s", l, text)
				}
			}
		})
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func get(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func TestStartRestartStop(t *testing.T) {
	needHAProxy(t)
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	ctx := context.Background()
	p, err := Start(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	fi, err := os.Stat(p.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode = %v, want 0600", perm)
	}
	if !p.FrontendAddr().Addr().IsLoopback() || p.FrontendAddr().Port() == 0 {
		t.Errorf("FrontendAddr = %s, want 127.0.0.1:port", p.FrontendAddr())
	}
	if code := get(t, p.URL()); code != http.StatusServiceUnavailable {
		t.Errorf("GET with no servers = %d, want 503", code)
	}
	// The old way: static servers in the file, applied by a restart.
	if err := p.SetServers([]netip.AddrPort{netip.MustParseAddrPort(strings.TrimPrefix(web.URL, "http://"))}); err != nil {
		t.Fatal(err)
	}
	first := p.PID()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if p.PID() == first || p.WorkerPID() != p.PID() {
		t.Errorf("after Restart: PID %d (was %d), WorkerPID %d", p.PID(), first, p.WorkerPID())
	}
	if code := get(t, p.URL()); code != http.StatusOK {
		t.Errorf("GET after restart with a server = %d, want 200", code)
	}
	if err := p.Reload(ctx); !errors.Is(err, ErrConfig) {
		t.Errorf("Reload without MasterWorker = %v, want ErrConfig", err)
	}
	second := p.PID()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop = %v", err)
	}
	for _, pid := range []int{first, second} {
		if alive(pid) {
			t.Errorf("haproxy %d still running after Stop", pid)
		}
	}
	if _, err := os.Stat(p.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left the directory behind: %v", err)
	}
}

func TestMasterWorkerReload(t *testing.T) {
	needHAProxy(t)
	ctx := context.Background()
	p := StartTest(t, Config{MasterWorker: true, StatsTCP: true})
	if !p.StatsAddr().IsValid() {
		t.Fatal("StatsAddr is zero with StatsTCP")
	}
	master, w1 := p.PID(), p.WorkerPID()
	if master == w1 {
		t.Fatalf("master-worker: master %d == worker %d", master, w1)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p.PID() != master || p.WorkerPID() == w1 {
		t.Errorf("after Reload: master %d (was %d), worker %d (was %d)", p.PID(), master, p.WorkerPID(), w1)
	}
	w2 := p.WorkerPID()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range []int{master, w1, w2} {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // the old worker may still be exiting
		}
		if alive(pid) {
			t.Errorf("process %d still running after Stop", pid)
		}
	}
}

func TestStartFailsCleanly(t *testing.T) {
	needHAProxy(t)
	_, err := Start(context.Background(), Config{BackendLines: []string{"no-such-keyword"}})
	if err == nil || !strings.Contains(err.Error(), "no-such-keyword") {
		t.Errorf("Start with a bad config line = %v, want an error quoting haproxy's complaint", err)
	}
}
