package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoThreeServices runs the demo with -services 3 for a bounded time:
// three services (web, api, static) in one scheduler behind one real
// HAProxy, each under its own load shape (classic, spike, wave) with its
// own controller. It asserts that each service scaled up and back down on
// its own decisions with zero failed requests, that /api/status lists the
// three and /metrics carries a service label for each, and that nothing is
// left running.
func TestDemoThreeServices(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for about a minute; skipped with -short")
	}
	needHAProxy(t)
	d := startDemo(t, []string{"-services", "3", "-duration", "45s", "-peak", "150", "-target", "30", "-max", "6",
		"-exit-after-load"}, 150*time.Second)
	cfg, statusURL := d.cfg, d.statusURL
	t.Logf("backend %s, 3 services, profiles %s peaking at %.0f req/s, target %.0f req/s per task", cfg.backend, cfg.length, cfg.peak, cfg.target)
	names := []string{"web", "api", "static"}

	get := func(path string) ([]byte, int) {
		resp, err := http.Get(statusURL + path)
		if err != nil {
			return nil, 0
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return body, resp.StatusCode
	}
	// /api/status lists the three services, in order, each with live
	// figures and its own pool.
	waitFor(t, d.done, func() string {
		body, code := get("api/status")
		var doc servicesStatus
		if code != 200 || json.Unmarshal(body, &doc) != nil || len(doc.Services) != len(names) {
			return ""
		}
		for i, s := range doc.Services {
			if s.Service != names[i] || s.Status.Last == nil || s.Status.Last.RPS == nil || *s.Status.Last.RPS <= 0 ||
				len(s.Status.Pool) < cfg.min {
				return ""
			}
		}
		return "ok"
	})
	body, code := get("")
	for _, name := range names {
		if code != 200 || !bytes.Contains(body, []byte(fmt.Sprintf(`<section id="service-%s">`, name))) {
			t.Errorf("status page (%d) lacks a section for %s:\n%s", code, name, body)
		}
		if b, c := get("s/" + name + "/api/status"); c != 200 || !bytes.Contains(b, []byte(`"pool"`)) {
			t.Errorf("s/%s/api/status: %d %s", name, c, b)
		}
	}
	metrics, code := get("metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, name := range names {
		for _, want := range []string{
			fmt.Sprintf(`webfarm_tasks_running{service=%q}`, name),
			fmt.Sprintf(`webfarm_requests_per_second{service=%q}`, name),
			fmt.Sprintf(`webfarm_client_requests_total{result="ok",service=%q}`, name),
		} {
			if !bytes.Contains(metrics, []byte(want)) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}

	s := d.wait(t)
	t.Logf("%s", s)
	if len(s.services) != len(names) {
		t.Fatalf("summary lists %d services, want %d", len(s.services), len(names))
	}
	for i, sv := range s.services {
		if sv.name != names[i] {
			t.Errorf("service %d is %s, want %s", i, sv.name, names[i])
		}
		if !sv.loadRan || sv.load.Failed != 0 || sv.load.OK < 500 {
			t.Errorf("service %s: load %s; want ≥ 500 requests, 0 failed", sv.name, sv.load)
		}
		if sv.ups == 0 || sv.peakTasks <= cfg.min {
			t.Errorf("service %s: scaled up %d times, peak %d running; want its load to take it above -min %d", sv.name, sv.ups, sv.peakTasks, cfg.min)
		}
		if sv.downs == 0 || sv.endTasks > cfg.min+1 {
			t.Errorf("service %s: scaled down %d times, %d tasks at the end; want it back near -min %d", sv.name, sv.downs, sv.endTasks, cfg.min)
		}
		if sv.counts.StatsErrors != 0 || sv.counts.Drains == 0 || sv.counts.Removes != sv.counts.Adds {
			t.Errorf("service %s: pool changes %+v: want no stats errors, drains, and every added backend removed", sv.name, sv.counts)
		}
	}
	// Each service's controller logged its own decisions.
	for _, name := range names {
		if !strings.Contains(d.logs.String(), `msg="scaler: decision" service=`+name) &&
			!regexp.MustCompile(`msg="scaler: decision".*service=`+name+`\b`).MatchString(d.logs.String()) {
			t.Errorf("logs lack scaler decisions of service %s", name)
		}
	}
	checkNothingLeft(t)
}
