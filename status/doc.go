// Package status holds the web farm's live status: a [Board] that records
// the controller's decisions, the balancer's pool and the client load, and
// serves them as a self-contained HTML page (chart of request rate, desired
// and running tasks; a deployment's progress and both versions' request and
// 5xx rates; the latest decisions with their reasons; the pool as the
// balancer sees it), a JSON document the page polls, and Prometheus
// metrics.
//
// Wire it between the balancer and its users, and give it the controller's
// reports:
//
//	board := status.NewBoard(status.Options{Logger: log})
//	bal = board.Watch(bal) // records pool, membership changes, drain times, stats errors; keeps lb.ConnCounter, lb.Weighter, lb.Resumer
//	ctl := &scaler.Controller{Balancer: bal, Policy: policy, Runner: sched, OnDecision: board.Record}
//	srv := &http.Server{Handler: board.Handler()} // "/", "/api/status", "/metrics"
//
// The page loads nothing from outside the server: its script and styles are
// inline and the chart is inline SVG.
//
// Metrics (all prefixed webfarm_): requests_per_second, tasks_desired,
// tasks_running, scaling_decisions_total{direction}, balancer_stats_errors_total,
// membership_changes_total{op} (add, drain, resume, remove), drain_duration_seconds (from Drain to Remove),
// pool_backends{state}, client_requests_total{result} while a load
// generator reports to the board, and, during a deployment,
// deploy_requests_total{version}, deploy_errors_total{version} (5xx),
// deploy_requests_per_second{version}, deploy_error_ratio{version},
// deploy_tasks{version} and deploy_traffic_share{version} (the new
// version's).
//
// A deployment (mesos.Scheduler.Deploy or Canary) shows on the page, in
// /api/status (Snapshot.Deploy) and in /metrics when its caller copies
// mesos.DeployStatus into a [Deployment] and gives it to
// [Board.SetDeployment] every second or so; the board turns the
// versions' cumulative request and 5xx counters into rates:
//
//	st, _ := sched.DeployStatus("web")
//	err := board.SetDeployment(status.Deployment{State: string(st.State), From: st.From, To: st.To,
//		Desired: st.Desired, Old: st.Old, New: st.New, Ready: st.Ready, Share: st.Share,
//		OldRequests: st.OldRequests, OldErrors: st.OldErrors, NewRequests: st.NewRequests, NewErrors: st.NewErrors})
//
// A farm of several services (mesos.Scheduler.AddService) has one board
// per service, each with Options.Service set and all on one Registry:
// every series then carries a service label, one /metrics serves them all,
// and each board's Handler serves its service's page and /api/status
// (mount them under a path per service).
package status
