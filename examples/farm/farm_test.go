package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/lb/haproxy"
	"github.com/webfarm/webfarm/status"
)

// TestMain lets the test binary be the web-server task, as the command is:
// the scheduler launches os.Executable() with "serve".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestFarmRuns runs the example as a user would, against a real HAProxy
// started with the README's configuration (internal/haproxyproc renders
// it): the embedded Mesos cluster, two web-server tasks that answer through
// HAProxy, the status page and /metrics; then a stop that scales the farm
// to zero and leaves HAProxy's backend empty.
func TestFarmRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts haproxy, mesos/local and tasks; skipped with -short")
	}
	testenv.LookPath(t, "scripts/deps.sh test installs it (apt-get install haproxy)", "haproxy", "/usr/sbin/haproxy")
	for _, extra := range [][]string{nil, {"-batch"}, {"-deploy-after", "3s"}} {
		t.Run(strings.Join(append([]string{"flags"}, extra...), " "), func(t *testing.T) {
			p := haproxyproc.StartTest(t, haproxyproc.Config{Logger: slog.New(slog.DiscardHandler)})
			cfg, err := parseFlags(append([]string{"-socket", p.Socket(), "-backend", p.Backend(), "-frontend", p.Frontend(),
				"-status", "127.0.0.1:0", "-min", "2", "-max", "4", "-interval", "500ms"}, extra...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			log := slog.New(slog.DiscardHandler)
			if testing.Verbose() {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			var out testenv.Buffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, cfg, &out, log) }()
			if cfg.deployAfter > 0 { // steady load through HAProxy, so both versions serve during the deployment
				load := loadgen.Start(ctx, loadgen.Config{URL: p.URL(), Rate: 100, Concurrency: 2,
					Duration: 2 * time.Minute, MaxRequests: 12000})
				defer func() { stop(); _, _ = load.Wait() }()
			}

			// Two tasks answer through HAProxy.
			client := &http.Client{Timeout: 5 * time.Second}
			get := func(url string) (int, string) {
				resp, err := client.Get(url)
				if err != nil {
					return 0, err.Error()
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			seen := map[string]bool{}
			for deadline := time.Now().Add(90 * time.Second); len(seen) < 2; {
				select {
				case err := <-done:
					t.Fatalf("run ended early: %v\noutput: %s", err, out.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 90s the farm answered from %d tasks, want 2; output: %s", len(seen), out.String())
				}
				if code, body := get(p.URL()); code == http.StatusOK && strings.HasPrefix(body, "hello from web.") {
					seen[strings.TrimSpace(body)] = true
					continue
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("answers from %d tasks: %v", len(seen), seen)

			// The status page and its metrics.
			m := regexp.MustCompile(`status page at (http://[0-9.:]+/)`).FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no status page address in the output: %s", out.String())
			}
			if code, body := get(m[1]); code != http.StatusOK || !strings.Contains(body, "<html") {
				t.Errorf("GET %s = %d, want the status page", m[1], code)
			}
			if len(extra) > 0 && extra[0] == "-deploy-after" { // the farm rolls to version 2; the page shows it
				// While it runs, /api/status shows its progress and both
				// versions' request rates (the page's deployment section
				// renders these, see status's TestPageInChromium).
				var during *status.DeployView
				for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					_, body := get(m[1] + "api/status")
					var snap status.Snapshot
					if err := json.Unmarshal([]byte(body), &snap); err != nil {
						t.Fatalf("GET api/status: %v: %.300s", err, body)
					}
					if d := snap.Deploy; during == nil && d != nil && d.State == "running" && d.Desired == 2 &&
						d.Versions[0].RPS != nil && *d.Versions[0].RPS > 0 && d.Versions[1].RPS != nil && *d.Versions[1].RPS > 0 {
						during = d
						t.Logf("during the deployment: %d new (%d ready) of %d; %s %.0f req/s (%d requests, %d 5xx), %s %.0f req/s (%d requests, %d 5xx)",
							d.New, d.Ready, d.Desired, d.From, *d.Versions[0].RPS, d.Versions[0].Requests, d.Versions[0].Errors,
							d.To, *d.Versions[1].RPS, d.Versions[1].Requests, d.Versions[1].Errors)
					}
					if strings.Contains(body, "deployment done") && strings.Contains(body, "0 old of 2") {
						t.Logf("status page: %s", regexp.MustCompile(`deployment done[^"]*`).FindString(body))
						if during == nil {
							t.Errorf("/api/status never showed the running deployment with both versions' request rates above 0")
						}
						if snap.Deploy == nil || snap.Deploy.State != "done" || snap.Deploy.Ready != 2 {
							t.Errorf("/api/status deploy after the end = %+v, want done, 2 ready", snap.Deploy)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no finished deployment on the status page after 60s: %.1000s", body)
					}
				}
			}
			if len(extra) > 0 && extra[0] == "-batch" { // the batch framework's share is on the page
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					_, body := get(m[1] + "api/status")
					if strings.Contains(body, "batch (batch)") && strings.Contains(body, "farm (web)") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("no share of farm (web) and batch (batch) on the status page after 30s: %.1000s", body)
					}
				}
			}
			if len(extra) > 0 && extra[0] == "-deploy-after" {
				_, body := get(m[1] + "metrics")
				for _, want := range []string{`webfarm_deploy_requests_total{version="`, `webfarm_deploy_errors_total{version="`,
					`webfarm_deploy_requests_per_second{version="`} {
					if strings.Count(body, want) != 2 {
						t.Errorf("GET %smetrics has %d series %s…}, want one per version:\n%.2000s", m[1], strings.Count(body, want), want, body)
					}
				}
			}
			if code, body := get(m[1] + "metrics"); code != http.StatusOK || !strings.Contains(body, `webfarm_membership_changes_total{op="add"}`) {
				t.Errorf("GET %smetrics = %d, want Prometheus metrics with webfarm_membership_changes_total:\n%.500s", m[1], code, body)
			}

			// Stop: the farm scales to zero and run returns.
			stop()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run after stop = %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Fatal("run did not return within 60s of the stop")
			}
			bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			b, err := haproxy.New(bctx, haproxy.Config{Socket: p.Socket(), Backend: p.Backend(), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if bs, err := b.Backends(bctx); err != nil || len(bs) != 0 {
				t.Errorf("HAProxy's backend after the stop = %v, %v; want empty", bs, err)
			}
		})
	}
}
