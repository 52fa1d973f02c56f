package haproxy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/testenv"
)

// TestNewLogsNoAlert: New probes HAProxy without making it log an ALERT
// (an `add server` with a name HAProxy refuses would log "[ALERT] …
// character '%' is not permitted in server name"), on a backend of each
// dynamic algorithm; and it still refuses a static one with a ConfigError.
// (Only a hash-based backend still needs that `add server`: see probe.)
func TestNewLogsNoAlert(t *testing.T) {
	needHAProxy(t)
	for _, balance := range []string{"roundrobin", "leastconn", "random", "first", "static-rr"} {
		t.Run(balance, func(t *testing.T) {
			var out testenv.Buffer
			p := startProc(t, haproxyproc.Config{Balance: balance,
				Logger: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := New(ctx, Config{Socket: p.Socket(), Backend: p.Backend(), Logger: quiet()})
			if balance == "static-rr" {
				var ce *ConfigError
				if !errors.As(err, &ce) || ce.Problem != ProblemStaticBalance {
					t.Fatalf("New on balance static-rr = %v, want a ConfigError %s", err, ProblemStaticBalance)
				}
			} else if err != nil {
				t.Fatal(err)
			} else {
				defer b.Close()
			}
			// A missing backend is refused without an ALERT too.
			var ce *ConfigError
			if _, err := New(ctx, Config{Socket: p.Socket(), Backend: "nope", Logger: quiet()}); !errors.As(err, &ce) || ce.Problem != ProblemNoBackend {
				t.Fatalf("New on a missing backend = %v, want a ConfigError %s", err, ProblemNoBackend)
			}
			// HAProxy's output reaches the buffer through a pipe.
			time.Sleep(200 * time.Millisecond)
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.Contains(line, "ALERT") {
					t.Errorf("HAProxy logged an alert during New: %s", line)
				}
			}
		})
	}
}
