package haproxy

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// TestConfigFileSurvivesRestart adds servers with Config.ConfigFile set,
// restarts HAProxy (a new -sf process, and a master-worker reload), and
// checks straight away, before any Stats call, that the new process has
// the pool from the file and serves through every server; then that the
// next reading notices the restart without adding anything twice.
func TestConfigFileSurvivesRestart(t *testing.T) {
	needHAProxy(t)
	for _, mw := range []bool{false, true} {
		name := "restart -sf"
		if mw {
			name = "master-worker reload"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			const n = 4
			farm := newWebFarm(t, n+1)
			p := startProc(t, haproxyproc.Config{MasterWorker: mw})
			b := connect(t, p, Config{ConfigFile: p.ConfigPath(), Restore: true})
			pool := []lb.Backend{
				{ID: "web.1", Addr: farm.addr(0)},
				{ID: "mesos task/2 é", Addr: farm.addr(1)},
				{ID: strings.Repeat("long-task-id.", 8), Addr: farm.addr(2)},
				{ID: "web.4", Addr: farm.addr(3)},
			}
			for _, bk := range pool {
				if err := b.Add(ctx, bk); err != nil {
					t.Fatal(err)
				}
			}
			// One more, drained: it must come back taking no traffic.
			drained := lb.Backend{ID: "web.drained", Addr: farm.addr(n)}
			if err := b.Add(ctx, drained); err != nil {
				t.Fatal(err)
			}
			if err := b.Drain(ctx, drained.ID); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(haproxyBinary(t), "-c", "-f", p.ConfigPath()).CombinedOutput(); err != nil {
				data, _ := os.ReadFile(p.ConfigPath())
				t.Fatalf("haproxy -c on the rewritten file: %v\n%s\n%s", err, out, data)
			}
			before, err := b.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range farm.hits {
				farm.hits[i].Store(0)
			}

			if mw {
				err = p.Reload(ctx)
			} else {
				err = p.Restart(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			// Immediately: no Stats call yet, so nothing was restored.
			got, err := b.Backends(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(pool[:n:n], drained); !sameBackends(got, want) {
				t.Fatalf("Backends straight after the restart = %v, want %v", got, want)
			}
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			for i := range 4 * n {
				resp, err := c.Get(p.URL())
				if err != nil {
					t.Fatalf("request %d after the restart: %v", i, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d after the restart: status %d, want 200", i, resp.StatusCode)
				}
			}
			var hits []int64
			for i := range farm.hits {
				hits = append(hits, farm.hits[i].Load())
			}
			for i := range n {
				if hits[i] == 0 {
					t.Errorf("server %d served nothing after the restart (hits %v): not in the new process's pool", i, hits)
				}
			}
			if hits[n] != 0 {
				t.Errorf("the drained server served %d requests after the restart, want 0", hits[n])
			}

			r, err := b.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Restarted || r.PID == before.PID {
				t.Errorf("reading after the restart: Restarted %v, pid %d (was %d)", r.Restarted, r.PID, before.PID)
			}
			if r.Restored != 0 {
				t.Errorf("Restored = %d, want 0: every server came from the file", r.Restored)
			}
			got, _ = b.Backends(ctx)
			if want := append(pool[:n:n], drained); !sameBackends(got, want) {
				t.Errorf("Backends after the reading = %v, want %v (no duplicates)", got, want)
			}
			// The drained server can still be removed, and the file follows.
			if err := b.Remove(ctx, drained.ID); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p.ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), serverName(drained.ID)) {
				t.Errorf("removed server still in the file:\n%s", data)
			}
		})
	}
}

// TestConfigFileDriverRestart: a new Balancer on a restarted HAProxy maps
// the servers read from the file back to their IDs, hashed names too.
func TestConfigFileDriverRestart(t *testing.T) {
	needHAProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	farm := newWebFarm(t, 2)
	p := startProc(t, haproxyproc.Config{})
	b := connect(t, p, Config{ConfigFile: p.ConfigPath()})
	pool := []lb.Backend{{ID: strings.Repeat("long-task-id.", 8), Addr: farm.addr(0)}, {ID: "a b", Addr: farm.addr(1)}}
	for _, bk := range pool {
		if err := b.Add(ctx, bk); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.Close()
	if err := p.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := connect(t, p, Config{ConfigFile: p.ConfigPath()})
	got, err := b2.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameBackends(got, pool) {
		t.Errorf("Backends of a new driver after HAProxy's restart = %v, want %v (IDs from the file)", got, pool)
	}
}

// TestNewConfigFileErrors: New refuses a ConfigFile it cannot use, with a
// ProblemConfigFile, before changing anything.
func TestNewConfigFileErrors(t *testing.T) {
	needHAProxy(t)
	p := startProc(t, haproxyproc.Config{})
	dir := t.TempDir()
	other := dir + "/other.cfg"
	if err := os.WriteFile(other, []byte("backend elsewhere\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file, want string }{
		{"missing file", dir + "/missing.cfg", "cannot be read"},
		{"file without the backend", other, "no `backend webfarm`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := New(ctx, Config{Socket: p.Socket(), Backend: p.Backend(), ConfigFile: tc.file, Logger: quiet()})
			var ce *ConfigError
			if !asConfigError(err, &ce) || ce.Problem != ProblemConfigFile || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want ProblemConfigFile mentioning %q", err, tc.want)
			}
		})
	}
}

func asConfigError(err error, ce **ConfigError) bool {
	e, ok := err.(*ConfigError)
	if ok {
		*ce = e
	}
	return ok && e != nil
}
