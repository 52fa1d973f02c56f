package zk_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/webfarm/webfarm/internal/testenv"
	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/mesos/zk"
)

const zkSecret = "zk-s3cret-pw"

// TestCredentials: with user:pass in the zk:// URL, members are created
// under digest auth with Mesos's EVERYONE_READ_CREATOR_ALL ACL: anyone
// reads them (a detector without credentials finds the leader), only
// their creator may change them.
func TestCredentials(t *testing.T) {
	srv := zktest.Shared(t)
	plain := authURL(t, srv.Addr)
	withCreds := plain
	withCreds.User, withCreds.Password = "jo", zkSecret
	node, _ := contend(t, withCreds, "127.0.0.1:5051")
	_, last := detected(t, plain)
	waitFor(t, "a detector without credentials reads the leader", func() bool { return last() == "127.0.0.1:5051" })

	conn, _, err := rawConn(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acl, _, err := conn.GetACL(node)
	if err != nil || len(acl) != 2 || acl[0].Scheme != "world" || acl[0].Perms != gozk.PermRead || acl[1].Scheme != "digest" || acl[1].Perms != gozk.PermAll {
		t.Errorf("ACL of %s = %+v, %v; want world:anyone read, digest:jo all", node, acl, err)
	}
	if _, err := conn.Set(node, []byte("{}"), -1); !errors.Is(err, gozk.ErrNoAuth) {
		t.Errorf("Set without credentials = %v, want ErrNoAuth", err)
	}
}

// TestZKPasswordNotLogged runs a scheduler on a zk:// URL with a password
// through discovery, logging at debug level, and checks the password
// appears neither in its log nor in its Config's log value.
func TestZKPasswordNotLogged(t *testing.T) {
	srv := zktest.Shared(t)
	c := startCluster(t, 1)
	u := authURL(t, srv.Addr)
	u.User, u.Password = "jo", zkSecret
	publish(t, u, c)
	var mu sync.Mutex
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := farmConfig(t, "zk://jo:"+zkSecret+"@"+srv.Addr+u.Path, lbtest.NewMemory())
	cfg.Logger = log
	log.Info("config", "cfg", cfg)
	s, err := mesos.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	runScheduler(t, s)
	waitFor(t, "subscribed through ZooKeeper with credentials", s.Connected)
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if leaks := testenv.SecretLeaks(buf.String(), "jo", zkSecret); len(leaks) > 0 {
		t.Errorf("the ZooKeeper password leaked: %v", leaks)
	}
	if !bytes.Contains(buf.Bytes(), []byte("jo:xxxxx@")) {
		t.Errorf("log has no redacted zk:// URL:\n%s", buf.String())
	}
}

// authURL is zkURL under a root of its own: the parents a Contend with
// credentials creates are writable by their creator only.
func authURL(t *testing.T, addr string) zk.URL {
	u := zkURL(t, addr)
	u.Path = "/webfarm-auth-test" + u.Path
	return u
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
