package lvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// webServer is an HTTP backend inside the test namespace that names
// itself in every answer.
type webServer struct {
	id   string
	addr netip.AddrPort
	hits atomic.Int64
}

func startWebServer(t *testing.T, ns, id string) *webServer {
	t.Helper()
	ln, err := listenIn(ns, "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen in the test namespace: %v", err)
	}
	s := &webServer{id: id, addr: netip.MustParseAddrPort(ln.Addr().String())}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		w.Header().Set("X-Backend", id)
		_, _ = io.WriteString(w, id)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// client is one HTTP client in the test namespace. With keepAlive it
// holds a single connection for its whole life, so it stays with the real
// server IPVS picked for it.
func newClient(ns string, keepAlive bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:       dialerIn(ns),
		DisableKeepAlives: !keepAlive,
		MaxConnsPerHost:   1,
	}}
}

// get fetches the VIP and returns which backend answered.
func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK || string(body) != resp.Header.Get("X-Backend") {
		return "", fmt.Errorf("GET %s: %s %q", url, resp.Status, body)
	}
	return string(body), nil
}

// worker sends requests over one keep-alive connection until stopped,
// for at most maxRequests.
type worker struct {
	c       *http.Client
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	pinned  string // the backend of the first answer
	served  map[string]int
	n       int
	errs    []error
	changed bool // answered by a backend other than the pinned one
}

const maxRequests = 4000

