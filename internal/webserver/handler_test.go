package webserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	text := HandlerOptions{TaskID: "web-<1>"}
	page := HandlerOptions{TaskID: "web-<1>", HTML: true}
	slow := HandlerOptions{TaskID: "web-2", SlowMax: 10 * time.Second}
	tests := []struct {
		name     string
		opt      HandlerOptions
		method   string
		target   string
		code     int
		body     string            // the exact body, if not empty
		header   map[string]string // headers that must have these values
		noHeader string            // a header that must be absent
	}{
		{"text index", text, "GET", "/", 200, "served by web-<1>\n", nil, "X-Served-By"},
		{"text index empty task", HandlerOptions{}, "GET", "/", 200, "served by \n", nil, ""},
		{"html index escapes the task", page, "GET", "/", 200,
			"<!doctype html><title>webfarm</title><h1>Hello from the web farm</h1><p>served by task web-&lt;1&gt;</p>\n",
			map[string]string{"X-Served-By": "web-<1>", "Content-Type": "text/html; charset=utf-8"}, ""},
		{"head index", page, "HEAD", "/", 200, "", map[string]string{"X-Served-By": "web-<1>"}, ""},
		{"healthz text", text, "GET", "/healthz", 200, "ok\n", nil, ""},
		{"healthz html", page, "GET", "/healthz", 200, "ok\n", nil, "X-Served-By"},
		{"unknown path", text, "GET", "/missing", 404, "", nil, ""},
		{"index subpath", page, "GET", "/index.html", 404, "", nil, ""},
		{"post index", text, "POST", "/", 405, "", nil, ""},
		{"post healthz", text, "POST", "/healthz", 405, "", nil, ""},
		{"slow off by default", text, "GET", "/slow?ms=1", 404, "", nil, ""},
		{"slow zero", slow, "GET", "/slow?ms=0", 200, "slow answer from web-2\n", nil, ""},
		{"slow short", slow, "GET", "/slow?ms=20", 200, "slow answer from web-2\n", nil, ""},
		{"slow missing ms", slow, "GET", "/slow", 400, "ms: want 0–10000\n", nil, ""},
		{"slow negative", slow, "GET", "/slow?ms=-1", 400, "ms: want 0–10000\n", nil, ""},
		{"slow over max", slow, "GET", "/slow?ms=10001", 400, "ms: want 0–10000\n", nil, ""},
		{"slow not a number", slow, "GET", "/slow?ms=1e3", 400, "ms: want 0–10000\n", nil, ""},
		{"slow overflow", slow, "GET", "/slow?ms=99999999999999999999", 400, "ms: want 0–10000\n", nil, ""},
		{"slow sub-ms max", HandlerOptions{SlowMax: time.Microsecond}, "GET", "/slow?ms=1", 400, "ms: want 0–0\n", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			start := time.Now()
			NewHandler(tc.opt).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
			if rec.Code != tc.code {
				t.Errorf("%s %s = %d %q, want %d", tc.method, tc.target, rec.Code, rec.Body, tc.code)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("%s %s body = %q, want %q", tc.method, tc.target, rec.Body, tc.body)
			}
			for k, v := range tc.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s %s header %s = %q, want %q", tc.method, tc.target, k, got, v)
				}
			}
			if tc.noHeader != "" && rec.Header().Get(tc.noHeader) != "" {
				t.Errorf("%s %s has header %s = %q, want none", tc.method, tc.target, tc.noHeader, rec.Header().Get(tc.noHeader))
			}
			if tc.target == "/slow?ms=20" && time.Since(start) < 20*time.Millisecond {
				t.Errorf("GET /slow?ms=20 answered after %v, want at least 20ms", time.Since(start))
			}
		})
	}
}

// TestSlowClientGone checks that /slow stops waiting, and writes nothing,
// when the client goes away.
func TestSlowClientGone(t *testing.T) {
	h := NewHandler(HandlerOptions{TaskID: "t", SlowMax: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/slow?ms=60000", nil).WithContext(ctx))
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("/slow?ms=60000 still waiting 10s after its client went away")
	}
	if rec.Body.Len() != 0 || rec.Flushed {
		t.Errorf("/slow wrote %q to a client that went away", rec.Body)
	}
}

func BenchmarkHandlerIndex(b *testing.B) {
	for _, html := range []bool{false, true} {
		name := "text"
		if html {
			name = "html"
		}
		b.Run(name, func(b *testing.B) {
			h := NewHandler(HandlerOptions{TaskID: "web-1", HTML: html})
			req := httptest.NewRequest("GET", "/", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET / = %d", rec.Code)
				}
			}
		})
	}
}
