package haproxy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

var web1 = lb.Backend{ID: "web.1", Addr: netip.MustParseAddrPort("127.0.0.1:8080")}

func hasCall(calls []string, prefix string) bool {
	return slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

func TestAddCommands(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // the membership commands, in order
	}{
		{"defaults", Config{}, []string{
			"add server webfarm/web.1 127.0.0.1:8080 pool-max-conn -1 pool-purge-delay 5s",
			"set server webfarm/web.1 state ready",
		}},
		{"health checks", Config{HealthCheck: true, ServerOptions: "check inter 2s"}, []string{
			"add server webfarm/web.1 127.0.0.1:8080 check inter 2s",
			"enable health webfarm/web.1",
			"set server webfarm/web.1 state ready",
		}},
		{"no options", Config{ServerOptions: "none"}, []string{
			"add server webfarm/web.1 127.0.0.1:8080",
			"set server webfarm/web.1 state ready",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			b := openFake(t, f, tc.cfg)
			if err := b.Add(context.Background(), web1); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range f.callLog() {
				if !strings.HasPrefix(c, "show ") && !strings.Contains(c, "%webfarm-probe") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("commands:\n got %q\nwant %q", got, tc.want)
			}
			// Adding again checks first and sends nothing.
			n := len(f.callLog())
			if err := b.Add(context.Background(), web1); err != nil {
				t.Fatal(err)
			}
			if calls := f.callLog()[n:]; hasCall(calls, "add server") || hasCall(calls, "set server") {
				t.Errorf("second Add sent %q, want only a listing", calls)
			}
		})
	}
}

func TestAddRollsBackWhenReadyFails(t *testing.T) {
	f := newFake()
	f.failState = map[string]error{"ready": errors.New("[3] simulated failure")}
	b := openFake(t, f, Config{})
	err := b.Add(context.Background(), web1)
	if err == nil || !strings.Contains(err.Error(), "simulated failure") {
		t.Fatalf("Add = %v, want the ready failure", err)
	}
	if !hasCall(f.callLog(), "del server webfarm/web.1") {
		t.Errorf("calls %q: want the half-added server deleted", f.callLog())
	}
	if bs, err := b.Backends(context.Background()); err != nil || len(bs) != 0 {
		t.Errorf("Backends after a failed Add = %v, %v; want empty", bs, err)
	}
}

func TestAddResentByClient(t *testing.T) {
	f := newFake()
	f.addTwice = true // the server is added, then HAProxy says it exists
	b := openFake(t, f, Config{})
	if err := b.Add(context.Background(), web1); err != nil {
		t.Fatalf("Add = %v, want nil: the server is there with the right address", err)
	}
	if s := f.servers["web.1"]; s == nil || s.status != "no check" {
		t.Errorf("server = %+v, want it ready", s)
	}
}

func TestAddAdopts(t *testing.T) {
	tests := []struct {
		name       string
		status     string
		addr       string
		wantErr    error
		wantStatus string
	}{
		{"ready server left alone", "no check", "127.0.0.1:8080", nil, "no check"},
		{"draining server stays draining", "DRAIN", "127.0.0.1:8080", nil, "DRAIN"},
		{"server left in maintenance is made ready", "MAINT", "127.0.0.1:8080", nil, "no check"},
		{"other address", "no check", "127.0.0.1:9090", lb.ErrExists, "no check"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.servers["web.1"] = &fakeServer{addr: tc.addr, status: tc.status, weight: 1}
			f.order = []string{"web.1"}
			b := openFake(t, f, Config{})
			if err := b.Add(context.Background(), web1); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Add = %v, want %v", err, tc.wantErr)
			}
			if got := f.servers["web.1"].status; got != tc.wantStatus || len(f.servers) != 1 {
				t.Errorf("status = %q (%d servers), want %q and no duplicate", got, len(f.servers), tc.wantStatus)
			}
		})
	}
}

