package haproxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// TestRemoveTimeoutBoundsRemove, on a real HAProxy: a drained server that
// still serves a request (one that would go on for a minute) and holds
// server connections of keep-alive clients from earlier requests
// (pool-max-conn -1 pool-purge-delay 5s, the default ServerOptions) is
// removed within RemoveTimeout plus a little: the open request is cut
// near RemoveTimeout, and no connection holds `del server` up past it.
func TestRemoveTimeoutBoundsRemove(t *testing.T) {
	needHAProxy(t)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			case <-time.After(time.Minute):
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	p := startProc(t, haproxyproc.Config{})
	const removeTimeout = 2 * time.Second
	b := connect(t, p, Config{RemoveTimeout: removeTimeout})
	front := strings.TrimSuffix(p.URL(), "/") + "/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	be := lb.Backend{ID: "web.1", Addr: netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))}
	if err := b.Add(ctx, be); err != nil {
		t.Fatal(err)
	}
	// Idle server connections: clients that keep their connections open
	// between requests (as browsers and load generators do), each of which
	// holds the server connection its last request used.
	keepAlive := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(keepAlive.CloseIdleConnections)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: keepAlive, Timeout: 5 * time.Second}
			for range 5 {
				resp, err := c.Get(front + "fast")
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// One request that stays open.
	slowDone := make(chan string, 1)
	go func() {
		c := &http.Client{Timeout: 2 * time.Minute}
		resp, err := c.Get(front + "slow")
		if err != nil {
			slowDone <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slowDone <- resp.Status + " " + string(b)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := b.ActiveConns(ctx, be.ID)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow request never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Drain(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Remove(ctx, be.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("Remove took %s with RemoveTimeout %s", took.Round(time.Millisecond), removeTimeout)
	// The bound: RemoveTimeout, plus one runtime command (well under a
	// second even on a loaded machine).
	if limit := removeTimeout + time.Second; took > limit {
		t.Errorf("Remove took %s, want at most %s (RemoveTimeout %s)", took.Round(time.Millisecond), limit, removeTimeout)
	}
	if bs, err := b.Backends(ctx); err != nil || len(bs) != 0 {
		t.Errorf("Backends after Remove = %v, %v; want none", bs, err)
	}
	once.Do(func() { close(release) })
	t.Logf("the slow request: %s", <-slowDone)
}
