// Package mesos is the web farm's Mesos framework scheduler, built on
// mesos-go's v1 HTTP scheduler API (httpcli, httpsched, scheduler/calls,
// extras/scheduler/controller).
//
// A [Scheduler] runs N copies of a web-server task and keeps a
// load balancer's pool (an [lb.Balancer]) in step with them. It implements
// [scaler.Runner], so a [scaler.Controller] sets N from the balancer's
// request rate:
//
//	sched, err := mesos.New(ctx, mesos.Config{
//		Masters:   []string{"http://127.0.0.1:5050"},
//		StateFile: "/var/lib/webfarm/scheduler.json",
//		Balancer:  balancer, // lb/haproxy, lb/lvs, lb/elb, lbtest.Memory …
//		Task: mesos.TaskTemplate{
//			Command: []string{"/usr/sbin/apache2", "-DFOREGROUND"},
//			CPUs:    0.5, Mem: 256,
//			HealthCheck: &mesos.HealthCheck{Path: "/healthz"},
//		},
//	})
//	if err != nil { ... } // errors name the bad field and wrap ErrInvalid
//	go sched.Run(ctx)     // subscribes, reconnects with backoff, until ctx is done
//	for _, t := range sched.Tasks() { ... } // ID, agent, host, addr, state, healthy, in LB
//	ctl := &scaler.Controller{Balancer: balancer, Policy: policy, Runner: sched}
//	go ctl.Run(ctx)
//
// # Many services in one farm
//
// One Scheduler (one Mesos framework, one event stream, one set of
// offers) runs any number of services, each with its own task template,
// balancer pool, placement caps and desired count. Config's own Task and
// Balancer describe the default service, which the Scheduler's
// Status/SetDesired/scaler.Runner methods drive, so a one-service program
// is unchanged; Config.Services and [Scheduler.AddService] add more:
//
//	api, err := sched.AddService(ctx, mesos.ServiceConfig{
//		Name: "api", Balancer: apiBackend, // e.g. its own HAProxy backend
//		Task: mesos.TaskTemplate{Command: []string{"/srv/api"}, CPUs: 1, Mem: 512},
//	})
//	ctl := &scaler.Controller{Balancer: apiBackend, Policy: apiPolicy, Runner: api}
//
// Policy stays outside: each [Service] handle is a [scaler.Runner], and
// each service gets its own [scaler.Controller] (its own policy, Min and
// Max). [Scheduler.UpdateService] changes a service's settings (new
// launches use the new template; running tasks keep theirs) and
// [Scheduler.RemoveService] drops its count to 0, drains and kills its
// tasks as on any scale-down, and forgets the service once they ended.
//
// Offers are shared: one offer may carry tasks of several services. When
// the cluster is short, each next task cut from an offer goes to the
// service furthest below its desired count as a fraction of it (running
// plus starting over desired; 3 of 10 goes before 1 of 2), ties to the
// next service in round-robin order; so shortfalls are met in proportion
// to the desired counts and no service with a shortfall starves. A broken
// command's relaunch backoff holds back only its own service, and services
// converge side by side, so a balancer that hangs delays only its own
// service's membership changes within a round.
//
// A service's task IDs are its name + "." + 16 hex digits, and its tasks
// carry the label webfarm.service (ServiceLabel) = name, so a restarted
// scheduler knows whose each task is. The state file keeps each service's
// count and tasks (the default service's at the top level, as before);
// reconciliation, restart adoption and pool repair work per service, each
// against its own balancer. Services should be added before Run (in
// Config.Services, or AddService before calling Run) so that their tasks
// are adopted after a restart: a task no service claims when the master
// reports it is killed.
//
// One read per balancer serves all services: give each service's
// controller a group member in place of its balancer, and the services
// that share a balancer share its reads. haproxy.Group answers every
// backend from one `show stat`; lvs.Group reads every IPVS virtual
// service of a kernel in one pass over one netlink socket (one dump of
// the services, then each one's real servers: the kernel lists real
// servers per service only); elb.Group puts the target groups' queries
// into shared CloudWatch GetMetricData calls of up to 500 queries, so N
// target groups cost ⌈N/500⌉ calls a period. A member that fails alone
// (closed, its service deleted outside, its call failed) does not blind
// the others.
//
// # Sharing the cluster
//
// Config.Role is the framework's role (legacy FrameworkInfo.role). Give
// the farm a role of its own, beside the batch frameworks' roles, and a
// quota guarantee on the master (/quota) sized for the tasks it must
// reach without waiting for batch tasks to end: Max × (Task.CPUs,
// Task.Mem) for the whole range (the unused part stays idle, as the
// master holds it back as headroom), or the usual peak, above which a
// rise waits for batch tasks to end. Resources reserved for the role
// (dynamic reservations) are used like any other, and before the rest.
//
// Config.ReserveMin (ServiceConfig.ReserveMin per service; set it to the
// policy's Min) makes the farm keep that many tasks' cpus and mem
// dynamically reserved for its role, so that it gets back to Min at once
// when its tasks die while batch frameworks fill the cluster, even
// without quota: freed reserved resources are offered to its role only.
// The RESERVE (the framework's role and principal; pre-refinement format,
// Resource.role + Resource.reservation, as the scheduler does not declare
// RESERVATION_REFINEMENT, and Resource.reservations when it does) goes
// before the LAUNCH in the ACCEPT that launches tasks, from the offer's
// unreserved cpus and mem, while the farm holds less than its services'
// ReserveMin × (Task.CPUs, Task.Mem); tasks take reserved resources first.
// What it holds beyond that (ReserveMin lowered by UpdateService, a
// service removed, [Scheduler.Stop], which waits for it) is UNRESERVEd when
// the master offers it back, once no task uses it; the farm keeps offers
// revived for that while it holds such excess. [Scheduler.Reserved]
// reports what it holds; the count is kept in memory and learnt from
// offers after a restart (reserve.go). TestLocalReserveMin: with
// ReserveMin 2, both farm tasks killed in a full cluster, the farm is back
// at 2 in 0.14–0.20 s; without, 4.99–5.03 s (the batch tasks' length; six
// runs each); Min 2→1 gives one task's worth to the batch framework
// 0.04–1.03 s later.
//
// The farm declines what it cannot use with
// DeclineFor and SUPPRESSes while it has its count, so it never hoards
// offers. TestLocalSharingWithBatch measures the difference on mesos/local
// (README, "Sharing the cluster").
//
// # Deployments
//
// [Scheduler.Deploy] rolls a service to a new task template: at most
// MaxSurge tasks above the desired count start at once, each joins the
// balancer once healthy and slow-started, and only then is an old task
// drained and killed (MaxUnavailable lets old tasks go first). The
// desired count stays the total of both versions, so the policy keeps
// scaling during a deployment; scale-downs take old tasks first. Each
// task records its template's [TemplateVersion]; the deployment's
// progress and both templates are in the state file, so a restarted
// scheduler (or a standby taking over) finishes it. PauseDeploy,
// ResumeDeploy and Rollback steer it; DeployStatus and WaitDeploy
// report. A deployment rolls back by itself when MaxFailures new tasks
// fail (end before serving, stay unhealthy past HealthTimeout) or, with
// ErrorMargin, when the new version's 5xx rate (lb.BackendStats.Errors:
// HAProxy's per-server hrsp_5xx) is worse than the old one's by the
// margin; the failing version is drained at once. [Scheduler.Canary]
// runs a few new tasks at a set share of the traffic through
// [lb.Weighter] weights (recomputed as the policy scales either
// version) until Promote or Rollback; its doc says what ELB allows.
// DeployStatus (and its String, which the demo's status page shows)
// counts both versions' requests and 5xx from the balancer's
// per-backend counters; copied into status.Board.SetDeployment, the
// status page, /api/status and /metrics show both versions' request and
// 5xx rates.
// Tested in deploy_test.go (a simulated cluster) and
// deploy_local_test.go (mesos/local; real HAProxy: 6 tasks rolled under
// load with no failed request, a failing version rolled back after 11
// requests reached it, a 10 % canary whose version answers 500s aborted
// automatically after 10–11 requests reached it, a 10 % canary served
// 9.9 % and 10.4 %).
// BenchmarkDeploy100 (make bench) rolls 100 in-process tasks on
// mesos/local with MaxSurge 10 in 0.38–0.59 s on this project's 2-core
// build machine (WEBFARM_BENCH=1 go test -run '^$' -bench Deploy100
// -benchtime 3x ./mesos/).
//
// # Scale
//
// Measured on this project's 2-core build machine (AMD EPYC, shared),
// with WEBFARM_BENCH=1 go test -run '^$' -bench 'Scale10000|TenServices'
// -benchtime 1x ./mesos/ (make bench), on mesos/local with 200 agents and
// in-process tasks (local.Config.InProcessTasks), the cluster in a child
// process:
//
//   - BenchmarkScale10000: 0 → 1,000 tasks running and in the balancer in
//     1.3 s, → 10,000 in 8.9 s; a restarted scheduler reconciles and adopts
//     the 10,000 in 0.23 s; 10,000 → 0 (drained, killed, ended) in 12.3 s;
//     2,600 events/s handled over the run; the scheduler's live heap grows
//     linearly: 621 B per task at 1,000 tasks, 535 B at 10,000. (Measured
//     at commit ab94730. mesos/local's DRF allocator made the scale-down
//     slow for a while, recounting every task at each allocation; it now
//     counts only when two or more frameworks want offers or quota is
//     set, and a run after that fix measured → 1,000 in 1.06 s, → 10,000
//     in 8.4 s, → 0 in 10.8 s, 2,900 events/s.)
//
//   - BenchmarkTenServices: 10 services scaled at once from 0 to 100 tasks
//     each in 1.4 s (the last service done 2 ms after the first), and back
//     to 0 in 0.27 s.
//
//   - One read for all services (lb/haproxy BenchmarkReadAll100x100): a
//     service's [scaler.Controller] reads Stats through a haproxy.Group
//     member, and the group answers every member from one `show stat` of
//     all backends (haproxy.ReadAll). 100 backends × 100 servers on one
//     real HAProxy: totals only (haproxy.Config.TotalsOnly, all a
//     controller needs) 1.0 ms and 0.27 ms of this process's CPU per read
//     of all 100 (0.03 % of a core at one read a second); with a row per
//     server (10,000 rows) 77 ms and 27 ms of CPU, no faster than 100
//     separate reads (60 ms, 29 ms): parsing the rows is the cost, not the
//     round trips. 100 scaler.Controllers (one per service, TargetTracking,
//     polling every second) through one TotalsOnly Group for 10 s
//     (BenchmarkControllers100): 0.21 % of one core for the whole process,
//     1.0 HAProxy read a second.
//
// What bounds these is the work per task, not per task pair: an OFFERS
// event is cut into tasks from counts taken once per event, and the
// converge loop, which walks every task, runs at most once per 10 ms
// however many events arrive.
//
// # What it does
//
//   - Scale-up: offers that fit the task (cpus, mem, ports, at most
//     MaxPerHost tasks per agent hostname and MaxPerAgent per agent) are accepted and tasks launched
//     with the command as an argument vector (no shell) and HOST, PORT and
//     PORT0…PORTn in the environment. Offers it does not use are declined
//     with a long refuse_seconds filter; it SUPPRESSes offers when it has
//     enough tasks and REVIVEs when it needs more.
//   - Membership: a task joins the balancer once RUNNING (and healthy, when
//     a health check is set), its weight ramped in over SlowStart when the
//     balancer implements [lb.Weighter]. A task that stops serving leaves
//     the pool at once; one that dies is removed and replaced. Tasks that
//     keep dying before they prove themselves (a broken command) are
//     relaunched with exponential backoff (RelaunchBackoff), not at the rate
//     offers arrive; a task that stays STAGING past LaunchTimeout is killed
//     and replaced.
//   - Scale-down: victims are chosen (tasks not serving yet first, then the
//     fewest active connections when the balancer implements
//     [lb.ConnCounter], else the youngest; see [VictimOrder]), drained until
//     idle or DrainTimeout, then killed (with the task's kill grace period)
//     and removed from the balancer.
//   - Scale-up while draining: when the count rises again before a
//     victim's KILL was sent, the scheduler puts the victim back into
//     service instead of launching a new task (instant capacity, no
//     start-up delay, no task churn), if the balancer implements
//     [lb.Resumer] ("backend resumed"). Only the shortfall is resumed, the
//     most recently drained victim first (its drain ran the shortest time:
//     it kept the most connections and warm state, and the scale-up undoes
//     the scale-down in reverse order); offers launch the rest, and offers
//     that arrive before the resume are not used for the victims it will
//     resume. A victim must still run (and pass its health check); one
//     killed for a launch timeout is never resumed. Without a Resumer the
//     victim is drained and killed as before and a new task launched.
//   - Mesos protocol: every call carries the framework ID; every update with
//     a uuid is acknowledged (only those); every (re)subscription starts
//     with explicit and implicit reconciliation, and no task is launched
//     before it is answered. The scheduler follows the leading master (HTTP
//     307) for every call, not just SUBSCRIBE, moves to the next configured
//     master when one is unreachable, re-subscribes with backoff, and drops
//     a subscription that misses MissedHeartbeats heartbeats (dropping
//     pooled connections, which may lead into the same partition, and
//     ending the calls sent under it, which would otherwise hold the next
//     SUBSCRIBE and the converge loop back for RequestTimeout). A
//     framework the master removed (failover timeout expired) registers
//     anew.
//   - Restarts: StateFile keeps the framework ID, the desired count and the
//     tasks' addresses. A restarted scheduler re-subscribes as the same
//     framework and rebuilds its view from reconciliation plus
//     Balancer.Backends: entries with no live task are removed, live tasks
//     missing from the pool are added, a backend found draining resumes its
//     scale-down, and no task is launched twice.
//   - Pool repair: the scheduler does not trust its own record of the
//     pool. Every PoolSyncInterval (5s by default), and at once when a
//     balancer that failed answers again, it reads Balancer.Backends: a
//     serving task missing from the pool (HAProxy restarted without its
//     dynamic servers, an IPVS service recreated, a target group edited
//     by hand) is added again through the same health gating and slow
//     start as a new one ("backend re-added"); an entry of ours with no
//     live task is removed ("pool repair: no live task"); a user's static
//     servers and backends being drained or killed are left alone.
//   - Secrets: [Config], [TaskTemplate] and [Scheduler] implement
//     [log/slog.LogValuer] (and fmt's Stringer and GoStringer): Secret and
//     Task.Env values log and print as "REDACTED". New logs the whole
//     configuration that way at debug level.
//   - Robustness against the master: every event stream is read through a
//     RecordIO guard (internal/recordio.Guard) before mesos-go sees it.
//     mesos-go v0.0.11's reader panics on a record length of 2^63 or more,
//     so a faulty or hostile master, or anyone on a path without TLS, could
//     otherwise crash the process with one line; behind the guard such a
//     length, one over the 4 MiB frame limit, or a malformed one ends the
//     stream with an error ("master sent a malformed event stream", logged
//     at Error) and the scheduler re-subscribes with backoff. A panic while
//     decoding or handling an event ends the subscription the same way, and
//     one in the converge loop (a balancer driver's, say) skips that tick;
//     each is logged at Error with its stack ("recovered from a panic").
//
// Logs go to Config.Logger (log/slog), one line per membership change
// ("backend added", "backend draining", "backend removed", "task chosen for
// removal", "killing task", "launching task").
//
// # Tests
//
// The package's tests run the scheduler against mesos/local (a v1 master
// and agents on loopback; tasks are real processes) and, when haproxy is
// installed, against a real HAProxy through lb/haproxy. TestLocalChaos runs
// 8 random fault steps; WEBFARM_CHAOS=full runs 40 (make chaos).
// TestMaliciousStreamResubscribes answers SUBSCRIBE from a fake master on
// 127.0.0.1 with the length that crashes mesos-go (and other bad ones) and
// checks the scheduler logs it and subscribes again. BenchmarkLaunch200
// launches and registers 200 tasks (make bench). TestLocalPoolSync edits
// the balancer behind the scheduler's back and waits for the repair;
// TestLocalHAProxyRestartRepaired restarts a real HAProxy whose driver
// does not restore its pool, and waits for traffic to reach every task
// again;
// TestLocalServicesHAProxy runs three services in one framework behind one
// real HAProxy (a backend each, routed by path) under bounded load, scales
// them independently and at once, restarts the scheduler mid-way, and
// requires no failed request and every task adopted;
// TestLocalSecretNotLogged runs with authentication at debug level and
// searches the log for the secret. FuzzLoadState fuzzes the state-file
// parser (seed corpus in testdata/fuzz/FuzzLoadState).
package mesos
