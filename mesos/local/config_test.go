package local

import (
	"context"
	"crypto/tls"
	"errors"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "negative agents", cfg: Config{Agents: -1}, want: "Agents -1"},
		{name: "too many agents", cfg: Config{Agents: 5000}, want: "Agents 5000"},
		{name: "too many masters", cfg: Config{Masters: 6}, want: "Masters 6"},
		{name: "negative election delay", cfg: Config{ElectionDelay: -1}, want: "ElectionDelay"},
		{name: "NaN cpus", cfg: Config{CPUs: math.NaN()}, want: "CPUs"},
		{name: "negative mem", cfg: Config{Mem: -5}, want: "Mem -5"},
		{name: "ports reversed", cfg: Config{Ports: PortRange{2000, 1000}}, want: "Ports 2000-1000"},
		{name: "ports beyond 65535", cfg: Config{Ports: PortRange{65000, 70000}}, want: "Ports 65000-70000"},
		{name: "fewer ports than agents", cfg: Config{Agents: 3, Ports: PortRange{1000, 1001}}, want: "fewer ports than agents"},
		{name: "negative heartbeat", cfg: Config{HeartbeatInterval: -time.Second}, want: "HeartbeatInterval"},
		{name: "empty principal", cfg: Config{Auth: &Credentials{Secret: "x"}}, want: "Principal"},
		{name: "TLS without certificate", cfg: Config{TLS: &tls.Config{}}, want: "TLS"},
		{name: "every error at once", cfg: Config{Agents: -1, Mem: -1}, want: "Mem -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start(context.Background(), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("Start(%+v) = nil error, want one about %q", tc.cfg, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig) || errors.Is(err, ErrStart) {
				t.Errorf("error %q, want errors.Is(err, ErrInvalidConfig) naming %q", err, tc.want)
			}
		})
	}
}

func TestStartDefaultsAndClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Config{}); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrStart) {
		t.Errorf("Start with a cancelled context: %v, want ErrStart wrapping context.Canceled", err)
	}
	// A work directory that cannot be created: ErrStart with the cause.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Start(context.Background(), Config{WorkDir: filepath.Join(file, "work")}); err == nil {
		c.Close()
		t.Error("Start with a work dir under a file: nil error")
	} else if !errors.Is(err, ErrStart) || !errors.Is(err, syscall.ENOTDIR) || errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Start with a work dir under a file: %v, want ErrStart wrapping ENOTDIR", err)
	}
	c, err := Start(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(c.URL())
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != SchedulerPath {
		t.Errorf("URL %q, want http://127.0.0.1:PORT%s", c.URL(), SchedulerPath)
	}
	agents := c.Agents()
	if len(agents) != DefaultAgents {
		t.Fatalf("%d agents, want %d", len(agents), DefaultAgents)
	}
	for i, a := range agents {
		want := agentPorts(PortRange{DefaultPortsBegin, DefaultPortsEnd}, i, DefaultAgents)
		if a.CPUs != DefaultCPUs || a.Mem != DefaultMem || a.Ports != want || !strings.HasPrefix(a.Endpoint, "127.0.0.1:") {
			t.Errorf("agent %d = %+v, want defaults with ports %v on 127.0.0.1", i, a, want)
		}
	}
	dir := c.WorkDir()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.FailoverMaster(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("FailoverMaster after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close left its temporary work dir %s: %v", dir, err)
	}
	// A WorkDir given by the caller is kept.
	kept := t.TempDir() + "/kept"
	c, err = Start(context.Background(), Config{WorkDir: kept})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept); err != nil {
		t.Errorf("Close removed the caller's WorkDir: %v", err)
	}
}

func TestAgentPorts(t *testing.T) {
	tests := []struct {
		name string
		all  PortRange
		n    int
		want []PortRange
	}{
		{name: "even split", all: PortRange{31000, 31999}, n: 2, want: []PortRange{{31000, 31499}, {31500, 31999}}},
		{name: "remainder to the last", all: PortRange{1, 10}, n: 3, want: []PortRange{{1, 3}, {4, 6}, {7, 10}}},
		{name: "one agent", all: PortRange{5, 5}, n: 1, want: []PortRange{{5, 5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, want := range tc.want {
				if got := agentPorts(tc.all, i, tc.n); got != want {
					t.Errorf("agent %d: %v, want %v", i, got, want)
				}
			}
		})
	}
}
