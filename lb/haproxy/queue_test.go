package haproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
)

// Where HAProxy queues a request, and what `show stat` reports of it
// (HAProxy's source; the same in 2.6, which these tests run):
//   - src/queue.c, pendconn_add: a stream with a server assigned
//     (SF_ASSIGNED: a hash-based balance such as `balance uri`, cookie or
//     stick persistence, use-server) goes into that server's queue;
//     otherwise into the backend's (proxy's) queue.
//   - src/backend.c, assign_server_and_queue: an assigned server at its
//     maxconn queues the request in its own queue; with roundrobin a full
//     farm leaves the request unassigned, in the backend's queue.
//   - src/stats.c, stats_fill_sv_stats: a server row's qcur is
//     sv->queue.length; stats_fill_be_stats: the backend row's qcur is
//     px->queue.length, its own queue only (3.0 renamed them
//     stats_fill_sv_line and stats_fill_be_line). doc/management.txt, 9.1 (CSV
//     format), field 2: "qcur [..BS]: current queued requests. For the
//     backend this reports the number queued without a server assigned."
//
// So the backend's qcur alone misses the requests waiting for one server;
// Read adds the servers' qcur, Totals cannot.

// TestQueuedFake: Read and Stats count the backend's queue and every
// server row's queue of the backend (draining and maintenance ones too);
// Totals and Stats with TotalsOnly see the backend's queue alone; each
// server's entry keeps its own qcur.
func TestQueuedFake(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.qcur = 2
	f.servers["a"] = &fakeServer{addr: "127.0.0.1:8001", status: "no check", qcur: 3, scur: 1, weight: 1}
	f.servers["b"] = &fakeServer{addr: "127.0.0.1:8002", status: "DRAIN", qcur: 1, weight: 1}
	f.servers["c"] = &fakeServer{addr: "127.0.0.1:8003", status: "MAINT", qcur: 4, weight: 1}
	f.servers["d"] = &fakeServer{addr: "127.0.0.1:8004", status: "no check", weight: 1}
	f.order = []string{"a", "b", "c", "d"}
	b := openFake(t, f, Config{})

	r, err := b.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Queued != 2+3+1+4 {
		t.Errorf("Read().Queued = %d, want 10: the backend's 2 plus the servers' 3+1+4", r.Queued)
	}
	for id, want := range map[string]int{"a": 3, "b": 1, "c": 4, "d": 0} {
		if got := r.Backends[id].Queued; got != want {
			t.Errorf("Read().Backends[%s].Queued = %d, want its own qcur %d", id, got, want)
		}
	}
	s, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Queued != 10 {
		t.Errorf("Stats().Queued = %d, want 10 as Read", s.Queued)
	}
	tot, err := b.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tot.Queued != 2 || tot.Backends != nil {
		t.Errorf("Totals() = Queued %d, Backends %v; want the backend's qcur 2 alone and no servers", tot.Queued, tot.Backends)
	}
	bt := openFake(t, f, Config{TotalsOnly: true})
	if s, err := bt.Stats(ctx); err != nil || s.Queued != 2 {
		t.Errorf("Stats() with TotalsOnly = Queued %d, %v; want the backend's qcur 2", s.Queued, err)
	}
}

// TestQueuedOtherProxies: server rows of other proxies in the answer
// (`show stat` without a proxy filter lists them all) do not count; a
// server's slim (its maxconn) is its Limit.
func TestQueuedOtherProxies(t *testing.T) {
	b := openFake(t, newFake(), Config{})
	answer := "Name: HAProxy\nVersion: 2.6.12\nPid: 100\nStart_time_sec: 1795900000\n\n" +
		"# pxname,svname,qcur,scur,slim,stot,status,weight,type,req_tot,addr,mode,algo,\n" +
		"webfarm,s1,5,1,1,9,no check,1,2,9,127.0.0.1:8001,http,,\n" +
		"webfarm,BACKEND,1,1,410,9,UP,1,1,9,,http,uri,\n" +
		"other,s1,7,1,,9,no check,1,2,9,127.0.0.1:8002,http,,\n" +
		"other,BACKEND,8,1,410,9,UP,1,1,9,,http,uri,\n" +
		"webfarm-x,s1,9,1,,9,no check,1,2,9,127.0.0.1:8003,http,,\n\n"
	rep, err := parseReply(answer)
	if err != nil {
		t.Fatal(err)
	}
	b.statsSem <- struct{}{}
	r, err := b.reading(context.Background(), rep, time.Now(), true)
	<-b.statsSem
	if err != nil {
		t.Fatal(err)
	}
	if r.Queued != 6 || len(r.Backends) != 1 {
		t.Errorf("Queued = %d with Backends %v, want 6 (webfarm's 1 + its server's 5), other proxies' queues left out", r.Queued, r.Backends)
	}
	if bs := r.Backends["s1"]; bs.Limit != 1 || bs.Active != 1 || bs.Queued != 5 {
		t.Errorf("Backends[s1] = %+v, want Limit 1 (slim, its maxconn), Active 1, Queued 5", bs)
	}
}

// gateFarm is n local HTTP backends whose requests wait until release is
// closed (at most 20 s), so that a test controls how long they hold
// HAProxy's connection slots.
type gateFarm struct {
	servers []*httptest.Server
	release chan struct{}
	open    func() // closes release (once)
	arrived atomic.Int64
}

