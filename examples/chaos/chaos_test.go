package main

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

// TestMain lets the test binary be the web-server task ("serve").
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serveMain())
	}
	os.Exit(m.Run())
}

// TestChaos runs the suite on one farm, one subtest per scenario: the
// bounded form, or with WEBFARM_CHAOS=full the full one.
// WEBFARM_CHAOS_SEED picks the scale-event sequence.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Mesos, HAProxy and tasks; skipped with -short")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	opt := bounded()
	limit := 110 * time.Second
	if os.Getenv("WEBFARM_CHAOS") == "full" {
		opt, limit = full(), 30*time.Minute
	}
	opt.Seed = uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("WEBFARM_CHAOS_SEED"), 10, 64); err == nil {
		opt.Seed = s
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opt.Exe = exe
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var logs syncBuffer
	w := testWriter{t}
	_, err = runSuite(ctx, opt, w, &logs, func(name string, run func() result) {
		t.Run(name, func(t *testing.T) {
			if r := run(); r.Err != nil {
				t.Errorf("%s (seed %d): %v", name, opt.Seed, r.Err)
			}
		})
	})
	if err != nil {
		t.Fatalf("suite (seed %d): %v", opt.Seed, err)
	}
	if t.Failed() {
		l := logs.String()
		t.Logf("component logs (last 16 KiB):\n%s", l[max(0, len(l)-16<<10):])
	}
}

// testWriter sends the suite's lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
