package webserver

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// ShutdownSignals are the signals [Main] turns into a graceful shutdown:
// SIGTERM (what Mesos sends to kill a task) and SIGINT (Ctrl-C).
var ShutdownSignals = []os.Signal{syscall.SIGTERM, os.Interrupt}

// Main runs serve with a context that is canceled when ctx is done or one
// of [ShutdownSignals] arrives, and returns the process exit code: 0 if
// serve returned nil, 1 (the error logged to log as "web server failed")
// otherwise. Further signals during the shutdown are ignored (Mesos follows
// SIGTERM with SIGKILL after the task's grace period). A nil log logs to
// os.Stderr.
func Main(ctx context.Context, log *slog.Logger, serve func(ctx context.Context) error) int {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(ctx, ShutdownSignals...)
	defer stop()
	if err := serve(ctx); err != nil {
		log.Error("web server failed", "err", err)
		return 1
	}
	return 0
}
