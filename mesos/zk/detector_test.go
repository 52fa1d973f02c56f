package zk_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/mesos/zk"
)

// detected runs a Detector on u and returns a function reporting the
// address it last announced.
func detected(t *testing.T, u zk.URL) (*zk.Detector, func() string) {
	t.Helper()
	var mu sync.Mutex
	last := "(none yet)"
	d := zk.NewDetector(u, zk.DetectorOptions{SessionTimeout: 2 * time.Second, Logger: testLogger(t),
		OnChange: func(hp string) { mu.Lock(); last = hp; mu.Unlock() }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Detector.Run = %v, want context.Canceled", err)
		}
	})
	return d, func() string { mu.Lock(); defer mu.Unlock(); return last }
}

func contend(t *testing.T, u zk.URL, addr string) (string, func()) {
	t.Helper()
	info, err := zk.NewMasterInfo("master-"+addr, addr)
	if err != nil {
		t.Fatal(err)
	}
	node, withdraw, err := zk.Contend(testCtx(t), u, info, 2*time.Second, testLogger(t))
	if err != nil {
		t.Fatalf("Contend: %v", err)
	}
	t.Cleanup(withdraw)
	return node, withdraw
}

// TestDetectorFollowsTheLowestSequence runs masters' memberships on a real
// ZooKeeper as Mesos masters create them and checks the detector picks
// the lowest sequence and follows every change.
func TestDetectorFollowsTheLowestSequence(t *testing.T) {
	srv := zktest.Shared(t)
	u := zkURL(t, srv.Addr)
	d, last := detected(t, u) // before the group exists
	waitFor(t, "no leader while the path is missing", func() bool { return last() == "" })

	node1, withdraw1 := contend(t, u, "127.0.0.1:5051")
	waitFor(t, "master 1 leads", func() bool { return last() == "127.0.0.1:5051" })
	if want := u.Path + "/json.info_0000000000"; node1 != want {
		t.Errorf("first member %s, want %s (label json.info, sequence from 0)", node1, want)
	}
	_, withdraw2 := contend(t, u, "127.0.0.1:5052")
	contend(t, u, "127.0.0.1:5053")
	time.Sleep(200 * time.Millisecond)
	if got := last(); got != "127.0.0.1:5051" {
		t.Fatalf("after later members joined: leader %s, want the first still", got)
	}
	if m, ok := d.Leader(); !ok || m.ID != "master-127.0.0.1:5051" {
		t.Errorf("Leader() = %+v, %v", m, ok)
	}
	ch := d.Changed()
	withdraw1()
	waitFor(t, "master 2 leads after master 1 left", func() bool { return last() == "127.0.0.1:5052" })
	select {
	case <-ch:
	default:
		t.Error("Changed() channel not closed at the change")
	}
	withdraw2()
	waitFor(t, "master 3 leads", func() bool { return last() == "127.0.0.1:5053" })
}

// TestDetectorRejectsForeignLeaders: a lowest member with another label
// or unparsable data is no leader (ZooKeeperMasterDetectorProcess::fetched
// fails on an unknown label and on bad JSON).
func TestDetectorRejectsForeignLeaders(t *testing.T) {
	srv := zktest.Shared(t)
	for name, node := range map[string]struct{ label, data string }{
		"protobuf label":  {"info", "\x0a\x01x"},
		"bad JSON":        {"json.info", "{"},
		"no address JSON": {"json.info", `{"id":"x"}`},
	} {
		t.Run(name, func(t *testing.T) {
			u := zkURL(t, srv.Addr)
			conn, _, err := rawConn(srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			p := ""
			for _, el := range []string{"webfarm-test", u.Path[len("/webfarm-test/"):]} {
				p += "/" + el
				conn.Create(p, nil, 0, gozk.WorldACL(gozk.PermAll))
			}
			if _, err := conn.Create(u.Path+"/"+node.label+"_", []byte(node.data), gozk.FlagEphemeral|gozk.FlagSequence, gozk.WorldACL(gozk.PermAll)); err != nil {
				t.Fatal(err)
			}
			contend(t, u, "127.0.0.1:5051") // a good master behind it
			_, last := detected(t, u)
			time.Sleep(300 * time.Millisecond)
			if got := last(); got != "" && got != "(none yet)" {
				t.Errorf("leader %q behind a foreign lowest member, want none", got)
			}
		})
	}
}

// fakeMasters is a Masters whose leader the test moves.
type fakeMasters struct {
	mu   sync.Mutex
	urls []string
	lead int
}

func (f *fakeMasters) URLs() []string { return f.urls }
func (f *fakeMasters) URL() string    { f.mu.Lock(); defer f.mu.Unlock(); return f.urls[f.lead] }
func (f *fakeMasters) failover()      { f.mu.Lock(); f.lead = (f.lead + 1) % len(f.urls); f.mu.Unlock() }

func TestPublishFollowsFailover(t *testing.T) {
	srv := zktest.Shared(t)
	u := zkURL(t, srv.Addr)
	ms := &fakeMasters{urls: []string{"http://127.0.0.1:6001", "http://127.0.0.1:6002", "http://127.0.0.1:6003"}, lead: 1}
	p, err := zk.Publish(testCtx(t), u, ms, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, last := detected(t, u)
	waitFor(t, "the leader 6002 published", func() bool { return last() == "127.0.0.1:6002" })
	for _, want := range []string{"127.0.0.1:6003", "127.0.0.1:6001", "127.0.0.1:6002"} {
		ms.failover()
		waitFor(t, want+" published after failover", func() bool { return last() == want })
	}
	// Every master is a member, each once, with its MasterInfo. A failover
	// re-contends the members below the new leader (withdraw, then join
	// again), so the set is whole only once the last of them has rejoined.
	conn, _, err := rawConn(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var children []string
	waitFor(t, "three members after the last failover", func() bool {
		children, _, err = conn.Children(u.Path)
		return err == nil && len(children) == 3
	})
	seen := map[string]bool{}
	for _, c := range children {
		data, _, err := conn.Get(u.Path + "/" + c)
		var m zk.MasterInfo
		if err != nil || json.Unmarshal(data, &m) != nil {
			t.Fatalf("member %s: %q, %v", c, data, err)
		}
		hp, _ := m.HostPort()
		seen[hp] = true
	}
	if len(seen) != 3 {
		t.Errorf("members' masters %v: want the three", seen)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no leader after Close", func() bool { return last() == "" })
}