func TestForeignAndHashedNames(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	f.servers["static_1"] = &fakeServer{addr: "127.0.0.1:7000", status: "no check", weight: 1}
	f.order = []string{"static_1"}
	b := openFake(t, f, Config{})
	long := lb.Backend{ID: strings.Repeat("mesos-task/", 8), Addr: netip.MustParseAddrPort("[::1]:8081")}
	if err := b.Add(ctx, long); err != nil {
		t.Fatal(err)
	}
	bs, err := b.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []lb.Backend{{ID: "static_1", Addr: netip.MustParseAddrPort("127.0.0.1:7000")}, long}
	if !slices.Equal(bs, want) {
		t.Errorf("Backends = %v, want %v", bs, want)
	}
	if err := b.Drain(ctx, "static_1"); err != nil {
		t.Errorf("Drain(static_1) = %v: a server from the configuration is managed by its name", err)
	}
	// A second driver instance (after our restart) cannot read the long
	// ID back from the hashed name, but Add of that ID adopts the server.
	b2 := openFake(t, f, Config{})
	if err := b2.Add(ctx, long); err != nil {
		t.Fatal(err)
	}
	if len(f.servers) != 2 {
		t.Errorf("servers = %d, want 2: Add must adopt, not duplicate", len(f.servers))
	}
	if bs, _ := b2.Backends(ctx); !slices.Contains(bs, long) {
		t.Errorf("Backends after adoption = %v, want %v listed", bs, long)
	}
}

func TestRemoveShutsSessionsAfterTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	b := openFake(t, f, Config{RemoveTimeout: 30 * time.Millisecond})
	if err := b.Add(ctx, web1); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.servers["web.1"].scur = 3
	f.busyUntilShutdown = true
	f.mu.Unlock()
	if err := b.Remove(ctx, web1.ID); err != nil {
		t.Fatal(err)
	}
	calls := f.callLog()
	i, j := slices.Index(calls, "set server webfarm/web.1 state maint"), slices.Index(calls, "shutdown sessions server webfarm/web.1")
	if i < 0 || j < i || calls[len(calls)-1] != "del server webfarm/web.1" {
		t.Errorf("calls %q: want maint, then shutdown sessions, then a successful del", calls)
	}
	if _, ok := f.servers["web.1"]; ok {
		t.Error("server still present after Remove")
	}
}

// TestRemoveGivesUpAtRemoveTimeout: when HAProxy keeps refusing `del
// server` after the sessions are shut (idle pooled connections, which it
// purges only every pool-purge-delay: HAProxy's management guide, "del
// server": "The operation is cancelled if the server still has active or
// idle connection or its connection queue is not empty"), Remove returns
// at RemoveTimeout with ErrBusy and leaves the server in maintenance.
func TestRemoveGivesUpAtRemoveTimeout(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	const timeout = 400 * time.Millisecond
	b := openFake(t, f, Config{RemoveTimeout: timeout})
	if err := b.Add(ctx, web1); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.busyForever = true
	f.mu.Unlock()
	start := time.Now()
	err := b.Remove(ctx, web1.ID)
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Remove = %v, want ErrBusy", err)
	}
	checkPrefixOnce(t, "Remove", err)
	if took < timeout || took > timeout+300*time.Millisecond {
		t.Errorf("Remove took %s, want RemoveTimeout %s (plus at most 300ms)", took, timeout)
	}
	calls := f.callLog()
	if !slices.Contains(calls, "shutdown sessions server webfarm/web.1") {
		t.Errorf("calls %q: want the sessions shut before giving up", calls)
	}
	if s := f.servers["web.1"]; s == nil || s.status != "MAINT" {
		t.Errorf("server = %+v, want it left in maintenance", s)
	}
	f.mu.Lock()
	f.busyForever = false // purged
	f.mu.Unlock()
	if err := b.Remove(ctx, web1.ID); err != nil {
		t.Fatalf("second Remove = %v", err)
	}
	if _, ok := f.servers["web.1"]; ok {
		t.Error("server still present after the second Remove")
	}
}

