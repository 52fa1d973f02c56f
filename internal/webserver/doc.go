// Package webserver is the built-in web server that the farm examples run as
// their Mesos task. The scheduler launches the example's own binary as
// `<exe> serve ...` (an argument vector, no shell) with the port from the
// offer in $PORT0; the task answers on that port until SIGTERM, then
// finishes the requests in flight and exits.
//
// A task's main function reads the port, builds the handler and runs the
// server until a shutdown signal:
//
//	func serveMain() int {
//		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
//		port, err := webserver.Port(os.Getenv, "PORT0")
//		if err != nil {
//			log.Error("bad task configuration", "err", err)
//			return 2
//		}
//		taskID := os.Getenv("MESOS_TASK_ID")
//		return webserver.Main(context.Background(), log, func(ctx context.Context) error {
//			return webserver.ListenAndServe(ctx, webserver.Config{
//				Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
//				Handler: webserver.NewHandler(webserver.HandlerOptions{TaskID: taskID}),
//			})
//		})
//	}
//
// The pieces:
//   - [Port] reads and checks the port from the environment Mesos sets.
//   - [NewHandler] answers "/" naming the task (plain text, or an HTML page
//     with an X-Served-By header), "/healthz" with "ok", and optionally
//     "/slow?ms=N" after N ms, a request that keeps a draining backend busy.
//   - [Serve] and [ListenAndServe] run an [net/http.Server] with header and
//     idle timeouts until ctx is done, then shut it down gracefully within
//     [Config.ShutdownTimeout].
//   - [Main] turns SIGTERM and SIGINT into ctx cancellation and the result
//     into a process exit code.
package webserver
