package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// startTaskProcess starts a command task: as a process, or, with
// Config.InProcessTasks, as an in-process HTTP responder. c.mu must be
// held.
func (c *Cluster) startTaskProcess(t *task, env map[string]string) (*process, error) {
	onExit := func(p *process) { c.commandExited(t, p) }
	if c.cfg.InProcessTasks {
		return startResponder(c.ctx, &t.info, onExit)
	}
	return startProcess(t.info.Command, t.sandbox, env, onExit)
}

// startResponder runs a task as an HTTP server in this process on
// 127.0.0.1 at the task's PORT0 (from its command's environment, else the
// first port of its ports resource). It answers every request with
// "port P host H\n" (H from the HOST variable, else 127.0.0.1): what the
// package's tests' web-server tasks answer, at the cost of a listener and
// a goroutine instead of a process. SIGTERM shuts it down gracefully
// (requests in flight finish), SIGKILL at once; either way onExit runs
// once the server stopped. It has no exit status, so a responder that
// ends without a kill is reported TASK_FAILED, as a process that died of
// a signal would be.
func startResponder(ctx context.Context, ti *mesos.TaskInfo, onExit func(*process)) (*process, error) {
	env := map[string]string{}
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		env[v.Name] = v.GetValue()
	}
	port := env["PORT0"]
	if port == "" {
		port = firstPort(ti.Resources)
	}
	if port == "" {
		return nil, errors.New("in-process task: no PORT0 and no ports resource")
	}
	host := env["HOST"]
	if host == "" {
		host = "127.0.0.1"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return nil, fmt.Errorf("in-process task: %w", err)
	}
	body := []byte("port " + port + " host " + host + "\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	p := &process{done: make(chan struct{})}
	stopped := make(chan struct{}) // closed once a stop finished
	var once sync.Once
	// stop runs without blocking its caller (who holds the cluster's
	// lock): SIGKILL closes every connection, anything else lets requests
	// in flight finish first (up to 2 s).
	p.stop = func(sig syscall.Signal) {
		go func() {
			defer once.Do(func() { close(stopped) })
			if sig == syscall.SIGKILL {
				_ = srv.Close()
				return
			}
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
		}()
	}
	go func() {
		if err := srv.Serve(ln); errors.Is(err, http.ErrServerClosed) {
			<-stopped // Serve returns as Shutdown begins: wait for the end
		}
		close(p.done)
		if onExit != nil {
			onExit(p)
		}
	}()
	return p, nil
}

// firstPort returns the lowest port of the first ports resource, or "".
func firstPort(rs []mesos.Resource) string {
	for _, r := range rs {
		if r.Name == "ports" && r.Ranges != nil && len(r.Ranges.Range) > 0 {
			return strconv.FormatUint(r.Ranges.Range[0].Begin, 10)
		}
	}
	return ""
}
