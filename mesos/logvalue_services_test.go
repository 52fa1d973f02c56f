package mesos

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/lb/lbtest"
)

// A Config's services log with their Env values redacted, as its own
// Task's.
func TestConfigLogValueServices(t *testing.T) {
	cfg := baseConfig(lbtest.NewMemory())
	api := apiService(lbtest.NewMemory())
	api.Task.Env = map[string]string{"DB_PASSWORD": "hunter2"}
	cfg.Services = []ServiceConfig{api}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "config", cfg)
	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Fatalf("log shows a service's Env value: %s", out)
	}
	if !strings.Contains(out, "service.api") || !strings.Contains(out, "DB_PASSWORD="+redacted) {
		t.Fatalf("log lacks the api service or its redacted Env: %s", out)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{cfg, api, []ServiceConfig{api}} {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, "hunter2") {
				t.Errorf("fmt %s of %T shows a service's Env value: %s", verb, v, s)
			}
		}
	}
}
