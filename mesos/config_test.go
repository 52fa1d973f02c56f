package mesos

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
)

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		field string // "" = valid
	}{
		{"minimal is valid", func(*Config) {}, ""},
		{"image without command is valid", func(c *Config) { c.Task.Command = nil; c.Task.Image = "httpd:2.4" }, ""},
		{"no masters", func(c *Config) { c.Masters = nil }, "Masters"},
		{"empty master", func(c *Config) { c.Masters = []string{""} }, "Masters[0]"},
		{"ftp master", func(c *Config) { c.Masters = []string{"ftp://m:5050"} }, "Masters[0]"},
		{"master with path", func(c *Config) { c.Masters = []string{"http://m:5050", "http://m:5050/other"} }, "Masters[1]"},
		{"master with credentials", func(c *Config) { c.Masters = []string{"http://u:p@m:5050"} }, "Masters[0]"},
		{"master port 0", func(c *Config) { c.Masters = []string{"m:0"} }, "Masters[0]"},
		{"bad name", func(c *Config) { c.Name = "web farm" }, "Name"},
		{"bad role", func(c *Config) { c.Role = ".." }, "Role"},
		{"secret without principal", func(c *Config) { c.Secret = "s3cret" }, "Secret"},
		{"bad codec", func(c *Config) { c.Codec = "xml" }, "Codec"},
		{"no balancer", func(c *Config) { c.Balancer = nil }, "Balancer"},
		{"typed nil balancer", func(c *Config) { var m *lbtest.Memory; c.Balancer = m }, "Balancer"},
		{"negative host cap", func(c *Config) { c.MaxPerHost = -1 }, "MaxPerHost"},
		{"negative agent cap", func(c *Config) { c.MaxPerAgent = -1 }, "MaxPerAgent"},
		{"unknown victim order", func(c *Config) { c.Victims = 7 }, "Victims"},
		{"weight too high", func(c *Config) { c.Weight = 300 }, "Weight"},
		{"negative drain timeout", func(c *Config) { c.DrainTimeout = -time.Second }, "DrainTimeout"},
		{"negative failover timeout", func(c *Config) { c.FailoverTimeout = -1 }, "FailoverTimeout"},
		{"backoff max below min", func(c *Config) { c.ReconnectMin, c.ReconnectMax = 5*time.Second, time.Second }, "ReconnectMax"},
		{"negative heartbeats", func(c *Config) { c.MissedHeartbeats = -2 }, "MissedHeartbeats"},
		{"pool sync off", func(c *Config) { c.PoolSyncInterval = -1 }, ""},
		{"negative relaunch backoff", func(c *Config) { c.RelaunchBackoff = -time.Second }, "RelaunchBackoff"},
		{"no command or image", func(c *Config) { c.Task.Command = nil }, "Task.Command"},
		{"empty executable", func(c *Config) { c.Task.Command = []string{"", "x"} }, "Task.Command[0]"},
		{"NUL in argument", func(c *Config) { c.Task.Command = []string{"/bin/x", "a\x00b"} }, "Task.Command[1]"},
		{"zero cpus", func(c *Config) { c.Task.CPUs = 0 }, "Task.CPUs"},
		{"NaN mem", func(c *Config) { c.Task.Mem = math.NaN() }, "Task.Mem"},
		{"infinite cpus", func(c *Config) { c.Task.CPUs = math.Inf(1) }, "Task.CPUs"},
		{"too many ports", func(c *Config) { c.Task.Ports = 101 }, "Task.Ports"},
		{"env sets PORT0", func(c *Config) { c.Task.Env = map[string]string{"PORT0": "1"} }, "Task.Env"},
		{"env sets HOST", func(c *Config) { c.Task.Env = map[string]string{"HOST": "x"} }, "Task.Env"},
		{"env bad name", func(c *Config) { c.Task.Env = map[string]string{"A-B": "x"} }, "Task.Env"},
		{"bad task name", func(c *Config) { c.Task.Name = "a/b" }, "Task.Name"},
		{"image with space", func(c *Config) { c.Task.Image = "httpd 2" }, "Task.Image"},
		{"negative grace", func(c *Config) { c.Task.KillGracePeriod = -1 }, "Task.KillGracePeriod"},
		{"health port out of range", func(c *Config) { c.Task.HealthCheck = &HealthCheck{PortIndex: 1} }, "Task.HealthCheck.PortIndex"},
		{"health path relative", func(c *Config) { c.Task.HealthCheck = &HealthCheck{Path: "health"} }, "Task.HealthCheck.Path"},
		{"health scheme", func(c *Config) { c.Task.HealthCheck = &HealthCheck{Scheme: "tcp"} }, "Task.HealthCheck.Scheme"},
		{"health negative interval", func(c *Config) { c.Task.HealthCheck = &HealthCheck{Interval: -1} }, "Task.HealthCheck.Interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(lbtest.NewMemory())
			tc.mod(&cfg)
			_, err := New(context.Background(), cfg)
			// Validate agrees with New, but for a nil Balancer.
			verr := cfg.Validate()
			if (verr == nil) != (err == nil || tc.field == "Balancer") {
				t.Errorf("Validate = %v while New = %v", verr, err)
			}
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("New = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "mesos: "+tc.field+" ") {
				t.Errorf("error %q does not name the field %s", err, tc.field)
			}
			checkPrefixOnce(t, "New", err)
		})
	}
}

// checkPrefixOnce checks the error convention: the message starts with
// "mesos: " and names the package only there.
func checkPrefixOnce(t *testing.T, call string, err error) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "mesos: ") || strings.Count(msg, "mesos: ") != 1 {
		t.Errorf("%s: error %q: want \"mesos: \" once, at the start", call, msg)
	}
}

