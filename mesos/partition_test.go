package mesos

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
)

// freezer is a loopback TCP proxy whose open connections can be frozen:
// they stay open but carry no more bytes, as across a network partition
// that drops packets. New connections pass.
type freezer struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	conns  []net.Conn
	frozen chan struct{} // closed by freeze: copies of old connections stop
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target, frozen: make(chan struct{})}
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			c.Close()
		}
	})
	return f
}

func (f *freezer) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, u)
		frozen := f.frozen
		f.mu.Unlock()
		go pipe(c, u, frozen)
		go pipe(u, c, frozen)
	}
}

// pipe copies until an error, or stops copying (holding both ends open)
// once frozen is closed.
func pipe(dst, src net.Conn, frozen chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			io.Copy(io.Discard, src) // swallow, never deliver
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// freeze silences every open connection; later ones are unaffected.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.frozen)
	f.frozen = make(chan struct{})
}

func (f *freezer) url() string { return "http://" + f.ln.Addr().String() }

// TestLocalMissedHeartbeats: the subscription stream goes silent without
// closing; the watchdog notices after MissedHeartbeats intervals and
// re-subscribes as the same framework, keeping every task.
func TestLocalMissedHeartbeats(t *testing.T) {
	c := startCluster(t, nil) // heartbeats every 500ms
	master := strings.TrimPrefix(strings.TrimSuffix(c.URL(), "/api/v1/scheduler"), "http://")
	fz := newFreezer(t, master)
	var logs syncBuffer
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.Masters = []string{fz.url()}
	cfg.MissedHeartbeats = 4 // 2s of silence
	// A SUBSCRIBE sent on a pooled connection into the partition would hang
	// for RequestTimeout: make that long enough to fail the deadline below.
	cfg.RequestTimeout = 10 * time.Second
	cfg.Logger = testLogger(t).With("side", "scheduler")
	if !testing.Verbose() {
		cfg.Logger = newTextLogger(&logs)
	}
	f := startFarm(t, cfg)
	if err := f.s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return f.settled(c, 2) })
	fw, before, subs := f.s.FrameworkID(), allTaskIDs(c, f.s.FrameworkID()), f.s.subscriptionCount()
	frozeAt := time.Now()
	fz.freeze()
	// 2s of silence, then a fresh connection: well under the 10s a stale
	// pooled connection would cost.
	eventually(t, 8*time.Second, "re-subscribed after the stream went silent", func() (bool, string) {
		return f.s.subscriptionCount() > subs && f.s.Connected(), fmt.Sprint("subscriptions ", f.s.subscriptionCount())
	})
	t.Logf("re-subscribed %s after the stream froze", time.Since(frozeAt).Round(time.Millisecond))
	if !testing.Verbose() && !strings.Contains(logs.String(), "missed heartbeats") {
		t.Errorf("no 'missed heartbeats' log line:\n%s", logs.String())
	}
	if got := f.s.FrameworkID(); got != fw {
		t.Fatalf("framework ID %q after re-subscribing, want %q", got, fw)
	}
	if ok, st := f.settled(c, 2); !ok {
		t.Fatalf("after re-subscribing: %s", st)
	}
	if got := allTaskIDs(c, fw); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("tasks %v, want the same %v", got, before)
	}
}
