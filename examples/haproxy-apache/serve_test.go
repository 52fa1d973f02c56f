package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/portblock"
	"github.com/webfarm/webfarm/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseServe(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		want    serveConfig
	}{
		{"go server from PORT0", nil, map[string]string{"PORT0": "31005", "MESOS_TASK_ID": "web-7"}, "",
			serveConfig{backend: "go", bind: "127.0.0.1", port: 31005, taskID: "web-7", apache: "/usr/sbin/apache2"}},
		{"PORT fallback and default task id", []string{"-backend", "apache"}, map[string]string{"PORT": "8080"}, "",
			serveConfig{backend: "apache", bind: "127.0.0.1", port: 8080, taskID: "port-8080", apache: "/usr/sbin/apache2"}},
		{"no port", nil, nil, "$PORT0", serveConfig{}},
		{"port out of range", nil, map[string]string{"PORT0": "70000"}, "1–65535", serveConfig{}},
		{"port not a number", nil, map[string]string{"PORT0": "http"}, "1–65535", serveConfig{}},
		{"bad PORT fallback named", nil, map[string]string{"PORT": "http"}, `$PORT = "http"`, serveConfig{}},
		{"PORT0 wins over PORT", nil, map[string]string{"PORT0": "31006", "PORT": "http"}, "",
			serveConfig{backend: "go", bind: "127.0.0.1", port: 31006, taskID: "port-31006", apache: "/usr/sbin/apache2"}},
		{"unknown backend", []string{"-backend", "nginx"}, map[string]string{"PORT0": "1"}, `-backend "nginx"`, serveConfig{}},
		{"bind not an IP", []string{"-bind", "localhost"}, map[string]string{"PORT0": "1"}, `-bind "localhost"`, serveConfig{}},
		{"stray argument", []string{"extra"}, map[string]string{"PORT0": "1"}, "unexpected arguments", serveConfig{}},
		{"prefix without slashes", []string{"-prefix", "api"}, map[string]string{"PORT0": "1"}, `-prefix "api"`, serveConfig{}},
		{"prefix of two segments", []string{"-prefix", "/a/b/"}, map[string]string{"PORT0": "1"}, `-prefix "/a/b/"`, serveConfig{}},
		{"unknown flag", []string{"-nope"}, map[string]string{"PORT0": "1"}, "not defined", serveConfig{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseServe(tc.args, env(tc.env), io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseServe(%q) error = %v, want one mentioning %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServe(%q) = %v", tc.args, err)
			}
			if got != tc.want {
				t.Errorf("parseServe(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

// TestServeMainExitCodes checks the exit codes of configurations that end
// before anything listens (the server's own run is TestGoServer's and
// internal/webserver's).
func TestServeMainExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"-h"}, 0},
		{"unknown backend", []string{"-backend", "nginx"}, 2},
		{"bind not an IP", []string{"-bind", "localhost"}, 2},
		{"unknown flag", []string{"-nope"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := serveMain(tc.args); got != tc.want {
				t.Errorf("serveMain(%q) = %d, want %d", tc.args, got, tc.want)
			}
		})
	}
}

// freePort returns a loopback port for a server the test starts: free
// when picked, from this package's area (see internal/portblock), so no
// other package and no outgoing connection takes it before the server
// binds it (a port of the kernel's ephemeral range could be).
func freePort(t *testing.T) int {
	t.Helper()
	pb, release, err := portblock.HAProxyApache.Pick(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	return int(pb.Begin)
}

// waitGet polls url until it answers or the deadline passes.
func waitGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v (gave up after 10s)", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runServer runs run in the background and returns a stop function that
// cancels it and returns its error.
func runServer(t *testing.T, run func(ctx context.Context) error) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("server did not stop within 15s of cancel")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestGoServer checks the example's wiring of internal/webserver: the
// HTML page on c.bind:c.port, stopped by ctx.
func TestGoServer(t *testing.T) {
	c := serveConfig{backend: backendGo, bind: "127.0.0.1", port: freePort(t), taskID: "web-<1>"}
	stop := runServer(t, func(ctx context.Context) error { return runGoServer(ctx, c, quiet()) })
	base := "http://127.0.0.1:" + strconv.Itoa(c.port)
	resp, body := waitGet(t, base+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "served by task web-&lt;1&gt;") {
		t.Errorf("GET / = %d %q, want 200 naming the task (HTML-escaped)", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Served-By"); got != "web-<1>" {
		t.Errorf("X-Served-By = %q, want the task ID", got)
	}
	if resp, body := waitGet(t, base+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	if resp, _ := waitGet(t, base+"/missing"); resp.StatusCode != 404 {
		t.Errorf("GET /missing = %d, want 404", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestGoServerPrefix: with -prefix the page answers under /name/ too (the
// path HAProxy routes a service by), and the rest is as without it.
func TestGoServerPrefix(t *testing.T) {
	c := serveConfig{backend: backendGo, bind: "127.0.0.1", port: freePort(t), taskID: "api.1", prefix: "/api/"}
	stop := runServer(t, func(ctx context.Context) error { return runGoServer(ctx, c, quiet()) })
	base := "http://127.0.0.1:" + strconv.Itoa(c.port)
	for _, path := range []string{"/", "/api/"} {
		if resp, body := waitGet(t, base+path); resp.StatusCode != 200 || !strings.Contains(body, "served by task api.1") {
			t.Errorf("GET %s = %d %q, want 200 naming the task", path, resp.StatusCode, body)
		}
	}
	if resp, body := waitGet(t, base+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	for _, path := range []string{"/api/missing", "/other/"} {
		if resp, _ := waitGet(t, base+path); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.port), time.Second); err == nil {
		t.Errorf("port %d still accepts connections after the server stopped", c.port)
	}
}

func TestRenderApacheConfig(t *testing.T) {
	good := apacheFiles{run: "/tmp/run", docroot: "/tmp/docs", modules: "/usr/lib/apache2/modules"}
	c := serveConfig{bind: "127.0.0.1", port: 31001, taskID: "web\n1"}
	tests := []struct {
		name    string
		c       serveConfig
		f       apacheFiles
		wantErr string
	}{
		{"relative docroot", c, apacheFiles{run: "/r", docroot: "docs", modules: "/m"}, "absolute"},
		{"quote in path", c, apacheFiles{run: "/r\"x", docroot: "/d", modules: "/m"}, "quotes"},
		{"newline in path", c, apacheFiles{run: "/r", docroot: "/d\nListen 80", modules: "/m"}, "newlines"},
		{"bad bind", serveConfig{bind: "example.com", port: 80}, good, "cannot listen"},
		{"port 0", serveConfig{bind: "127.0.0.1"}, good, "cannot listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := renderApacheConfig(tc.c, tc.f, ""); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("renderApacheConfig = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
	conf, err := renderApacheConfig(c, good, "www-data")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nListen 127.0.0.1:31001\n", "\nUser www-data\n", `DocumentRoot "/tmp/docs"`, `"web\n1"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	for _, line := range strings.Split(conf, "\n") {
		if strings.HasPrefix(line, "1") {
			t.Errorf("a task ID with a newline broke out of its comment: line %q", line)
		}
	}
}

func apache2(t *testing.T) string {
	t.Helper()
	const bin = "/usr/sbin/apache2"
	return testenv.LookPath(t, "Debian's apache2: scripts/deps.sh test installs it (apt-get install apache2)", bin)
}

func TestApacheConfigIsValid(t *testing.T) {
	bin := apache2(t)
	dir := t.TempDir()
	conf, err := renderApacheConfig(serveConfig{bind: "127.0.0.1", port: 31001, taskID: "t"},
		apacheFiles{run: dir, docroot: dir, modules: "/usr/lib/apache2/modules"}, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Errorf("apache2 -t -f %s: %v\n%s\nconfig:\n%s", path, err, out, conf)
	}
}

func TestApacheServes(t *testing.T) {
	bin := apache2(t)
	c := serveConfig{backend: backendApache, bind: "127.0.0.1", port: freePort(t), taskID: "web-a", apache: bin, dir: t.TempDir(), prefix: "/api/"}
	stop := runServer(t, func(ctx context.Context) error { return runApache(ctx, c, quiet()) })
	base := "http://127.0.0.1:" + strconv.Itoa(c.port)
	resp, body := waitGet(t, base+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "served by Apache, task web-a") {
		t.Errorf("GET / = %d %q, want 200 from Apache naming the task", resp.StatusCode, body)
	}
	if resp, body := waitGet(t, base+"/api/"); resp.StatusCode != 200 || !strings.Contains(body, "served by Apache, task web-a") {
		t.Errorf("GET /api/ (-prefix) = %d %q, want the page", resp.StatusCode, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Server"), "Apache") {
		t.Errorf("Server header = %q, want Apache", resp.Header.Get("Server"))
	}
	if resp, body := waitGet(t, base+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	pid, err := os.ReadFile(filepath.Join(c.dir, "httpd.pid"))
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(pid)))
	if _, err := os.Stat("/proc/" + strconv.Itoa(p)); err == nil {
		t.Errorf("apache process %d still exists after stop", p)
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.port), time.Second); err == nil {
		t.Errorf("port %d still accepts connections after apache stopped", c.port)
	}
}
