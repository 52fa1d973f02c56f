package webserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults for the zero fields of [Config].
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultShutdownTimeout   = 5 * time.Second
)

// Config configures [Serve] and [ListenAndServe]. Handler is required;
// every other zero field means the default documented on it.
type Config struct {
	// Addr is the host:port ListenAndServe listens on (TCP). Serve ignores
	// it.
	Addr string
	// Handler answers the requests. Required; see [NewHandler].
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's headers. If zero,
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long an idle keep-alive connection stays open. It
	// should exceed the balancer's own idle time for server connections,
	// so the balancer closes them first. If zero, DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown once ctx is done:
	// requests still running after it are cut off and Serve returns an
	// error. If zero, DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Log receives "web server listening" (with addr) and "web server
	// stopped" at Info level. If nil, nothing is logged.
	Log *slog.Logger
}

// withDefaults checks c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	if c.Handler == nil {
		return c, errors.New("webserver: Config.Handler is nil")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReadHeaderTimeout", &c.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{"IdleTimeout", &c.IdleTimeout, DefaultIdleTimeout},
		{"ShutdownTimeout", &c.ShutdownTimeout, DefaultShutdownTimeout},
	} {
		switch {
		case *d.v < 0:
			return c, fmt.Errorf("webserver: Config.%s is %v: want ≥ 0 (0 means %v)", d.name, *d.v, d.def)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// ListenAndServe listens on TCP c.Addr and serves as [Serve] does. A bad
// Config is refused before anything listens.
func ListenAndServe(ctx context.Context, c Config) error {
	if _, err := c.withDefaults(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("webserver: %w", err)
	}
	return Serve(ctx, ln, c)
}

// Serve answers requests on ln with c.Handler until ctx is done, then
// stops accepting, closes idle connections and waits up to
// c.ShutdownTimeout for the requests in flight. It closes ln.
//
// It returns nil after a clean shutdown, an error wrapping
// [context.DeadlineExceeded] if requests were still running at the
// timeout (they are cut off), or the listener's error if serving stopped
// before ctx was done.
func Serve(ctx context.Context, ln net.Listener, c Config) error {
	c, err := c.withDefaults()
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           c.Handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
	}
	c.Log.Info("web server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("webserver: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("webserver: shutdown: requests still running after %v: %w", c.ShutdownTimeout, err)
	}
	c.Log.Info("web server stopped")
	return nil
}
