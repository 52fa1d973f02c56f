package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

func TestParseFarm(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		apache  bool
		wantErr string
		check   func(t *testing.T, c farmConfig, l slog.Level)
	}{
		{"defaults without apache", nil, false, "", func(t *testing.T, c farmConfig, l slog.Level) {
			if c.backend != backendGo || c.master != "" || c.taskBind != "127.0.0.1" || !c.load || c.min != 2 || c.length != 2*time.Minute || c.services != 1 || l != slog.LevelInfo {
				t.Errorf("defaults = %+v level %v, want go backend, embedded master, bind 127.0.0.1, load on, min 2, 2m", c, l)
			}
		}},
		{"auto picks apache when installed", nil, true, "", func(t *testing.T, c farmConfig, _ slog.Level) {
			if c.backend != backendApache {
				t.Errorf("backend = %q, want apache", c.backend)
			}
		}},
		{"go forced with apache installed", []string{"-backend", "go"}, true, "", func(t *testing.T, c farmConfig, _ slog.Level) {
			if c.backend != backendGo {
				t.Errorf("backend = %q, want go", c.backend)
			}
		}},
		{"master binds tasks on all interfaces", []string{"-master", "http://m:5050"}, false, "", func(t *testing.T, c farmConfig, _ slog.Level) {
			if c.taskBind != "0.0.0.0" {
				t.Errorf("task bind with -master = %q, want 0.0.0.0", c.taskBind)
			}
		}},
		{"debug logs", []string{"-log-level", "debug"}, false, "", func(t *testing.T, _ farmConfig, l slog.Level) {
			if l != slog.LevelDebug {
				t.Errorf("level = %v, want debug", l)
			}
		}},
		{"three services", []string{"-services", "3"}, false, "", func(t *testing.T, c farmConfig, _ slog.Level) {
			if c.services != 3 {
				t.Errorf("services = %d, want 3", c.services)
			}
		}},
		{"deploy after", []string{"-deploy-after", "20s"}, false, "", func(t *testing.T, c farmConfig, _ slog.Level) {
			if c.deployAfter != 20*time.Second {
				t.Errorf("deployAfter = %s, want 20s", c.deployAfter)
			}
		}},
		{"negative deploy-after", []string{"-deploy-after", "-1s"}, false, "-deploy-after -1s", nil},
		{"deploy-after too long", []string{"-deploy-after", "2h"}, false, "-deploy-after 2h0m0s", nil},
		{"zero services", []string{"-services", "0"}, false, "-services 0", nil},
		{"too many services", []string{"-services", "4"}, false, "-services 4", nil},
		{"unknown backend", []string{"-backend", "nginx"}, false, `-backend "nginx"`, nil},
		{"zero agents", []string{"-agents", "0"}, false, "-agents 0", nil},
		{"unknown policy", []string{"-policy", "hpa"}, false, `-policy "hpa"`, nil},
		{"negative peak", []string{"-peak", "-1"}, false, "-peak", nil},
		{"infinite target", []string{"-target", "+Inf"}, false, "-target", nil},
		{"profile too short", []string{"-duration", "5s"}, false, "-duration 5s", nil},
		{"min above max", []string{"-min", "5", "-max", "3"}, false, "-min 5 -max 3", nil},
		{"interval too short", []string{"-interval", "10ms"}, false, "-interval", nil},
		{"port out of range", []string{"-port", "70000"}, false, "-port 70000", nil},
		{"task bind not an IP", []string{"-task-bind", "eth0"}, false, `-task-bind "eth0"`, nil},
		{"status address without port", []string{"-status", "127.0.0.1"}, false, "-status", nil},
		{"exit-after-load without load", []string{"-load=false", "-exit-after-load"}, false, "-exit-after-load", nil},
		{"stray argument", []string{"go"}, false, "unexpected arguments", nil},
		{"bad log level", []string{"-log-level", "loud"}, false, "log-level", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, l, err := parseFarm(tc.args, io.Discard, tc.apache)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseFarm(%q) error = %v, want one naming %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFarm(%q) = %v", tc.args, err)
			}
			tc.check(t, c, l)
		})
	}
}

func TestPolicyConfigScalesWithProfile(t *testing.T) {
	tests := []struct {
		name                 string
		length               time.Duration
		stable, panic, downS time.Duration
	}{
		{"two-minute demo", 2 * time.Minute, 20 * time.Second, 4 * time.Second, 15 * time.Second},
		{"45 s test", 45 * time.Second, 8 * time.Second, 2 * time.Second, 6 * time.Second},
		{"short profile keeps a 6 s floor", 10 * time.Second, 6 * time.Second, 2 * time.Second, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := policyConfig(farmConfig{length: tc.length, interval: time.Second, target: 50, min: 2, max: 12})
			if c.StableWindow != tc.stable || c.PanicWindow != tc.panic || c.DownStabilization != tc.downS {
				t.Errorf("windows %s/%s/%s, want %s/%s/%s", c.StableWindow, c.PanicWindow, c.DownStabilization, tc.stable, tc.panic, tc.downS)
			}
		})
	}
}

// TestInterruptLeavesNothing runs the demo command as a separate process
// (this test binary, with "farm"), waits until the farm serves, sends it
// SIGINT as Ctrl-C would, and checks it exits 0 with no HAProxy and no task
// left anywhere on the machine.
func TestInterruptLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo as a process; skipped with -short")
	}
	needHAProxy(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "farm", "-load=false", "-backend", "go", "-task-exe", exe)
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("demo stderr (last 8 KiB):\n%s", tail(stderr.String(), 8<<10))
		}
	}()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var farmURL, cfgPath string
	for farmURL == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the demo exited before serving")
			}
			if m := regexp.MustCompile(`farm at (http://\S+/) \(HAProxy config (\S+)\)`).FindStringSubmatch(l); m != nil {
				farmURL, cfgPath = m[1], m[2]
			}
		case <-ctx.Done():
			t.Fatal("no farm address within 90s")
		}
	}
	demoDir := filepath.Dir(filepath.Dir(cfgPath)) // the demo's temp dir
	for served := false; !served; {
		if resp, err := http.Get(farmURL); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			served = resp.StatusCode == 200 && strings.Contains(string(body), "served by task")
		}
		if ctx.Err() != nil {
			t.Fatal("the farm never served within 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(ours(exe, demoDir)); n < 3 {
		t.Fatalf("found %d farm processes (haproxy + tasks) while it runs, want ≥ 3: the leak check below would prove nothing", n)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain stdout until the process closes it
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after SIGINT: %v, want exit status 0", err)
	}
	if left := ours(exe, demoDir); len(left) > 0 {
		t.Errorf("processes left after the demo exited: %q", left)
	}
	if _, err := os.Stat(demoDir); !os.IsNotExist(err) {
		t.Errorf("the demo's temp dir %s is still there (%v)", demoDir, err)
	}
	if !strings.Contains(stderr.String(), "stopping on signal") || !strings.Contains(stderr.String(), `msg="mesos: backend draining"`) {
		t.Errorf("the demo did not log a clean stop with drained backends")
	}
}

// ours lists live processes that belong to a demo run: haproxy with its
// config under dir, and web-server tasks (exe serve …).
func ours(exe, dir string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		line := strings.Join(args, " ")
		if (strings.Contains(line, "haproxy") && strings.Contains(line, dir)) ||
			(args[0] == exe && len(args) > 1 && args[1] == "serve") {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil &&
				strings.Contains(string(stat), ") Z ") {
				continue // exited, not yet reaped
			}
			out = append(out, e.Name()+": "+line)
		}
	}
	return out
}
