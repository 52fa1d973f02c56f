package haproxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
)

// lockedBuffer is a bytes.Buffer safe for the log handler's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNewLogsNoAlert: New probes HAProxy without making it log an ALERT
// (an `add server` with a name HAProxy refuses would log "[ALERT] …
// character '%' is not permitted in server name"), on a backend of each
// dynamic algorithm; and it still refuses a static one with a ConfigError.
// (Only a hash-based backend still needs that `add server`: see probe.)
func TestNewLogsNoAlert(t *testing.T) {
	needHAProxy(t)
	for _, balance := range []string{"roundrobin", "leastconn", "random", "first", "static-rr"} {
		t.Run(balance, func(t *testing.T) {
			var out lockedBuffer
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
