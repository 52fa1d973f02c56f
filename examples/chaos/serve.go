package main

import (
	"context"
	"errors"
	"fmt"
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

// serveMain is the web-server task: the scheduler launches this binary
// with the argument "serve" (an argument vector, no shell). It listens on
// 127.0.0.1:$PORT0 until SIGTERM, then finishes the requests in flight.
func serveMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	port, err := strconv.Atoi(os.Getenv("PORT0"))
	if err != nil || port < 1 || port > 65535 {
		log.Error("serve: $PORT0 is not a port number", "PORT0", os.Getenv("PORT0"))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), os.Getenv("MESOS_TASK_ID")); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// serve answers "/" with the task's ID, "/healthz" with "ok" and
// "/slow?ms=N" after N ms on addr
// until ctx is done, then shuts down gracefully (at most 5 s).
func serve(ctx context.Context, addr, taskID string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "served by "+taskID+"\n")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	// /slow?ms=N answers after N ms (at most 10 s): a session that keeps a
	// drained backend busy.
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 10_000 {
			http.Error(w, "ms: want 0–10000", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "slow answer from "+taskID+"\n")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
