package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfigRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"non-loopback host", Config{URL: "http://10.0.0.1/", Duration: time.Second}},
		{"hostname", Config{URL: "http://example.com/", Duration: time.Second}},
		{"no duration", Config{URL: "http://127.0.0.1:1/"}},
		{"too long", Config{URL: "http://127.0.0.1:1/", Duration: time.Hour}},
		{"bad scheme", Config{URL: "ftp://127.0.0.1/", Duration: time.Second}},
		{"negative rate", Config{URL: "http://127.0.0.1:1/", Duration: time.Second, Rate: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Run(context.Background(), tc.cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("Run(%+v) = %v, want ErrConfig", tc.cfg, err)
			}
		})
	}
}

func TestClosedLoopCountsAndBounds(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%10 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Concurrency: 4, Duration: 5 * time.Second, MaxRequests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 200 || hits.Load() != 200 {
		t.Fatalf("requests %d, server saw %d, want 200 (MaxRequests bound)", res.Requests, hits.Load())
	}
	if res.Failed != 20 || res.OK != 180 || res.Errors["status 503"] != 20 {
		t.Errorf("result %s, want 20 failures of status 503", res)
	}
	if res.P99 <= 0 || res.P50 > res.P99 || res.P99 > res.Max {
		t.Errorf("percentiles out of order: %s", res)
	}
}

func TestOpenLoopRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Rate: 200, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// 200/s for 1 s: allow for scheduler jitter on a loaded machine.
	if res.Requests < 120 || res.Requests > 220 {
		t.Errorf("open loop at 200/s for 1s completed %d requests", res.Requests)
	}
}

func TestConnectionRefusedIsAFailure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close()
	res, err := Run(context.Background(), Config{URL: url, Concurrency: 1, Duration: time.Second, MaxRequests: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 3 || res.Errors["connection refused"] != 3 {
		t.Errorf("result %s, want 3 connection refused", res)
	}
}

func TestStartSnapshotAndCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	l := Start(ctx, Config{URL: srv.URL, Rate: 100, Duration: time.Minute})
	deadline := time.Now().Add(5 * time.Second)
	for l.Snapshot().Requests == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	res, err := l.Wait()
	if err != nil || res.Requests == 0 || res.Failed != 0 {
		t.Fatalf("after cancel: %s, %v", res, err)
	}
	if res.Elapsed > 30*time.Second {
		t.Errorf("cancel did not stop the run: elapsed %s", res.Elapsed)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 100; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond} {
		got := h.quantile(q)
		if got < want || float64(got) > float64(want)*1.03 {
			t.Errorf("quantile(%v) = %s, want within 3%% above %s", q, got, want)
		}
	}
}

func TestResultSince(t *testing.T) {
	l := &Load{errs: map[string]int64{}, start: time.Now()}
	for i := 1; i <= 100; i++ { // 1–100 ms
		l.hist.add(time.Duration(i) * time.Millisecond)
	}
	l.requests.Store(100)
	l.errs["status 503"] = 2
	before := l.Snapshot()
	for range 50 { // then 50 at 1 s, 50 at 2 ms
		l.hist.add(time.Second)
		l.hist.add(2 * time.Millisecond)
	}
	l.requests.Store(200)
	l.failed.Store(3)
	l.errs["status 503"] = 5
	d := l.Snapshot().Since(before)
	if d.Requests != 100 || d.Failed != 3 || d.Errors["status 503"] != 3 {
		t.Errorf("Since: %s, want 100 requests, 3 failed, 3 × status 503", d)
	}
	if d.P99 < 990*time.Millisecond || d.P99 > 1030*time.Millisecond {
		t.Errorf("Since: p99 %s, want about 1s (half the requests in between took 1s)", d.P99)
	}
	if d.P50 > 3*time.Millisecond {
		t.Errorf("Since: p50 %s, want about 2ms", d.P50)
	}
	if all := l.Snapshot(); all.P50 < 20*time.Millisecond {
		t.Errorf("the whole run's p50 %s, want above the window's (the 1–100 ms before count)", all.P50)
	}
}

// closeSecond serves the first request of each connection with keep-alive,
// then closes the connection when the second request arrives, without an
// answer: what a restarting server does to an idle keep-alive client.
func closeSecond(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				_, _ = http.ReadRequest(br) // then drop the connection
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestRetryHidesDroppedConnections(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retry      bool
		wantFailed int64
	}{
		{"strict by default: the drop is counted", false, 1},
		{"Retry: Go's client resends on a new connection", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{URL: closeSecond(t), Concurrency: 1, Duration: 5 * time.Second, MaxRequests: 2, Retry: tc.retry})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 2 || res.Failed != tc.wantFailed {
				t.Errorf("%s, want 2 requests and %d failed", res, tc.wantFailed)
			}
		})
	}
}
