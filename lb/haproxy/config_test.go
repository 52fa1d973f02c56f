package haproxy

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

func TestConfigDefaultsAndRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"zero config is valid", Config{}, ""},
		{"health check with check", Config{HealthCheck: true, ServerOptions: "check inter 1s"}, ""},
		{"no options", Config{ServerOptions: "none"}, ""},
		{"enabled refused", Config{ServerOptions: "pool-max-conn -1 enabled"}, "haproxy/haproxy#2497"},
		{"disabled refused", Config{ServerOptions: "disabled"}, `drop "disabled"`},
		{"command injection", Config{ServerOptions: "check; del server webfarm/x"}, "';'"},
		{"health check without check", Config{HealthCheck: true}, `lacks "check"`},
		{"bad backend name", Config{Backend: "web farm"}, `Backend "web farm"`},
		{"bad frontend name", Config{Frontend: "a/b"}, `Frontend "a/b"`},
		{"negative timeout", Config{Timeout: -time.Second}, "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("withDefaults() = %v, want nil", err)
				}
				if got.Socket == "" || got.Backend == "" || got.Timeout <= 0 || got.RemoveTimeout <= 0 || got.Logger == nil {
					t.Errorf("withDefaults() left a zero default: %+v", got)
				}
				return
			}
			if !errors.Is(err, lb.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("withDefaults() = %v, want lb.ErrInvalid mentioning %q", err, tc.want)
			}
			// New must refuse it the same way, before touching any socket.
			if _, err := New(context.Background(), tc.cfg); !errors.Is(err, lb.ErrInvalid) {
				t.Errorf("New() = %v, want lb.ErrInvalid", err)
			}
		})
	}
}

// TestNewValidation points New at real haproxy processes set up wrong,
// one way each, and checks that the error says which check failed and how
// to fix it.
func TestNewValidation(t *testing.T) {
	needHAProxy(t)
	dir := t.TempDir()
	userSock := filepath.Join(dir, "user.sock")
	worldSock := filepath.Join(dir, "world.sock")
	good := startProc(t, haproxyproc.Config{GlobalLines: []string{
		"stats socket " + userSock + " mode 600 level user",
		"stats socket " + worldSock + " mode 666 level admin",
	}})
	static := startProc(t, haproxyproc.Config{Balance: "static-rr"})
	mapHash := startProc(t, haproxyproc.Config{Balance: "uri"})
	consistent := startProc(t, haproxyproc.Config{Balance: "uri", BackendLines: []string{"hash-type consistent"}})

	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // the file stays; nothing listens

	tests := []struct {
		name    string
		proc    *haproxyproc.Proc
		cfg     Config
		problem Problem // 0: New must succeed
		want    []string
	}{
		{"socket missing", good, Config{Socket: filepath.Join(dir, "nope.sock")}, ProblemUnreachable, []string{"nope.sock", "stats socket"}},
		{"nothing listens", good, Config{Socket: stale}, ProblemUnreachable, []string{"no answer on", "stale.sock"}},
		{"not a socket", good, Config{Socket: dir}, ProblemUnreachable, []string{"not a unix socket"}},
		{"tcp socket refused", good, Config{Socket: "tcp://127.0.0.1:1"}, ProblemUnreachable, []string{"no answer on"}},
		{"level user", good, Config{Socket: userSock}, ProblemNotAdmin, []string{"Permission denied", "level admin"}},
		{"world-writable socket", good, Config{Socket: worldSock}, ProblemSocketPermissions, []string{"-rw-rw-rw-", "mode 600"}},
		{"world-writable socket allowed", good, Config{Socket: worldSock, AllowWorldWritableSocket: true}, 0, nil},
		{"backend missing", good, Config{Backend: "nope"}, ProblemNoBackend, []string{`no backend "nope"`, "balance roundrobin"}},
		{"frontend missing", good, Config{Frontend: "nope"}, ProblemNoFrontend, []string{`no frontend "nope"`}},
		{"frontend is a backend", good, Config{Frontend: "webfarm"}, ProblemNoFrontend, []string{`no frontend "webfarm"`}},
		{"static-rr", static, Config{}, ProblemStaticBalance, []string{"balance static-rr", "hash-type consistent"}},
		{"map-based hash", mapHash, Config{}, ProblemStaticBalance, []string{"balance uri", "hash-type consistent"}},
		{"consistent hash is dynamic", consistent, Config{}, 0, nil},
		{"frontend counters", good, Config{Frontend: "http-in"}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Socket == "" {
				cfg.Socket = tc.proc.Socket()
			}
			cfg.Logger = quiet()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := New(ctx, cfg)
			if tc.problem == 0 {
				if err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				b.Close()
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Problem != tc.problem {
				t.Fatalf("New() = %v, want a *ConfigError with Problem %q", err, tc.problem)
			}
			if !errors.Is(err, lb.ErrInvalid) {
				t.Errorf("New() = %v, want errors.Is(err, lb.ErrInvalid)", err)
			}
			if ce.Fix == "" {
				t.Errorf("ConfigError %v has no Fix", ce)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestNewCancelled(t *testing.T) {
	needHAProxy(t)
	p := startProc(t, haproxyproc.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(ctx, Config{Socket: p.Socket(), Logger: quiet()}); !errors.Is(err, context.Canceled) {
		t.Errorf("New(cancelled ctx) = %v, want context.Canceled", err)
	}
}