func (w *worker) run(ctx context.Context, url string) {
	defer close(w.done)
	for i := 0; i < maxRequests; i++ {
		select {
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		id, err := get(ctx, w.c, url)
		w.mu.Lock()
		if err != nil {
			w.errs = append(w.errs, err)
		} else {
			if w.pinned == "" {
				w.pinned = id
			}
			w.changed = w.changed || id != w.pinned
			w.served[id]++
			w.n++
		}
		w.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (w *worker) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *worker) halt() {
	close(w.stop)
	<-w.done
	w.c.CloseIdleConnections() // the client closes: FIN, not RST
}

// waitFor polls cond every 20 ms until it holds or the deadline passes.
// It waits on the kernel (connection states, the 2 s stats timer), which
// no test can drive by hand.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testKernelTraffic sends HTTP through IPVS: a VIP on lo, NAT to web
// servers on 127.0.0.1, clients in the same namespace. It checks the rr
// split, the counters, and that draining and removing real servers under
// keep-alive load fails no request and resets no connection.
func testKernelTraffic(t *testing.T) {
	needIPVS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ns := newNetns(t, netip.MustParsePrefix("10.0.0.1/32"))
	const url = "http://10.0.0.1:80/"
	web := map[string]*webServer{}
	for _, id := range []string{"s1", "s2", "s3"} {
		web[id] = startWebServer(t, ns, id)
	}
	b, err := New(ctx, Config{Service: Service{Addr: netip.MustParseAddrPort("10.0.0.1:80"), Scheduler: "rr"},
		Namespace: ns, DeleteOnClose: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, id := range []string{"s1", "s2"} {
		if err := b.Add(ctx, lb.Backend{ID: id, Addr: web[id].addr}); err != nil {
			t.Fatal(err)
		}
	}

	// New connections alternate under rr.
	fresh := newClient(ns, false)
	split := map[string]int{}
	const n = 40
	for range n {
		id, err := get(ctx, fresh, url)
		if err != nil {
			t.Fatalf("request through the VIP: %v", err)
		}
		split[id]++
	}
	if split["s1"] < n/2-2 || split["s2"] < n/2-2 {
		t.Errorf("rr over s1, s2: %v, want about %d each", split, n/2)
	}
	// The kernel folds connection counts in every 2 s.
	var st lb.Stats
	waitFor(t, "Stats.Requests to count the connections", 5*time.Second, func() (bool, error) {
		st, err = b.Stats(ctx)
		return err == nil && st.Requests >= n, err
	})
	if st.Backends["s1"].Requests < uint64(split["s1"]) || st.Backends["s2"].Requests < uint64(split["s2"]) {
		t.Errorf("Stats per backend = %+v, want at least %v connections", st.Backends, split)
	}
	t.Logf("after %d connections: Stats.Requests %d, per backend %+v", n, st.Requests, st.Backends)

	// Keep-alive load: six clients, each on one connection.
	var workers []*worker
	for range 6 {
		w := &worker{c: newClient(ns, true), stop: make(chan struct{}), done: make(chan struct{}), served: map[string]int{}}
		workers = append(workers, w)
		go w.run(ctx, url)
	}
	defer func() {
		for _, w := range workers {
			select {
			case <-w.done:
			default:
				w.halt()
			}
		}
	}()
	waitFor(t, "every keep-alive client to be answered", 20*time.Second, func() (bool, error) {
		for _, w := range workers {
			if w.count() < 3 {
				return false, nil
			}
		}
		return true, nil
	})
	on := map[string][]*worker{}
	for _, w := range workers {
		w.mu.Lock()
		on[w.pinned] = append(on[w.pinned], w)
		w.mu.Unlock()
	}
	if len(on["s1"]) == 0 || len(on["s2"]) == 0 {
		t.Fatalf("keep-alive clients per backend: s1 %d, s2 %d; want both used", len(on["s1"]), len(on["s2"]))
	}
	if a, err := b.ActiveConns(ctx, "s1"); err != nil || a < len(on["s1"]) {
		t.Errorf("ActiveConns(s1) = %d, %v with %d keep-alive clients on it", a, err, len(on["s1"]))
	}

	// Drain s1 and add s3 under load.
	before := map[*worker]int{}
	for _, w := range on["s1"] {
		before[w] = w.count()
	}
	drainAt := time.Now()
	if err := b.Drain(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, lb.Backend{ID: "s3", Addr: web["s3"].addr}); err != nil {
		t.Fatal(err)
	}
	s1hits := web["s1"].hits.Load()
	newSplit := map[string]int{}
	for range 30 {
		id, err := get(ctx, fresh, url)
		if err != nil {
			t.Fatalf("new connection after draining s1: %v", err)
		}
		newSplit[id]++
	}
	if newSplit["s1"] != 0 || newSplit["s2"] == 0 || newSplit["s3"] == 0 {
		t.Errorf("new connections after draining s1 and adding s3: %v, want none on s1, some on s2 and s3", newSplit)
	}
	// Established connections to the draining server go on.
	waitFor(t, "keep-alive clients on draining s1 to keep being answered", 20*time.Second, func() (bool, error) {
		for _, w := range on["s1"] {
			if w.count() < before[w]+5 {
				return false, nil
			}
		}
		return true, nil
	})
	if web["s1"].hits.Load() <= s1hits {
		t.Error("s1 answered nothing after Drain, yet keep-alive clients were on it")
	}
	if st, err := b.Stats(ctx); err != nil || st.Backends["s1"].State != lb.StateDraining || st.Backends["s1"].Active == 0 {
		t.Errorf("Stats.Backends[s1] while draining = %+v, %v; want draining with active connections", st.Backends["s1"], err)
	}

	// Its clients finish; once idle, the reaper's rule removes s1.
	for _, w := range on["s1"] {
		w.halt()
	}
	waitFor(t, "ActiveConns(s1) to reach 0", 10*time.Second, func() (bool, error) {
		a, err := b.ActiveConns(ctx, "s1")
		return a == 0, err
	})
	idleAfter := time.Since(drainAt)
	ids, err := b.Reap(ctx)
	if err != nil || len(ids) != 1 || ids[0] != "s1" {
		t.Fatalf("Reap = %v, %v; want [s1]", ids, err)
	}
	// Drain and explicitly Remove s3, which only fresh connections used.
	if err := b.Drain(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ActiveConns(s3) to reach 0", 10*time.Second, func() (bool, error) {
		a, err := b.ActiveConns(ctx, "s3")
		return a == 0, err
	})
	if err := b.Remove(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	// Load on s2 carries on; fresh connections all go to s2 now.
	mark := map[*worker]int{}
	for _, w := range on["s2"] {
		mark[w] = w.count()
	}
	for range 10 {
		if id, err := get(ctx, fresh, url); err != nil || id != "s2" {
			t.Errorf("new connection with only s2 left: %q, %v", id, err)
		}
	}
	waitFor(t, "keep-alive clients on s2 to keep being answered", 20*time.Second, func() (bool, error) {
		for _, w := range on["s2"] {
			if w.count() < mark[w]+5 {
				return false, nil
			}
		}
		return true, nil
	})
	for _, w := range on["s2"] {
		w.halt()
	}

	total, resets := 0, 0
	for _, w := range workers {
		total += w.n
		for _, err := range w.errs {
			if errors.Is(err, syscall.ECONNRESET) {
				resets++
			}
			t.Errorf("keep-alive client (on %s) failed: %v", w.pinned, err)
		}
		if w.changed {
			t.Errorf("a keep-alive client moved off %s: %v", w.pinned, w.served)
		}
	}
	got, err := b.Backends(ctx)
	if err != nil || len(got) != 1 || got[0].ID != "s2" {
		t.Errorf("Backends at the end = %v, %v; want [s2]", got, err)
	}
	t.Logf("keep-alive requests %d, failed 0 unless reported above, resets %d; s1 idle %s after Drain; answers s1 %d, s2 %d, s3 %d",
		total, resets, idleAfter.Round(time.Millisecond), web["s1"].hits.Load(), web["s2"].hits.Load(), web["s3"].hits.Load())
}