func newGateFarm(t *testing.T, n int) *gateFarm {
	t.Helper()
	g := &gateFarm{release: make(chan struct{})}
	for range n {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.arrived.Add(1)
			timer := time.NewTimer(20 * time.Second)
			defer timer.Stop()
			select {
			case <-g.release:
			case <-timer.C:
			case <-r.Context().Done():
				return
			}
			_, _ = io.WriteString(w, "ok\n")
		}))
		t.Cleanup(srv.Close)
		g.servers = append(g.servers, srv)
	}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(g.release) }) })
	g.open = func() { once.Do(func() { close(g.release) }) }
	return g
}

// TestQueuedReal runs a real haproxy whose two servers take one request
// at a time (maxconn 1) and sends n requests for the same URI at once,
// which the backends hold. With `balance uri` every request goes to the
// one server the URI hashes to: one is served, n−1 wait in that server's
// own queue, which Read counts and Totals (the backend's qcur) does not.
// (`balance uri` with `hash-type consistent`, which servers added at run
// time need.) With roundrobin (the control) two are served and n−2 wait unassigned in
// the backend's queue, which both see.
func TestQueuedReal(t *testing.T) {
	needHAProxy(t)
	const n = 6
	for _, tc := range []struct {
		balance string
		// serving is how many requests the farm serves at once; the rest
		// wait.
		serving int
		// serverQueue: the waiting requests are in a server's queue (true)
		// or in the backend's (false).
		serverQueue bool
	}{
		{balance: "uri", serving: 1, serverQueue: true},
		{balance: "roundrobin", serving: 2, serverQueue: false},
	} {
		t.Run(tc.balance, func(t *testing.T) {
			farm := newGateFarm(t, 2)
			// The driver adds servers at run time, which a hash needs
			// consistent for; roundrobin ignores hash-type.
			p := startProc(t, haproxyproc.Config{Balance: tc.balance, BackendLines: []string{"hash-type consistent"}})
			b := connect(t, p, Config{ServerOptions: DefaultServerOptions + " maxconn 1"})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i, srv := range farm.servers {
				addr := netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
				if err := b.Add(ctx, lb.Backend{ID: fmt.Sprintf("web.%d", i), Addr: addr}); err != nil {
					t.Fatal(err)
				}
			}

			// n clients, one connection each, all for the same URI.
			client := &http.Client{Timeout: 25 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			codes := make(chan string, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"same", nil)
					if err != nil {
						codes <- err.Error()
						return
					}
					resp, err := client.Do(req)
					if err != nil {
						codes <- err.Error()
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					codes <- resp.Status
				}()
			}
			defer wg.Wait()
			defer farm.open()

			// Wait (at most 4 s: HAProxy's queue timeout is the 5 s connect
			// timeout) until every request is either served or queued.
			want := n - tc.serving
			var r Reading
			deadline := time.Now().Add(4 * time.Second)
			for {
				var err error
				r, err = b.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if (r.Queued >= want && farm.arrived.Load() == int64(tc.serving)) || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			tot, err := b.Totals(ctx)
			if err != nil {
				t.Fatal(err)
			}
			farm.open()
			t.Logf("balance %s, %d requests, maxconn 1 on 2 servers: Read().Queued %d, Totals().Queued %d, backends serving %d, servers %+v",
				tc.balance, n, r.Queued, tot.Queued, farm.arrived.Load(), r.Backends)

			if r.Queued != want {
				t.Errorf("Read().Queued = %d, want %d (n−%d requests waiting)", r.Queued, want, tc.serving)
			}
			var inServers, busy int
			for id, bs := range r.Backends {
				inServers += bs.Queued
				if bs.Queued > 0 {
					busy++
				}
				if bs.Limit != 1 {
					t.Errorf("Backends[%s].Limit = %d, want its maxconn 1 (slim)", id, bs.Limit)
				}
				if bs.Active > bs.Limit {
					t.Errorf("Backends[%s].Active = %d, above its maxconn 1", id, bs.Active)
				}
				if bs.Queued > 0 && bs.Active != bs.Limit {
					t.Errorf("Backends[%s] = %+v: requests wait in its queue, so it must be at its Limit", id, bs)
				}
			}
			if tc.serverQueue {
				// All in the server the URI hashes to; none unassigned.
				if inServers != want || busy != 1 {
					t.Errorf("servers' own queues hold %d requests in %d servers, want %d in one server", inServers, busy, want)
				}
				if tot.Queued != 0 {
					t.Errorf("Totals().Queued = %d, want 0: the backend's qcur does not count a server's queue", tot.Queued)
				}
			} else {
				if inServers != 0 {
					t.Errorf("servers' own queues hold %d requests, want 0: roundrobin queues unassigned requests in the backend", inServers)
				}
				if tot.Queued != want {
					t.Errorf("Totals().Queued = %d, want %d: the backend's own queue", tot.Queued, want)
				}
			}

			wg.Wait()
			close(codes)
			for c := range codes {
				if c != "200 OK" {
					t.Errorf("a client got %q, want 200 OK once released", c)
				}
			}
			if r, err := b.Read(ctx); err != nil || r.Queued != 0 {
				t.Errorf("after the requests finished: Read().Queued = %d, %v; want 0", r.Queued, err)
			}
		})
	}
}
