package webserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen returns a listener on a free loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// start runs serve in the background; the returned stop cancels its
// context and returns its error (failing the test if it does not return
// within 15 s).
func start(t *testing.T, serve func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(15 * time.Second):
				t.Error("server did not return within 15s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// get does GET url with a client of its own (no shared keep-alive pool).
func get(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// refused reports whether addr refuses TCP connections.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// blocking is a handler whose "/block" requests wait for release and
// report on entered when they start.
type blocking struct {
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}, 8), release: make(chan struct{})}
}

func (b *blocking) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/block" {
		b.entered <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
	}
	_, _ = io.WriteString(w, "done\n")
}

func TestServeAnswersAndStops(t *testing.T) {
	var logs bytes.Buffer
	ln := listen(t)
	addr := ln.Addr().String()
	stop := start(t, func(ctx context.Context) error {
		return Serve(ctx, ln, Config{Handler: NewHandler(HandlerOptions{TaskID: "web-1"}),
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
	})
	code, body, err := get(t, "http://"+addr+"/")
	if err != nil || code != 200 || body != "served by web-1\n" {
		t.Fatalf("GET / = %d %q %v, want 200 naming the task", code, body, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
	if !refused(addr) {
		t.Errorf("%s still accepts connections after Serve returned", addr)
	}
	for _, want := range []string{`msg="web server listening" addr=` + addr, `msg="web server stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestListenAndServe(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	stop := start(t, func(ctx context.Context) error {
		return ListenAndServe(ctx, Config{Addr: addr, Handler: NewHandler(HandlerOptions{})})
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := get(t, "http://"+addr+"/healthz")
		if err == nil {
			if code != 200 || body != "ok\n" {
				t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz: %v (gave up after 10s)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("ListenAndServe after cancel = %v, want nil", err)
	}
}

// TestServeDrains checks the graceful shutdown: after cancel no new
// connection is accepted, but the request in flight completes.
func TestServeDrains(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	b := newBlocking()
	stop := start(t, func(ctx context.Context) error {
		return Serve(ctx, ln, Config{Handler: b, ShutdownTimeout: 30 * time.Second})
	})
	type result struct {
		code int
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		code, body, err := get(t, "http://"+addr+"/block")
		inflight <- result{code, body, err}
	}()
	<-b.entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// The listener closes first; the request in flight keeps running.
	deadline := time.Now().Add(10 * time.Second)
	for !refused(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 10s after cancel", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned %v with a request still in flight", err)
	default:
	}
	close(b.release)
	if r := <-inflight; r.err != nil || r.code != 200 || r.body != "done\n" {
		t.Errorf("request in flight during shutdown = %d %q %v, want 200 done", r.code, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve after a clean drain = %v, want nil", err)
	}
}

// TestServeShutdownTimeout checks that a request outlasting the shutdown
// timeout is cut off and reported.
func TestServeShutdownTimeout(t *testing.T) {
	ln := listen(t)
	addr := ln.Addr().String()
	b := newBlocking()
	defer close(b.release)
	stop := start(t, func(ctx context.Context) error {
		return Serve(ctx, ln, Config{Handler: b, ShutdownTimeout: 50 * time.Millisecond})
	})
	inflight := make(chan error, 1)
	go func() {
		_, _, err := get(t, "http://"+addr+"/block")
		inflight <- err
	}()
	<-b.entered
	err := stop()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running after 50ms") {
		t.Errorf("Serve with a request outlasting ShutdownTimeout = %v, want one wrapping context.DeadlineExceeded", err)
	}
	select {
	case err := <-inflight:
		if err == nil {
			t.Error("the request outlasting the shutdown got an answer, want its connection cut")
		}
	case <-time.After(10 * time.Second):
		t.Error("the request outlasting the shutdown was not cut off within 10s")
	}
}

// TestServeListenerFails checks that Serve returns when its listener fails
// before ctx is done.
func TestServeListenerFails(t *testing.T) {
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), ln, Config{Handler: NewHandler(HandlerOptions{})}) }()
	// Serve may not have called Accept yet; closing first is fine too.
	ln.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "webserver: serve:") {
			t.Errorf("Serve on a closed listener = %v, want a serve error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s of its listener closing")
	}
}

func TestConfigErrors(t *testing.T) {
	h := NewHandler(HandlerOptions{})
	tests := []struct {
		name    string
		c       Config
		wantErr string
	}{
		{"nil handler", Config{Addr: "127.0.0.1:0"}, "Handler is nil"},
		{"negative read header timeout", Config{Addr: "127.0.0.1:0", Handler: h, ReadHeaderTimeout: -1}, "ReadHeaderTimeout is -1ns"},
		{"negative idle timeout", Config{Addr: "127.0.0.1:0", Handler: h, IdleTimeout: -time.Second}, "IdleTimeout is -1s"},
		{"negative shutdown timeout", Config{Addr: "127.0.0.1:0", Handler: h, ShutdownTimeout: -time.Second}, "ShutdownTimeout is -1s"},
		{"bad address", Config{Addr: "127.0.0.1:http-nope", Handler: h}, "webserver: listen tcp"},
		{"port out of range", Config{Addr: "127.0.0.1:70000", Handler: h}, "webserver: listen tcp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A canceled context: a Config that were wrongly accepted
			// would serve, then return nil at once.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := ListenAndServe(ctx, tc.c); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ListenAndServe = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if tc.c.Addr != "127.0.0.1:0" {
				return
			}
			ln := listen(t)
			addr := ln.Addr().String()
			if err := Serve(ctx, ln, tc.c); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Serve = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if !refused(addr) {
				t.Errorf("Serve refused its Config but left %s open", addr)
			}
		})
	}
}
