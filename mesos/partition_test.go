package mesos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
)

// freezer is a loopback TCP proxy whose open connections can be frozen:
// they stay open but carry no more bytes, as across a network partition
// that drops packets. New connections pass.
type freezer struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	conns   []net.Conn
	frozen  chan struct{} // closed by freeze: copies of old connections stop
	trigger []byte        // see freezeOn
	tripped time.Time     // when trigger froze the connections
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
		go f.pipe(c, u, frozen, false)
		go f.pipe(u, c, frozen, true)
	}
}

// pipe copies until an error, or stops copying (holding both ends open)
// once frozen is closed. Bytes from the client (up) may trip the trigger.
func (f *freezer) pipe(dst, src net.Conn, frozen chan struct{}, up bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if up && n > 0 {
			f.trip(buf[:n])
		}
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
	f.freezeLocked()
}

func (f *freezer) freezeLocked() {
	close(f.frozen)
	f.frozen = make(chan struct{})
}

// freezeOn arms the freezer: the first bytes a client sends that contain
// s freeze every open connection, so those bytes never arrive: a call sent
// just as the partition begins.
func (f *freezer) freezeOn(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trigger = []byte(s)
}

func (f *freezer) trip(b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.trigger != nil && bytes.Contains(b, f.trigger) {
		f.trigger = nil
		f.tripped = time.Now()
		f.freezeLocked()
	}
}

// trippedAt returns when the trigger froze the connections (zero: not yet).
func (f *freezer) trippedAt() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tripped
}

func (f *freezer) url() string { return "http://" + f.ln.Addr().String() }

// TestLocalMissedHeartbeats: the subscription stream goes silent without
// closing; the watchdog notices after MissedHeartbeats intervals and
// re-subscribes as the same framework, keeping every task. The stream may
// freeze while the scheduler sends a call into the partition: from the
// event handler (an ACKNOWLEDGE, which holds mesos-go's event loop) or
// from converge (a KILL, which holds the next converge): neither may hold
// the re-subscription back until the call's RequestTimeout.
func TestLocalMissedHeartbeats(t *testing.T) {
	t.Run("silent stream", func(t *testing.T) {
		p := startPartitioned(t)
		fw, before := p.f.s.FrameworkID(), allTaskIDs(p.c, p.f.s.FrameworkID())
		frozeAt := time.Now()
		p.fz.freeze()
		p.resubscribed(t, frozeAt)
		if got := p.f.s.FrameworkID(); got != fw {
			t.Fatalf("framework ID %q after re-subscribing, want %q", got, fw)
		}
		if ok, st := p.f.settled(p.c, 2); !ok {
			t.Fatalf("after re-subscribing: %s", st)
		}
		if got := allTaskIDs(p.c, fw); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("tasks %v, want the same %v", got, before)
		}
	})
	t.Run("acknowledge into the partition", func(t *testing.T) {
		p := startPartitioned(t)
		// A task dies; the ACKNOWLEDGE of its update is the first call
		// lost in the partition.
		p.fz.freezeOn(`"ACKNOWLEDGE"`)
		var pid int
		for _, tk := range p.c.Tasks() {
			if tk.State == "TASK_RUNNING" && tk.PID > 0 {
				pid = tk.PID
			}
		}
		if pid == 0 {
			t.Fatalf("no running task process to kill: %v", p.c.Tasks())
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "an ACKNOWLEDGE sent into the partition", func() (bool, string) {
			return !p.fz.trippedAt().IsZero(), ""
		})
		p.resubscribed(t, p.fz.trippedAt())
		eventually(t, 30*time.Second, "2 tasks after re-subscribing", func() (bool, string) { return p.f.settled(p.c, 2) })
	})
	t.Run("kill into the partition", func(t *testing.T) {
		p := startPartitioned(t)
		// A scale-down drains a task, then converge KILLs it: the first
		// call lost in the partition.
		p.fz.freezeOn(`"KILL"`)
		if err := p.f.s.SetDesired(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "a KILL sent into the partition", func() (bool, string) {
			return !p.fz.trippedAt().IsZero(), ""
		})
		p.resubscribed(t, p.fz.trippedAt())
		eventually(t, 30*time.Second, "1 task after re-subscribing", func() (bool, string) { return p.f.settled(p.c, 1) })
	})
}

// partitioned is a farm of 2 tasks on mesos/local that reaches the master
// through a freezer, with a heartbeat watchdog of 2s.
type partitioned struct {
	c    *local.Cluster
	fz   *freezer
	f    *farm
	cfg  Config
	logs *syncBuffer
	subs int // subscriptions before the partition
}

func startPartitioned(t *testing.T) *partitioned {
	c := startCluster(t, nil) // heartbeats every 500ms
	master := strings.TrimPrefix(strings.TrimSuffix(c.URL(), "/api/v1/scheduler"), "http://")
	p := &partitioned{c: c, fz: newFreezer(t, master), logs: &syncBuffer{}}
	cfg := localConfig(t, c, lbtest.NewMemory())
	cfg.Masters = []string{p.fz.url()}
	cfg.Codec = "json"       // the freezer's triggers read call types
	cfg.MissedHeartbeats = 4 // 2s of silence
	// A call sent into the partition, on a pooled connection or on one
	// that froze with it, hangs for RequestTimeout. It is long here so
	// that waiting it out cannot pass for a re-subscription "in time",
	// however slow a loaded machine runs the test.
	cfg.RequestTimeout = 40 * time.Second
	cfg.Logger = testLogger(t).With("side", "scheduler")
	if !testing.Verbose() {
		cfg.Logger = newTextLogger(p.logs)
	}
	p.cfg = cfg
	p.f = startFarm(t, cfg)
	if err := p.f.s.SetDesired(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "2 tasks", func() (bool, string) { return p.f.settled(c, 2) })
	p.subs = p.f.s.subscriptionCount()
	return p
}

// resubscribed waits for a new subscription after the partition began at
// frozeAt, and fails unless it came well before a call hanging in the
// partition would have timed out: 2s of silence, then a SUBSCRIBE on a
// fresh connection. The deadline is part of RequestTimeout, not a budget
// for the 2s: only waiting out RequestTimeout can miss it.
func (p *partitioned) resubscribed(t *testing.T, frozeAt time.Time) {
	t.Helper()
	limit := p.cfg.RequestTimeout * 3 / 4
	eventually(t, limit-time.Since(frozeAt), "re-subscribed after the stream went silent", func() (bool, string) {
		return p.f.s.subscriptionCount() > p.subs && p.f.s.Connected(), fmt.Sprint("subscriptions ", p.f.s.subscriptionCount())
	})
	t.Logf("re-subscribed %s after the stream froze (RequestTimeout %s)", time.Since(frozeAt).Round(time.Millisecond), p.cfg.RequestTimeout)
	if !testing.Verbose() && !strings.Contains(p.logs.String(), "missed heartbeats") {
		t.Errorf("no 'missed heartbeats' log line:\n%s", p.logs.String())
	}
}
