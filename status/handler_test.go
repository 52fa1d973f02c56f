package status

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	c := newClock()
	b := newBoard(t, c)
	b.Record(report(c, 2, 4, 2, 321, true, "rps 321 over 2 tasks → 4"))
	b.SetInfo("balancer", "haproxy")
	h := b.Handler()

	tests := []struct {
		name, method, path string
		status             int
		ctype              string
		body               []string
	}{
		{"page", "GET", "/", 200, "text/html; charset=utf-8", []string{`<svg id="chart"`, `fetch("api/status"`}},
		{"json", "GET", "/api/status", 200, "application/json", []string{`"desired":4`, `"reason":"rps 321 over 2 tasks → 4"`}},
		{"metrics", "GET", "/metrics", 200, "text/plain", []string{
			"webfarm_requests_per_second 321", "webfarm_tasks_desired 4", "webfarm_tasks_running 2",
			`webfarm_scaling_decisions_total{direction="up"} 1`, "webfarm_balancer_stats_errors_total 0",
			"webfarm_drain_duration_seconds_count 0", `webfarm_membership_changes_total{op="add"} 0`}},
		{"unknown path", "GET", "/nope", 404, "", nil},
		{"post to the page", "POST", "/", 405, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, h, tc.method, tc.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
				t.Errorf("%s %s: Content-Type %q, want prefix %q", tc.method, tc.path, ct, tc.ctype)
			}
			for _, want := range tc.body {
				if !strings.Contains(string(body), want) {
					t.Errorf("%s %s: body lacks %q", tc.method, tc.path, want)
				}
			}
		})
	}
}

func TestPageIsSelfContained(t *testing.T) {
	resp := get(t, newBoard(t, newClock()).Handler(), "GET", "/")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none' and connect-src 'self'", csp)
	}
	body, _ := io.ReadAll(resp.Body)
	// No external resource: no src= or href= attributes, and the only URL is the SVG namespace.
	if m := regexp.MustCompile(`(?i)\b(src|href)\s*=`).Find(body); m != nil {
		t.Errorf("page loads a resource (%s); it must be self-contained", m)
	}
	for _, u := range regexp.MustCompile(`https?://[^"'\s)]+`).FindAll(body, -1) {
		if string(u) != "http://www.w3.org/2000/svg" {
			t.Errorf("page mentions URL %s; it must be self-contained", u)
		}
	}
	if len(body) > 16<<10 {
		t.Errorf("page is %d bytes; keep it small (≤ 16 KiB)", len(body))
	}
}

func TestSnapshotJSONShape(t *testing.T) {
	c := newClock()
	b := newBoard(t, c)
	resp := get(t, b.Handler(), "GET", "/api/status")
	var s map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	// An empty board still has arrays, never null, so the page can map over them.
	for _, k := range []string{"info", "points", "decisions", "pool"} {
		if _, ok := s[k].([]any); !ok {
			t.Errorf("empty board: %q = %v (%T), want a JSON array", k, s[k], s[k])
		}
	}
}
