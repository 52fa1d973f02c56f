package zk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gozk "github.com/go-zookeeper/zk"

	"github.com/webfarm/webfarm/internal/webserver"
	"github.com/webfarm/webfarm/internal/zktest"
	"github.com/webfarm/webfarm/mesos/zk"
)

// webServerEnv makes the test binary a web-server task (serving on
// 127.0.0.1:$PORT until SIGTERM), for the tests under load.
const webServerEnv = "WEBFARM_ZK_TEST_WEBSERVER"

// TestMain shares one real ZooKeeper server among the package's tests.
func TestMain(m *testing.M) {
	if os.Getenv(webServerEnv) == "1" {
		os.Exit(webserver.Main(context.Background(), nil, func(ctx context.Context) error {
			return webserver.ListenAndServe(ctx, webserver.Config{Addr: "127.0.0.1:" + os.Getenv("PORT"),
				Handler: webserver.NewHandler(webserver.HandlerOptions{TaskID: os.Getenv("MESOS_TASK_ID")})})
		}))
	}
	zktest.Main(m)
}

var pathSeq atomic.Int64

// zkURL returns a zk:// URL on the shared server under a path no other
// test uses.
func zkURL(t testing.TB, addr string) zk.URL {
	t.Helper()
	raw := fmt.Sprintf("zk://%s/webfarm-test/%s-%d", addr, strings.ReplaceAll(t.Name(), "/", "_"), pathSeq.Add(1))
	u, err := zk.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

// rawConn is a plain go-zookeeper session, for what a test does by hand.
func rawConn(addr string) (*gozk.Conn, <-chan gozk.Event, error) {
	return gozk.Connect([]string{addr}, 2*time.Second, gozk.WithLogInfo(false), gozk.WithLogger(discard{}))
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// publish registers ms's masters in ZooKeeper at u until the test ends.
func publish(t *testing.T, u zk.URL, ms zk.Masters) {
	t.Helper()
	pub, err := zk.Publish(testCtx(t), u, ms, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
}