// TestErrorMessages: a negative count says so (not "invalid
// configuration"), and a state file that cannot be written names the file
// and the package once.
func TestErrorMessages(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, baseConfig(lbtest.NewMemory()))
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetDesired(ctx, -3)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetDesired(-3) = %v, want an error wrapping ErrInvalid", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "SetDesired(-3)") || !strings.Contains(msg, "0 or more") || strings.Contains(msg, "configuration") {
		t.Errorf("SetDesired(-3) = %q, want it to name the call and say the count must be 0 or more", msg)
	}
	checkPrefixOnce(t, "SetDesired(-3)", err)

	cfg := baseConfig(lbtest.NewMemory())
	cfg.StateFile = filepath.Join(t.TempDir(), "no-such-dir", "state.json")
	_, err = New(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), cfg.StateFile) {
		t.Fatalf("New with StateFile in a missing directory = %v, want an error naming %s", err, cfg.StateFile)
	}
	checkPrefixOnce(t, "New with an unwritable StateFile", err)

	_, err = ParseMasters("a:5050,ftp://b:5050")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("ParseMasters = %v, want ErrInvalid", err)
	}
	checkPrefixOnce(t, "ParseMasters", err)
}

func TestParseMasters(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"bare host:port", "127.0.0.1:5050", []string{"http://127.0.0.1:5050/api/v1/scheduler"}, false},
		{"list", "http://a:5050, https://b:5050/api/v1/scheduler",
			[]string{"http://a:5050/api/v1/scheduler", "https://b:5050/api/v1/scheduler"}, false},
		{"ipv6", "[::1]:5050", []string{"http://[::1]:5050/api/v1/scheduler"}, false},
		{"empty entry", "a:5050,,b:5050", nil, true},
		{"bad port", "a:http0", nil, true},
		{"query", "http://a:5050/?x=1", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMasters(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseMasters(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("ParseMasters(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestVictimOrderText(t *testing.T) {
	for _, v := range []VictimOrder{FewestConnections, Youngest, Oldest} {
		got, err := ParseVictimOrder(v.String())
		if err != nil || got != v {
			t.Errorf("ParseVictimOrder(%q) = %v, %v", v.String(), got, err)
		}
	}
	if _, err := ParseVictimOrder("random"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseVictimOrder(random) = %v, want ErrInvalid", err)
	}
}

// FuzzParseMasters: any flag text gives URLs every Config accepts, or an
// error wrapping ErrInvalid; never a panic.
func FuzzParseMasters(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5050", "http://a:1,https://b:2/api/v1/scheduler", "", ",", "[::1]:5050",
		"http://%zz", "a:99999", "//x:1", "http://[fe80::1%25eth0]:5050"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ms, err := ParseMasters(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseMasters(%q) = %v, not wrapping ErrInvalid", s, err)
			}
			return
		}
		cfg := baseConfig(lbtest.NewMemory())
		cfg.Masters = ms
		if err := cfg.validate(); err != nil {
			t.Fatalf("ParseMasters(%q) = %q, which Config rejects: %v", s, ms, err)
		}
		if _, err := newLeader(ms, cfg.Logger); err != nil {
			t.Fatalf("newLeader(%q): %v", ms, err)
		}
	})
}

// FuzzConfigValidate: validation never panics and either accepts a config
// or names a field.
func FuzzConfigValidate(f *testing.F) {
	f.Add("http://m:5050", "web", "*", "", "/bin/web", "", "PORTX", 0.5, 64.0, 1, 0, int64(0), 0)
	f.Add("m:5050", "", "", "p", "", "img", "HOST", 0.0, -1.0, 101, -1, int64(-1), 9)
	f.Fuzz(func(t *testing.T, master, name, role, secret, cmd, image, envKey string,
		cpus, mem float64, ports, maxPerHost int, drain int64, victims int) {
		cfg := Config{
			Masters: []string{master}, Name: name, Role: role, Secret: secret,
			Balancer: lbtest.NewMemory(), MaxPerHost: maxPerHost, DrainTimeout: time.Duration(drain),
			Victims: VictimOrder(victims),
			Task: TaskTemplate{Image: image, CPUs: cpus, Mem: mem, Ports: ports,
				Env: map[string]string{envKey: "v"}},
		}
		if cmd != "" {
			cfg.Task.Command = []string{cmd}
		}
		err := cfg.validate()
		if err == nil {
			d := cfg.withDefaults()
			if d.Task.Ports < 1 || d.Task.CPUs <= 0 || d.Task.Mem <= 0 || d.DrainTimeout <= 0 {
				t.Fatalf("accepted config has unusable defaults: %+v", d.Task)
			}
			return
		}
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "mesos: ") {
			t.Fatalf("validate = %v: want a field-naming error wrapping ErrInvalid", err)
		}
	})
}

// TestValidateStateFile: Validate reads the state file (a corrupt one is
// an error naming it) and writes nothing (a missing one stays missing).
func TestValidateStateFile(t *testing.T) {
	dir := t.TempDir()
	cfg := baseConfig(nil)
	cfg.StateFile = filepath.Join(dir, "missing.json")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with a missing state file = %v, want nil (a new framework)", err)
	}
	if _, err := os.Stat(cfg.StateFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Validate created the state file: %v", err)
	}
	cfg.StateFile = filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(cfg.StateFile, []byte(`{"desired":-4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), cfg.StateFile) {
		t.Errorf("Validate with a corrupt state file = %v, want an error naming it", err)
	}
}
