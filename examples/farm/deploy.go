package main

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/status"
)

// deployLater waits until the farm serves, then d, then rolls the farm's "web" service to a new
// version of its task (the same command with FARM_VERSION=2 in its
// environment: a new template) one task at a time, and shows the
// deployment's progress on the status page until it ends or ctx does:
// a one-line summary ("deploy") and, every second, the board's
// deployment section (both versions' request and 5xx rates).
func deployLater(ctx context.Context, sched *mesos.Scheduler, tmpl mesos.TaskTemplate, d time.Duration,
	board *status.Board, log *slog.Logger) {
	// Count d from when the farm first serves: a deployment of a farm
	// with no task up yet would have no old version to compare with.
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	for {
		if st, err := sched.Status(ctx); err == nil && st.Running > 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
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
		if err := board.SetDeployment(boardDeployment(st)); err != nil {
			log.Warn("status page: deployment", "err", err)
		}
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

// boardDeployment is st as the status board takes it (status does not
// import mesos).
func boardDeployment(st mesos.DeployStatus) status.Deployment {
	return status.Deployment{State: string(st.State), From: st.From, To: st.To, Rollback: st.Rollback, Reason: st.Reason,
		Desired: st.Desired, Old: st.Old, New: st.New, Ready: st.Ready, Share: st.Share,
		OldRequests: st.OldRequests, OldErrors: st.OldErrors, NewRequests: st.NewRequests, NewErrors: st.NewErrors}
}
