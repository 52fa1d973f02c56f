package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/webfarm/webfarm/internal/webserver"
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
	prefix  string // "" or "/name/": the page is also served under it (a service routed by path)
}

// prefixRE is what -prefix accepts: one path segment between slashes.
var prefixRE = regexp.MustCompile(`^/[A-Za-z0-9_.-]+/$`)

// parseServe reads the task's flags and environment. getenv is os.Getenv
// outside tests.
func parseServe(args []string, getenv func(string) string, stderr io.Writer) (serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := serveConfig{}
	fs.StringVar(&c.backend, "backend", backendGo, "web server: go (built in) or apache (Apache httpd in the foreground)")
	fs.StringVar(&c.bind, "bind", "127.0.0.1", "address to listen on; the port is $PORT0")
	fs.StringVar(&c.apache, "apache2", "/usr/sbin/apache2", "the apache2 binary, for -backend apache")
	fs.StringVar(&c.prefix, "prefix", "", "also serve the page under this path, /name/ (HAProxy routes a service's requests by path prefix)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	if c.backend != backendGo && c.backend != backendApache {
		return c, fmt.Errorf("serve: -backend %q: want %q or %q", c.backend, backendGo, backendApache)
	}
	if c.prefix != "" && !prefixRE.MatchString(c.prefix) {
		return c, fmt.Errorf("serve: -prefix %q: want /name/ (letters, digits, '-', '_', '.')", c.prefix)
	}
	if ip := net.ParseIP(c.bind); ip == nil {
		return c, fmt.Errorf("serve: -bind %q is not an IP address", c.bind)
	}
	port, err := webserver.Port(getenv, "PORT0", "PORT")
	if err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	c.port = port
	c.taskID = getenv("MESOS_TASK_ID")
	if c.taskID == "" {
		c.taskID = "port-" + strconv.Itoa(port)
	}
	c.dir = getenv("MESOS_SANDBOX")
	return c, nil
}

// serveMain runs the web-server task until SIGTERM or SIGINT and returns
// the process exit code: 2 for a bad configuration, 1 if the web server
// failed, 0 after a graceful stop.
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
	return webserver.Main(context.Background(), log.With("task", c.taskID), func(ctx context.Context) error {
		if c.backend == backendApache {
			return runApache(ctx, c, log)
		}
		return runGoServer(ctx, c, log)
	})
}

// runGoServer serves the farm's page (HTML naming the task, with an
// X-Served-By header; "/healthz" answers "ok") on c.bind:c.port until ctx
// is done, then finishes the requests in flight (up to 5 s).
func runGoServer(ctx context.Context, c serveConfig, log *slog.Logger) error {
	return webserver.ListenAndServe(ctx, webserver.Config{
		Addr:    net.JoinHostPort(c.bind, strconv.Itoa(c.port)),
		Handler: withPrefix(c.prefix, webserver.NewHandler(webserver.HandlerOptions{TaskID: c.taskID, HTML: true})),
		Log:     log.With("task", c.taskID, "backend", backendGo),
	})
}

// withPrefix serves h at the root and, if prefix is set, under prefix too
// ("/api/" answers as "/" does).
func withPrefix(prefix string, h http.Handler) http.Handler {
	if prefix == "" {
		return h
	}
	mux := http.NewServeMux()
	mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), h))
	mux.Handle("/", h)
	return mux
}
