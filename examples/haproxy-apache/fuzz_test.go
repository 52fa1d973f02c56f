package main

import (
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"
)

// splitArgs turns a fuzz input into an argument list (one per line).
func splitArgs(in string) []string {
	if in == "" {
		return nil
	}
	return strings.Split(in, "\n")
}

// FuzzParseFarm feeds the demo's flag parser any argument list: no panic,
// and an accepted list gives a configuration inside the documented
// bounds.
func FuzzParseFarm(f *testing.F) {
	for _, s := range []string{"", "-backend\napache", "-backend\nauto", "-peak\n1e309", "-peak\nNaN", "-min\n5\n-max\n3",
		"-duration\n9s", "-interval\n1ns", "-port\n70000", "-task-bind\nlocalhost", "-master\nhttp://h:5050",
		"-exit-after-load\n-load=false", "-status\nnoport", "-log-level\nloud", "serve", "-h"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, apache bool) {
		c, _, err := parseFarm(splitArgs(in), io.Discard, apache)
		if err != nil {
			return
		}
		switch {
		case c.backend != backendGo && c.backend != backendApache:
			t.Fatalf("%q: backend %q", in, c.backend)
		case c.agents < 1 || c.agents > 64 || c.min < 1 || c.max < c.min || c.max > 200:
			t.Fatalf("%q: agents %d, min %d, max %d", in, c.agents, c.min, c.max)
		case !(c.peak > 0) || math.IsInf(c.peak, 0) || !(c.target > 0) || math.IsInf(c.target, 0):
			t.Fatalf("%q: peak %v, target %v", in, c.peak, c.target)
		case c.length < 10*time.Second || c.length > 10*time.Minute || c.interval < 100*time.Millisecond || c.interval > time.Minute:
			t.Fatalf("%q: duration %s, interval %s", in, c.length, c.interval)
		case c.listenPort < 0 || c.listenPort > 65535 || net.ParseIP(c.taskBind) == nil:
			t.Fatalf("%q: port %d, task bind %q", in, c.listenPort, c.taskBind)
		case c.exitAfter && !c.load:
			t.Fatalf("%q: -exit-after-load without load", in)
		case c.settle < 30*time.Second:
			t.Fatalf("%q: settle %s", in, c.settle)
		}
		if _, _, err := net.SplitHostPort(c.statusAddr); err != nil {
			t.Fatalf("%q: status %q: %v", in, c.statusAddr, err)
		}
	})
}

// FuzzParseServe feeds the task's parser any flags and $PORT0/$PORT: no
// panic, and an accepted configuration has a known backend, an IP to
// bind and a port in 1–65535.
func FuzzParseServe(f *testing.F) {
	for _, s := range []string{"", "-backend\napache", "-backend\nnginx", "-bind\n::1", "-bind\nexample.com", "-apache2\n/x", "extra", "-h"} {
		f.Add(s, "31000", "", "task-1")
		f.Add(s, "", "8080", "")
	}
	f.Add("", "0", "", "")
	f.Add("", "65536", "", "")
	f.Add("", "-1", "80", "")
	f.Add("", "1e3", "", "")
	f.Fuzz(func(t *testing.T, in, port0, port, taskID string) {
		env := map[string]string{"PORT0": port0, "PORT": port, "MESOS_TASK_ID": taskID}
		c, err := parseServe(splitArgs(in), func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			return
		}
		switch {
		case c.backend != backendGo && c.backend != backendApache:
			t.Fatalf("%q: backend %q", in, c.backend)
		case net.ParseIP(c.bind) == nil:
			t.Fatalf("%q: bind %q", in, c.bind)
		case c.port < 1 || c.port > 65535:
			t.Fatalf("%q (PORT0 %q, PORT %q): port %d", in, port0, port, c.port)
		case c.taskID == "":
			t.Fatalf("%q: empty task ID", in)
		}
	})
}
