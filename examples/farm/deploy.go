package main

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/status"
)

// deployLater waits d, then rolls the farm's "web" service to a new
// version of its task (the same command with FARM_VERSION=2 in its
// environment: a new template) one task at a time, and shows the
// deployment's progress on the status page ("deploy") until it ends or
// ctx does.
func deployLater(ctx context.Context, sched *mesos.Scheduler, tmpl mesos.TaskTemplate, d time.Duration,
	board *status.Board, log *slog.Logger) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(d):
	}
	tmpl.Env = maps.Clone(tmpl.Env)
	if tmpl.Env == nil {
		tmpl.Env = map[string]string{}
	}
	tmpl.Env["FARM_VERSION"] = "2"
	if err := sched.Deploy(ctx, "web", tmpl, mesos.DeployOptions{MaxSurge: 1}); err != nil {
		log.Error("deploy", "err", err)
		board.SetInfo("deploy", "failed to start: "+err.Error())
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st, err := sched.DeployStatus("web")
		if err != nil {
			board.SetInfo("deploy", err.Error())
			return
		}
		board.SetInfo("deploy", st.String())
		if st.State == mesos.DeployDone {
			log.Info("deployment ended", "status", st.String())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
