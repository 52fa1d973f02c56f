package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/lb/lvs"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/scaler"
)

// errCreated is what the recording constructor returns, so that a run
// that got past validation stops right there.
var errCreated = errors.New("test: driver constructor reached")

// TestRunValidatesBeforeCreating: invalid flags, policy or scheduler
// configuration never reach the driver constructor (which may create an
// IPVS virtual service); valid ones reach it exactly once.
func TestRunValidatesBeforeCreating(t *testing.T) {
	corrupt := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(corrupt, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := []string{"-vip", "10.0.0.1:80", "-pool", "127.0.0.1:8001,127.0.0.1:8002"}
	mesosArgs := []string{"-vip", "10.0.0.1:80", "-master", "http://127.0.0.1:5050", "-task-cmd", "/bin/web"}
	with := func(base []string, more ...string) []string { return append(append([]string(nil), base...), more...) }
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" : valid, the constructor is reached
		wantIs  error
	}{
		{"valid pool", pool, "", errCreated},
		{"valid mesos", mesosArgs, "", errCreated},
		{"min above max", with(pool, "-min", "2", "-max", "1"), "policy", scaler.ErrInvalid},
		{"negative min", with(pool, "-min", "-1"), "policy", scaler.ErrInvalid},
		{"zero target", with(pool, "-target-rps", "0"), "policy", scaler.ErrInvalid},
		{"NaN target", with(pool, "-target-rps", "NaN"), "policy", scaler.ErrInvalid},
		{"infinite target", with(pool, "-target-rps", "+Inf"), "policy", scaler.ErrInvalid},
		{"mesos min above max", with(mesosArgs, "-min", "11", "-max", "10"), "policy", scaler.ErrInvalid},
		{"mesos negative cpus", with(mesosArgs, "-task-cpus", "-1"), "Task.CPUs", mesos.ErrInvalid},
		{"mesos NaN mem", with(mesosArgs, "-task-mem", "NaN"), "Task.Mem", mesos.ErrInvalid},
		{"mesos weight too big", with(mesosArgs, "-weight", "300"), "Weight", mesos.ErrInvalid},
		{"mesos bad master scheme", with(pool[:2], "-master", "ftp://m:5050", "-task-cmd", "x"), "-master", mesos.ErrInvalid},
		{"mesos corrupt state file", with(mesosArgs, "-state-file", corrupt), "state file", nil},
		{"bad flag", with(pool, "-interval", "soon"), "-interval", nil},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls int
			var got lvs.Config
			newBalancer := func(_ context.Context, cfg lvs.Config) (farmBalancer, error) {
				calls++
				got = cfg
				return nil, errCreated
			}
			stderr := os.Stderr
			os.Stderr, _ = os.Open(os.DevNull) // the FlagSet prints usage there
			err := runWith(context.Background(), func() {}, tc.args, log, newBalancer)
			os.Stderr.Close()
			os.Stderr = stderr
			if tc.wantErr == "" {
				if calls != 1 || !errors.Is(err, errCreated) {
					t.Fatalf("runWith(%q) = %v after %d constructor calls, want 1 call and its error", tc.args, err, calls)
				}
				if got.Service.String() != "tcp/10.0.0.1:80" {
					t.Errorf("driver config service %s, want tcp/10.0.0.1:80", got.Service)
				}
				return
			}
			if calls != 0 {
				t.Fatalf("runWith(%q): driver constructor called %d times before the error %v", tc.args, calls, err)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("runWith(%q) = %v, want an error naming %q", tc.args, err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("runWith(%q) = %v, want errors.Is %v", tc.args, err, tc.wantIs)
			}
		})
	}
}
