package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Backend kinds of the web-server task.
const (
	backendGo     = "go"
	backendApache = "apache"
	backendAuto   = "auto"
)

// serveConfig is the web-server task's configuration, from its flags and
// the environment Mesos gives it.
type serveConfig struct {
	backend string // backendGo or backendApache
	bind    string // address to bind; the port comes from $PORT0
	port    int
	taskID  string
	apache  string // apache2 binary
	dir     string // where the apache config goes
}

// parseServe reads the task's flags and environment. getenv is os.Getenv
// outside tests.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := serveConfig{}
	fs.StringVar(&c.backend, "backend", backendGo, "web server: go (built in) or apache (Apache httpd in the foreground)")
	fs.StringVar(&c.bind, "bind", "127.0.0.1", "address to listen on; the port is $PORT0")
	fs.StringVar(&c.apache, "apache2", "/usr/sbin/apache2", "the apache2 binary, for -backend apache")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if c.backend != backendGo && c.backend != backendApache {
		return c, fmt.Errorf("serve: -backend %q: want %q or %q", c.backend, backendGo, backendApache)
	}
	if ip := net.ParseIP(c.bind); ip == nil {
		return c, fmt.Errorf("serve: -bind %q is not an IP address", c.bind)
	}
	p := getenv("PORT0")
	if p == "" {
		p = getenv("PORT")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return c, fmt.Errorf("serve: $PORT0 = %q: want a port number 1–65535 (the scheduler sets it from the offer)", p)
	}
	c.port = port
	c.taskID = getenv("MESOS_TASK_ID")
	if c.taskID == "" {
		c.taskID = "port-" + p
	}
	c.dir = getenv("MESOS_SANDBOX")
	return c, nil
}

// serveMain runs the web-server task until SIGTERM or SIGINT and returns
// the process exit code.
func serveMain(args []string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	c, err := parseServe(args, os.Getenv, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		log.Error("bad task configuration", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.backend == backendApache {
		err = runApache(ctx, c, log)
	} else {
		err = runGoServer(ctx, c, log)
	}
	if err != nil {
		log.Error("web server failed", "task", c.taskID, "err", err)
		return 1
	}
	return 0
}

// runGoServer serves a small static page on c.bind:c.port until ctx is
// done, then finishes the requests in flight (up to 5 s).
func runGoServer(ctx context.Context, c serveConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(c.bind, strconv.Itoa(c.port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: pageHandler(c.taskID), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	log.Info("web server listening", "task", c.taskID, "addr", ln.Addr().String(), "backend", backendGo)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("web server stopped", "task", c.taskID)
	return nil
}

// pageHandler serves the farm's page: "/" says which task answered;
// "/healthz" answers "ok".
func pageHandler(taskID string) http.Handler {
	body := []byte("<!doctype html><title>webfarm</title><h1>Hello from the web farm</h1><p>served by task " +
		html.EscapeString(taskID) + "</p>\n")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Served-By", taskID)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}