func TestRemoveCancelledWhileWaiting(t *testing.T) {
	f := newFake()
	b := openFake(t, f, Config{RemoveTimeout: time.Hour})
	if err := b.Add(context.Background(), web1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.mu.Lock()
	f.servers["web.1"].scur = 1
	f.onBusy = cancel // the caller gives up while Remove waits for the connection
	f.mu.Unlock()
	if err := b.Remove(ctx, web1.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Remove = %v, want context.Canceled", err)
	}
	if s := f.servers["web.1"]; s == nil || s.status != "MAINT" {
		t.Errorf("server = %+v, want it left in maintenance", s)
	}
	if err := b.Add(context.Background(), web1); err != nil || f.servers["web.1"].status != "no check" {
		t.Errorf("Add after an interrupted Remove = %v, status %q; want it ready again", err, f.servers["web.1"].status)
	}
}

func TestCallsReturnWhenContextEnds(t *testing.T) {
	f := newFake()
	b := openFake(t, f, Config{})
	block := make(chan struct{})
	f.mu.Lock()
	f.block = block
	f.mu.Unlock()
	defer close(block)
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"Stats", func(ctx context.Context) error { _, err := b.Stats(ctx); return err }},
		{"Backends", func(ctx context.Context) error { _, err := b.Backends(ctx); return err }},
		{"Add", func(ctx context.Context) error { return b.Add(ctx, web1) }},
		{"Drain", func(ctx context.Context) error { return b.Drain(ctx, "web.1") }},
		{"Remove", func(ctx context.Context) error { return b.Remove(ctx, "web.1") }},
		{"ActiveConns", func(ctx context.Context) error { _, err := b.ActiveConns(ctx, "web.1"); return err }},
		{"SetWeight", func(ctx context.Context) error { return b.SetWeight(ctx, "web.1", 3) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.call(ctx) }()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s with HAProxy stuck = %v, want context.DeadlineExceeded", c.name, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s did not return when its context ended", c.name)
			}
		})
	}
}

func TestRestartDetected(t *testing.T) {
	ctx := context.Background()
	f := newFake()
	b := openFake(t, f, Config{})
	step := func(name string, change func(), want bool) {
		t.Helper()
		f.mu.Lock()
		change()
		f.mu.Unlock()
		r, err := b.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Restarted != want {
			t.Errorf("%s: Restarted = %v, want %v (pid %d, requests %d)", name, r.Restarted, want, r.PID, r.Requests)
		}
	}
	step("first reading", func() { f.reqTot = 100 }, false)
	step("counter grows", func() { f.reqTot = 150 }, false)
	step("new process", func() { f.pid, f.reqTot = 200, 500 }, true)
	step("same process again", func() { f.reqTot = 600 }, false)
	step("counter went down", func() { f.reqTot = 3 }, true)
	step("start time changed", func() { f.start++ }, true)
}

