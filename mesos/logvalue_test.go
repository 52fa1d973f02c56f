package mesos

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

const testSecret = "hunter2-s3cret-value"

// TestSecretNeverPrinted: a Config, a TaskTemplate and a Scheduler log
// (text and JSON, at any depth) and print (%v, %+v, %#v, %s) without the
// secret or Env values, and still say which principal and env names.
func TestSecretNeverPrinted(t *testing.T) {
	cfg := baseConfig(lbtest.NewMemory())
	cfg.Principal, cfg.Secret = "webfarm", testSecret
	cfg.TLS = &tls.Config{ServerName: "m"}
	cfg.Task.Env = map[string]string{"DB_PASSWORD": testSecret}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct{ Cfg Config } // a user's struct holding a Config
	values := []struct {
		name string
		v    any
		want []string // must appear: the value is still useful
	}{
		{"Config", cfg, []string{"principal=webfarm", "secret=REDACTED", "DB_PASSWORD=REDACTED"}},
		{"*Config", &cfg, []string{"secret=REDACTED"}},
		{"TaskTemplate", cfg.Task, []string{"DB_PASSWORD=REDACTED"}},
		{"*Scheduler", s, []string{"secret=REDACTED", "principal=webfarm"}},
		{"struct holding a Config", holder{cfg}, []string{"secret=REDACTED"}},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			var outs []string
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			} {
				var b bytes.Buffer
				slog.New(h(&b)).Info("x", "v", tc.v)
				outs = append(outs, b.String())
			}
			for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
				outs = append(outs, fmt.Sprintf(verb, tc.v))
			}
			for i, out := range outs {
				if leaks := testenv.SecretLeaks(out, "webfarm", testSecret); len(leaks) > 0 {
					t.Errorf("output %d shows the secret (%v): %s", i, leaks, out)
				}
			}
			if !strings.Contains(outs[0], "REDACTED") {
				t.Errorf("text log %q: no REDACTED marker", outs[0])
			}
			for _, w := range tc.want {
				if !strings.Contains(outs[0], w) && !strings.Contains(outs[2], w) {
					t.Errorf("neither the text log %q nor %%v %q has %q", outs[0], outs[2], w)
				}
			}
		})
	}
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "v", Config{})
	if !strings.Contains(b.String(), "secret=\"\"") {
		t.Errorf("an unset secret logs as %q, want empty (so an operator sees none is set)", b.String())
	}
}

// TestLocalSecretNotLogged runs a scheduler with HTTP basic auth against
// mesos/local, logging at debug level into a buffer, through a scale-up
// and a failed (wrong-secret) subscription, and checks the secret never
// appears in the log.
func TestLocalSecretNotLogged(t *testing.T) {
	c := startCluster(t, func(cfg *local.Config) {
		cfg.Auth = &local.Credentials{Principal: "webfarm", Secret: testSecret}
	})
	var buf syncBuffer
	debug := func() *slog.Logger {
		return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.Principal, cfg.Secret = "webfarm", testSecret
	cfg.Task.Env[`API_TOKEN`] = testSecret
	cfg.Logger = debug()
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "1 task with auth", func() (bool, string) { return f.settled(c, 1) })
	f.stop()

	// A wrong secret that shares a prefix with the right one: the 401
	// path logs errors, which must not carry either.
	wrong := testSecret + "-wrong"
	cfg2 := localConfig(t, c, lbtest.NewMemory())
	cfg2.Principal, cfg2.Secret = "webfarm", wrong
	cfg2.Logger = debug()
	f2 := startFarm(t, cfg2)
	eventually(t, 10*time.Second, "a logged failed subscription", func() (bool, string) {
		return strings.Contains(buf.String(), "subscription ended"), ""
	})
	f2.stop()

	logs := buf.String()
	for _, want := range []string{"scheduler configured", "secret=REDACTED", "level=DEBUG", "backend added"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q: the test did not see what it checks", want)
		}
	}
	for _, secret := range []string{testSecret, wrong} {
		if leaks := testenv.SecretLeaks(logs, "webfarm", secret); len(leaks) > 0 {
			for _, l := range strings.Split(logs, "\n") {
				if leaks := testenv.SecretLeaks(l, "webfarm", secret); len(leaks) > 0 {
					t.Errorf("secret in log line (%v): %s", leaks, l)
				}
			}
		}
	}
}
