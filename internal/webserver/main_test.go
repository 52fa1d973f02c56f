package webserver

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary a web-server task (see childMain).
const childEnv = "WEBSERVER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// childMain is a task as the examples write it: Main around Serve, with
// the shutdown timeout from $SHUTDOWN. It prints "addr ADDR" once it
// listens and "started PATH" when a request starts, so the test knows when
// to signal.
func childMain() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	shutdown, err := time.ParseDuration(os.Getenv("SHUTDOWN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("addr %s\n", ln.Addr())
	h := NewHandler(HandlerOptions{TaskID: "child", SlowMax: time.Minute})
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return Main(context.Background(), log, func(ctx context.Context) error {
		return Serve(ctx, ln, Config{ShutdownTimeout: shutdown, Log: log, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Printf("started %s\n", r.URL.Path)
			h.ServeHTTP(w, r)
		})})
	})
}

// child is a running task process.
type child struct {
	cmd      *exec.Cmd
	lines    *bufio.Scanner
	stderr   bytes.Buffer // read only once the process has been waited for
	done     chan error   // the result of cmd.Wait, put back by each reader
	reapOnce sync.Once
	addr     string
}

func startChild(t *testing.T, shutdown time.Duration) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(exe, "-test.run=^$")}
	c.cmd.Env = append(os.Environ(), childEnv+"=1", "SHUTDOWN="+shutdown.String())
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.lines = bufio.NewScanner(out)
	c.done = make(chan error, 1)
	t.Cleanup(func() { c.kill() })
	c.addr = strings.TrimPrefix(c.expect(t, "addr "), "addr ")
	return c
}

// expect reads the child's next line and fails unless it starts with
// prefix. The child's stdout closes when it exits, so this cannot hang
// past the process.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	if !c.lines.Scan() {
		err := c.lines.Err()
		t.Fatalf("child ended before printing %q: %v\nstderr:\n%s", prefix, err, c.kill())
	}
	if l := c.lines.Text(); strings.HasPrefix(l, prefix) {
		return l
	}
	t.Fatalf("child printed %q, want %q…", c.lines.Text(), prefix)
	return ""
}

// kill ends the child if it still runs, waits for it and returns its
// stderr. It may be called more than once.
func (c *child) kill() string {
	_ = c.cmd.Process.Kill()
	c.reap()
	err := <-c.done
	c.done <- err
	return c.stderr.String()
}

// reap starts, once, the goroutine that drains the child's stdout (so it
// never blocks on it) and waits for it.
func (c *child) reap() {
	c.reapOnce.Do(func() {
		go func() {
			for c.lines.Scan() {
			}
			c.done <- c.cmd.Wait()
		}()
	})
}

// wait waits (at most 20 s) for the child to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	c.reap()
	select {
	case err := <-c.done:
		c.done <- err
	case <-time.After(20 * time.Second):
		t.Fatalf("child did not exit within 20s of SIGTERM; stderr:\n%s", c.kill())
	}
	return c.cmd.ProcessState.ExitCode()
}

// TestMainSIGTERM checks the task's life end to end in a real process:
// SIGTERM while a request is in flight, the request completes, the
// process exits 0. With a shutdown timeout shorter than the request, the
// request is cut off and the process exits 1 saying why.
func TestMainSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("runs subprocesses; skipped with -short")
	}
	tests := []struct {
		name     string
		shutdown time.Duration
		slowMS   int
		wantCode int
		wantOK   bool   // the request in flight gets its answer
		wantLog  string // in the child's stderr
	}{
		{"drains the request in flight", 20 * time.Second, 300, 0, true, `msg="web server stopped"`},
		{"cuts off a request past the timeout", 100 * time.Millisecond, 60_000, 1, false, `msg="web server failed"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, tc.shutdown)
			type result struct {
				body string
				err  error
			}
			res := make(chan result, 1)
			go func() {
				cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
				resp, err := cl.Get(fmt.Sprintf("http://%s/slow?ms=%d", c.addr, tc.slowMS))
				if err != nil {
					res <- result{"", err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				res <- result{string(b), err}
			}()
			c.expect(t, "started /slow")
			if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := c.wait(t); code != tc.wantCode {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.wantCode, c.stderr.String())
			}
			r := <-res
			if ok := r.err == nil && r.body == "slow answer from child\n"; ok != tc.wantOK {
				t.Errorf("request in flight at SIGTERM = %q, %v; want answered: %v", r.body, r.err, tc.wantOK)
			}
			if !strings.Contains(c.stderr.String(), tc.wantLog) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantLog, c.stderr.String())
			}
		})
	}
}
