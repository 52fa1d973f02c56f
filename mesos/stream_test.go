package mesos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// evilMaster is a fake master on 127.0.0.1 whose first SUBSCRIBE gets a
// 200 stream starting with body, held open; later SUBSCRIBEs get a valid
// SUBSCRIBED event. Every other call gets 202.
type evilMaster struct {
	srv        *httptest.Server
	body       string
	subscribes atomic.Int32
}

func newEvilMaster(t *testing.T, body string) *evilMaster {
	m := &evilMaster{body: body}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *evilMaster) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var c scheduler.Call
	if err == nil {
		err = c.Unmarshal(raw)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.GetType() != scheduler.Call_SUBSCRIBE {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	n := m.subscribes.Add(1)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", fmt.Sprintf("stream-%d", n))
	w.WriteHeader(http.StatusOK)
	if n == 1 {
		_, _ = io.WriteString(w, m.body)
	} else {
		hb := 15.0
		ev := scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
			FrameworkID: &mesos.FrameworkID{Value: "fw-1"}, HeartbeatIntervalSeconds: &hb}}
		b, _ := ev.Marshal()
		_, _ = fmt.Fprintf(w, "%d\n%s", len(b), b)
	}
	w.(http.Flusher).Flush()
	// Hold the stream open: only the scheduler may end it.
	select {
	case <-r.Context().Done():
	case <-time.After(30 * time.Second):
	}
}

// TestMaliciousStreamResubscribes: a master whose SUBSCRIBE stream carries
// a record length mesos-go v0.0.11 would panic on (2^63 and more; the
// fuzzer's crashing input), or an over-long or malformed one, does not
// crash the scheduler: the stream guard turns it into a read error, the
// scheduler logs it and re-subscribes.
func TestMaliciousStreamResubscribes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "length 2^63 (mesos-go panics)", body: "9227000000000000000\n0", want: "record too large"},
		{name: "length over uint64", body: "99999999999999999999\nx", want: "record too large"},
		{name: "length over 4 MiB", body: "4194305\n", want: "record too large"},
		{name: "not a length", body: "HTTP/1.1 200 OK\r\n", want: "malformed record length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newEvilMaster(t, tc.body)
			var logs syncBuffer
			cfg := baseConfig(lbtest.NewMemory())
			cfg.Masters = []string{m.srv.URL}
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			cfg.ReconnectMin, cfg.ReconnectMax = 10*time.Millisecond, 50*time.Millisecond
			s, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			panicked := make(chan any, 1)
			go func() {
				defer func() {
					if p := recover(); p != nil {
						panicked <- p
					}
				}()
				done <- s.Run(ctx)
			}()
			eventually(t, 10*time.Second, "re-subscribed after the bad stream", func() (bool, string) {
				select {
				case p := <-panicked:
					t.Fatalf("Run panicked: %v", p)
				default:
				}
				return s.Connected() && m.subscribes.Load() >= 2,
					fmt.Sprintf("connected %v, %d SUBSCRIBEs", s.Connected(), m.subscribes.Load())
			})
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run = %v, want context.Canceled", err)
				}
			case p := <-panicked:
				t.Fatalf("Run panicked: %v", p)
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			out := logs.String()
			for _, want := range []string{"master sent a malformed event stream", tc.want, "subscription ended", "mesos: subscribed"} {
				if !strings.Contains(out, want) {
					t.Errorf("logs do not say %q:\n%s", want, out)
				}
			}
			// The guard stopped it, not the panic recovery behind it.
			if strings.Contains(out, "recovered from a panic") {
				t.Errorf("a panic was recovered; the guard should have stopped the stream first:\n%s", out)
			}
		})
	}
}

