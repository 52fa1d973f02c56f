package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/status"
)

// deployVersionEnv is the environment variable whose value makes the new
// task template of -deploy-after (the same command with
// WEBFARM_VERSION=2): a new template, hence a new version.
const deployVersionEnv = "WEBFARM_VERSION"

// deployLater waits until the service serves, then d, then rolls it to a
// new version of tmpl (tmpl with WEBFARM_VERSION=2 in its environment) one
// surge task at a time, under whatever load runs. Every second until the
// deployment ends (or ctx does) it feeds the board's deployment section
// and "deploy" line, and it logs each step (a task started, ready or
// gone). It returns the last status it read, and whether the deployment
// started.
//
// examples/farm's deployLater does the same for its farm; both are kept
// short rather than shared, as examples import only public packages.
func deployLater(ctx context.Context, sched *mesos.Scheduler, service string, tmpl mesos.TaskTemplate, d time.Duration,
	board *status.Board, log *slog.Logger) (last mesos.DeployStatus, started bool) {
	// Count d from when the service first serves: a deployment with no
	// task up yet would have no old version to compare with.
	if err := waitServing(ctx, sched, 1, time.Hour); err != nil {
		return last, false
	}
	select {
	case <-ctx.Done():
		return last, false
	case <-time.After(d):
	}
	tmpl.Env = maps.Clone(tmpl.Env)
	if tmpl.Env == nil {
		tmpl.Env = map[string]string{}
	}
	tmpl.Env[deployVersionEnv] = "2"
	if err := sched.Deploy(ctx, service, tmpl, mesos.DeployOptions{MaxSurge: 1}); err != nil {
		log.Error("deploy: failed to start", "service", service, "err", err)
		board.SetInfo("deploy", "failed to start: "+err.Error())
		return last, false
	}
	log.Info("deploy: started", "service", service, "version", mesos.TemplateVersion(tmpl), "env", deployVersionEnv+"=2")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	logged := ""
	for {
		st, err := sched.DeployStatus(service)
		if err != nil {
			log.Warn("deploy: status", "service", service, "err", err)
			board.SetInfo("deploy", err.Error())
			return last, true
		}
		last = st
		line := st.String()
		board.SetInfo("deploy", line)
		if err := board.SetDeployment(boardDeployment(st)); err != nil {
			log.Warn("status page: deployment", "err", err)
		}
		if st.State == mesos.DeployDone {
			log.Info("deploy: ended", "service", service, "status", line)
			return last, true
		}
		if step := fmt.Sprint(st.State, st.New, st.Ready, st.Old, st.Desired); step != logged { // a step, not each second's counters
			log.Info("deploy: progress", "service", service, "status", line)
			logged = step
		}
		select {
		case <-ctx.Done():
			return last, true
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