// TestClosed: every call after Close wraps lb.ErrClosed, and its message
// names the package once ("haproxy: add …: lb: balancer closed", not
// "haproxy: add …: haproxy: lb: balancer closed").
func TestClosed(t *testing.T) {
	b := openFake(t, newFake(), Config{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := map[string]error{}
	_, calls["Stats"] = b.Stats(ctx)
	_, calls["Backends"] = b.Backends(ctx)
	calls["Add"] = b.Add(ctx, web1)
	calls["Drain"] = b.Drain(ctx, web1.ID)
	calls["Resume"] = b.Resume(ctx, web1.ID)
	calls["Remove"] = b.Remove(ctx, web1.ID)
	_, calls["ActiveConns"] = b.ActiveConns(ctx, web1.ID)
	calls["SetWeight"] = b.SetWeight(ctx, web1.ID, 10)
	for name, err := range calls {
		if !errors.Is(err, lb.ErrClosed) {
			t.Errorf("%s after Close = %v, want lb.ErrClosed", name, err)
			continue
		}
		checkPrefixOnce(t, name, err)
	}
}

// checkPrefixOnce checks the error convention: the message starts with
// "haproxy: " and names the package only there.
func checkPrefixOnce(t *testing.T, call string, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "haproxy: ") || strings.Count(msg, "haproxy: ") != 1 {
		t.Errorf("%s: error %q: want \"haproxy: \" once, at the start", call, msg)
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		status string
		want   lb.State
	}{
		{"UP", lb.StateReady}, {"UP 1/3", lb.StateReady}, {"no check", lb.StateReady},
		{"DRAIN", lb.StateDraining}, {"DRAIN (agent)", lb.StateDraining}, {"NOLB", lb.StateDraining},
		{"MAINT", lb.StateDown}, {"MAINT (via webfarm/x)", lb.StateDown}, {"DOWN", lb.StateDown}, {"DOWN 1/2", lb.StateDown},
		{"", lb.StateUnknown}, {"weird", lb.StateUnknown},
	}
	for _, tc := range tests {
		t.Run("status "+tc.status, func(t *testing.T) {
			if got := state(tc.status); got != tc.want {
				t.Errorf("state(%q) = %s, want %s", tc.status, got, tc.want)
			}
		})
	}
}

func TestResume(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(ctx context.Context, b *Balancer) error
		id      string
		want    []string // membership commands Resume sends
		wantErr error
	}{
		{"draining server made ready", func(ctx context.Context, b *Balancer) error {
			if err := b.Add(ctx, web1); err != nil {
				return err
			}
			return b.Drain(ctx, web1.ID)
		}, web1.ID, []string{"set server webfarm/web.1 state ready"}, nil},
		{"ready server left alone", func(ctx context.Context, b *Balancer) error {
			return b.Add(ctx, web1)
		}, web1.ID, nil, nil},
		{"unknown ID", func(context.Context, *Balancer) error { return nil }, "web.9", nil, lb.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFake()
			b := openFake(t, f, Config{})
			if err := tc.prepare(ctx, b); err != nil {
				t.Fatal(err)
			}
			n := len(f.callLog())
			err := b.Resume(ctx, tc.id)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Resume(%s) = %v, want %v", tc.id, err, tc.wantErr)
			}
			var got []string
			for _, c := range f.callLog()[n:] {
				if !strings.HasPrefix(c, "show ") {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("commands:\n got %q\nwant %q", got, tc.want)
			}
			if tc.wantErr == nil {
				if st, _ := b.Stats(ctx); st.Backends[tc.id].State != lb.StateReady {
					t.Errorf("after Resume: state %s, want ready", st.Backends[tc.id].State)
				}
			}
		})
	}
}

// TestResumeRewritesConfigFile: the draining server's line loses
// "disabled", so a restart brings it back ready.
func TestResumeRewritesConfigFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(baseCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	b := openFake(t, newFake(), Config{})
	cf, _, err := openConfigFile(path, "webfarm")
	if err != nil {
		t.Fatal(err)
	}
	b.file = &cf
	line := func() string {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range splitLines(string(data)) {
			if f := l.fields(); len(f) >= 3 && f[0] == "server" && f[1] == "web.1" {
				return l.content()
			}
		}
		return ""
	}
	if err := b.Add(ctx, web1); err != nil {
		t.Fatal(err)
	}
	if err := b.Drain(ctx, web1.ID); err != nil {
		t.Fatal(err)
	}
	if l := line(); !strings.Contains(l, "disabled") {
		t.Fatalf("after Drain the file has %q, want a disabled line", l)
	}
	if err := b.Resume(ctx, web1.ID); err != nil {
		t.Fatal(err)
	}
	if l := line(); l == "" || strings.Contains(l, "disabled") {
		t.Fatalf("after Resume the file has %q, want the server's line without disabled", l)
	}
}