// TestStreamGuardScope: only streams read as RecordIO go through the guard.
func TestStreamGuardScope(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ct      string
		length  int64
		guarded bool
	}{
		{name: "200 without length", status: 200, ct: "application/x-protobuf", length: -1, guarded: true},
		{name: "200 recordio with length", status: 200, ct: "application/recordio", length: 10, guarded: true},
		{name: "200 with length", status: 200, ct: "application/json", length: 10},
		{name: "202", status: 202, length: -1},
		{name: "307", status: 307, length: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := &http.Response{StatusCode: tc.status, ContentLength: tc.length,
				Header: http.Header{"Content-Type": {tc.ct}}, Body: io.NopCloser(strings.NewReader("x"))}
			g := streamGuard{next: roundTripFunc(func(*http.Request) (*http.Response, error) { return res, nil }),
				log: slog.New(slog.DiscardHandler)}
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:5050/api/v1/scheduler", nil)
			got, err := g.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := got.Body.(*guardedBody); ok != tc.guarded {
				t.Errorf("guarded %v, want %v", ok, tc.guarded)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// panicDecoder is a mesos.Response whose Decode panics, as mesos-go's
// RecordIO reader does on a 2^63 length.
type panicDecoder struct{}

func (panicDecoder) Close() error                      { return nil }
func (panicDecoder) Decode(encoding.Unmarshaler) error { panic("asked to read frame data") }

// TestPanicsRecovered: a panic while decoding, handling an event or
// converging is logged with its stack and becomes an error (decoding,
// handling: the subscription ends and the scheduler re-subscribes) or a
// skipped tick (converging); the scheduler's state lock is free after.
func TestPanicsRecovered(t *testing.T) {
	t.Run("decoding", func(t *testing.T) {
		r := newRig(t, nil)
		err := safeResponse{Response: panicDecoder{}, s: r.s}.Decode(&scheduler.Event{})
		if err == nil || !strings.Contains(err.Error(), "asked to read frame data") {
			t.Fatalf("Decode = %v, want an error carrying the panic", err)
		}
		checkRecoveredLog(t, r, "decoding an event")
	})
	t.Run("handling an event", func(t *testing.T) {
		r := newRig(t, nil)
		r.s.now = func() time.Time { panic("handler bug") }
		err := r.s.safeHandleEvent(r.ctx, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
		if err == nil || !strings.Contains(err.Error(), "handler bug") {
			t.Fatalf("safeHandleEvent = %v, want an error carrying the panic", err)
		}
		checkRecoveredLog(t, r, "handling HEARTBEAT")
	})
	t.Run("converging", func(t *testing.T) {
		mem := lbtest.NewMemory()
		pb := &panickyBalancer{Balancer: mem}
		r := newRig(t, func(c *Config) { c.Balancer = pb })
		r.mem = mem // r.pool reads it
		r.start("fw", 15)
		r.setDesired(1)
		r.step(0)
		r.fc.take()
		r.offers(offer("o1", "agent-1", "10.0.0.1", 4, 1024, 31000, 31005))
		ids := idsOf(launched(r.fc.take()))
		if len(ids) != 1 {
			t.Fatalf("launched %v, want one task", ids)
		}
		r.update(ids[0], mesos.TASK_RUNNING, "u1", nil)
		pb.panics.Store(true)
		r.s.safeConverge(r.ctx) // Add panics
		checkRecoveredLog(t, r, "converging")
		pb.panics.Store(false)
		r.s.safeConverge(r.ctx)
		if got := r.pool(); len(got) != 1 || got[0] != ids[0] {
			t.Fatalf("pool %v after the driver recovered, want [%s]", got, ids[0])
		}
	})
}

func checkRecoveredLog(t *testing.T, r *rig, where string) {
	t.Helper()
	out := r.logs.String()
	for _, want := range []string{"recovered from a panic", where, "stack="} {
		if !strings.Contains(out, want) {
			t.Errorf("logs do not say %q:\n%s", want, out)
		}
	}
	if !r.s.mu.TryLock() {
		t.Fatal("state lock held after the recovered panic")
	}
	r.s.mu.Unlock()
}

// panickyBalancer panics in Add while panics is set: a buggy driver.
type panickyBalancer struct {
	lb.Balancer
	panics atomic.Bool
}

func (p *panickyBalancer) Add(ctx context.Context, b lb.Backend) error {
	if p.panics.Load() {
		panic("driver bug in Add")
	}
	return p.Balancer.Add(ctx, b)
}

// TestPanicWithLockHeldIsNotSwallowed: a panic that leaves the state lock
// held cannot be recovered from; recovered panics again, loudly, rather
// than let the scheduler hang.
func TestPanicWithLockHeldIsNotSwallowed(t *testing.T) {
	r := newRig(t, nil)
	old := recoverLockWait
	recoverLockWait = 50 * time.Millisecond
	t.Cleanup(func() { recoverLockWait = old })
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	var got any
	func() {
		defer func() { got = recover() }()
		_ = r.s.recovered("handling UPDATE", "bug under the lock")
	}()
	if msg := fmt.Sprint(got); !strings.Contains(msg, "state lock still held") || !strings.Contains(msg, "bug under the lock") {
		t.Fatalf("recovered with the lock held: panic %v, want one saying the lock is still held", got)
	}
}
