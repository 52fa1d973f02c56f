package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/webfarm/webfarm/internal/webserver"
)

// serveMain is the web-server task: the scheduler launches this binary
// with the argument "serve" (an argument vector, no shell). It listens on
// 127.0.0.1:$PORT0 until SIGTERM, then finishes the requests in flight
// (at most 5 s). It answers "/" with the task's ID, "/healthz" with "ok"
// and "/slow?ms=N" after N ms (at most 10 s): a session that keeps a
// drained backend busy.
func serveMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	port, err := webserver.Port(os.Getenv, "PORT0")
	if err != nil {
		log.Error("serve: bad task configuration", "err", err)
		return 2
	}
	h := webserver.NewHandler(webserver.HandlerOptions{TaskID: os.Getenv("MESOS_TASK_ID"), SlowMax: 10 * time.Second})
	return webserver.Main(context.Background(), log, func(ctx context.Context) error {
		return webserver.ListenAndServe(ctx, webserver.Config{
			Addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Handler:     h,
			IdleTimeout: 30 * time.Second,
		})
	})
}
