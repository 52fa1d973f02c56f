// Package local is an embedded Apache Mesos master with agents, for trying a
// Mesos framework on one machine. It is a server: schedulers reach it over
// HTTP at /api/v1/scheduler exactly as they reach a real master (v1
// scheduler HTTP API, JSON or protobuf, RecordIO event stream), and tasks
// run as local processes in per-task sandbox directories.
//
// Usage:
//
//	c, err := local.Start(ctx, local.Config{Agents: 2, Logger: slog.Default()})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	// point any v1 scheduler (mesos-go's httpsched, ours in package mesos)
//	// at c.URL(), e.g. http://127.0.0.1:41234/api/v1/scheduler
//	for _, t := range c.Tasks() {
//		fmt.Println(t.TaskID, t.State)
//	}
//
// # What the master does
//
// SUBSCRIBE answers 200 with a RecordIO stream and a Mesos-Stream-Id header:
// SUBSCRIBED (framework ID, heartbeat interval), at once a first HEARTBEAT,
// then OFFERS, UPDATE, RESCIND, FAILURE, MESSAGE, ERROR and HEARTBEAT
// events. Other calls answer 202 (UPDATE_FRAMEWORK 200) and act
// asynchronously. Supported calls: SUBSCRIBE, TEARDOWN, ACCEPT (LAUNCH,
// LAUNCH_GROUP, RESERVE, UNRESERVE), DECLINE (filters.refuse_seconds, default 5 s), REVIVE,
// SUPPRESS, KILL (kill_policy.grace_period), SHUTDOWN, ACKNOWLEDGE,
// RECONCILE (explicit and implicit), MESSAGE and UPDATE_FRAMEWORK; REQUEST
// and the inverse-offer and operation calls are accepted and ignored. ACCEPT
// with any other offer operation (CREATE, DESTROY, ...) is refused with 501
// before anything is applied.
//
// Requests are checked as Master::Http::scheduler (src/master/http.cpp)
// and validation::scheduler::call::validate (src/master/validation.cpp)
// check them, in their order and with their status codes and messages:
// 401 (Config.Auth on: missing or wrong basic credentials, realm
// "mesos-master-scheduler"), 307 or 503 from masters that do not lead, 405
// (with Allow: POST), a Content-Type compared exactly with
// "application/json" or "application/x-protobuf" (missing: 400; anything
// else, "; charset=utf-8" included: 415), a body that parses into a Call
// with every required field (400 "Failed to parse body into Call
// protobuf", or for JSON "Failed to convert JSON into Call protobuf:
// Missing required fields: subscribe.framework_info.user, ..."; JSON keys
// are exact proto field names, null is unset, an unknown enum name unsets
// the field), then validation (400 "Failed to validate scheduler::Call:
// ...": no type, a SUBSCRIBE whose framework_id differs from
// framework_info.id, no framework_id, a missing call body, an ACK uuid that
// is no UUID, a FrameworkInfo principal other than the authenticated one),
// 406 for a SUBSCRIBE no encoding of which is acceptable, then the
// framework (400 unknown, 403 not subscribed), the Mesos-Stream-Id header
// (SUBSCRIBE must not carry one; every other call must carry the current
// one, present even if empty counts), and 501 for an UNKNOWN call. A
// SUBSCRIBE whose FrameworkInfo the master refuses (an invalid role or ID,
// a failover_timeout beyond int64 nanoseconds, a removed framework, a
// changed principal) gets 200 and a single ERROR event.
//
// RECONCILE (and KILL of an unknown task) answers as Master::reconcile
// does: a known task in its status_update_state (the state of the oldest
// update the scheduler has not acknowledged, never a later one), an
// unknown task TASK_GONE on a registered agent, TASK_UNREACHABLE on a
// stopped one and TASK_UNKNOWN on no or an unknown agent, for
// PARTITION_AWARE frameworks; TASK_LOST for the others. TEARDOWN closes
// the stream without RESCIND events and kills the framework's tasks.
//
// Each agent offers cpus, mem and a share of Config.Ports (agents run on the
// same host, so their port ranges do not overlap); offered and used
// resources are accounted, so offers shrink as tasks launch and grow as they
// end. Every port is probed
// when it is about to be offered (a bind and listen on 127.0.0.1, closed at
// once; about 10 µs a port): a port something else on the host holds (a
// server of another test, another cluster's task) is left out of the offer
// and logged at Debug ("ports busy on 127.0.0.1; not offered"), and probed
// again every allocation cycle (a port free again rejoins the agent and, as grown resources do, lifts a refusal filter). A probe is trusted for a second, so
// offers in quick succession do not probe again; a port taken between the
// probe and the task's bind still makes that task fail, as on a real agent.
//
// Command tasks (TaskInfo.command) run as /bin/sh -c VALUE (shell true, the
// default) or VALUE with ARGUMENTS (shell false), in their own process group,
// in a sandbox directory (MESOS_SANDBOX) with stdout and stderr files, with
// the agent's environment plus MESOS_* variables plus command.environment.
// Mesos sets no PORT variables: pass ports in command.environment. Updates
// are TASK_STARTING, TASK_RUNNING, then TASK_FINISHED (exit 0),
// TASK_FAILED or TASK_KILLED, each with the container_status an agent adds
// (container ID, executor PID, IP 127.0.0.1). KILL sends SIGTERM to the process group and
// SIGKILL after the grace period (the KILL's kill_policy, else the task's,
// else Config.KillGracePeriod). Frameworks with the TASK_KILLING_STATE
// capability get TASK_KILLING first. HTTP, TCP and COMMAND health checks run
// as the command executor runs them (src/checks/health_checker.cpp): every
// failed check outside the grace period is a TASK_RUNNING update with
// healthy=false, a passing one is reported (healthy=true) only first and
// after failures, and the failure reaching consecutive_failures (default
// 3) kills the task, whose TASK_KILLED has healthy=false and no reason. A
// task that outlives its
// max_completion_time fails with REASON_MAX_COMPLETION_TIME_REACHED.
// Offers to MULTI_ROLE frameworks carry allocation_info for their role.
//
// # Roles, weights, quota and reservations
//
// Frameworks have roles: FrameworkInfo.role, or FrameworkInfo.roles with
// the MULTI_ROLE capability (a framework gets one offer per agent and
// role). The allocator follows HierarchicalAllocatorProcess::__allocate
// (src/master/allocator/mesos/hierarchical.cpp) and the DRF sorter
// (src/master/allocator/mesos/sorter/drf/sorter.cpp): every allocation
// cycle (Config.AllocationInterval, and at once when resources are freed
// or a framework subscribes or revives) takes the agents in random order
// and offers each to roles in order of weighted dominant share (the
// largest fraction of the cluster's cpus or mem the role holds in offers
// and tasks, divided by its Config.Weights entry, default 1; ties go to
// the role allocated to fewer times, then by name), and within a role to
// its frameworks in the same order. A first stage gives roles with an
// unsatisfied Config.Quota guarantee unreserved cpus and mem up to the
// guarantee; the second stage gives the rest, minus the headroom: enough
// unreserved resources stay unallocated that every quota role's
// unsatisfied guarantee (guarantee - its reservations - its unreserved
// allocation) can still be met, whether or not that role has a framework
// that wants them. Suppressed and disconnected frameworks get nothing;
// refusal filters and the 0.01 cpus / 32 MiB minimum apply. Shares are
// recounted from every offer, task and executor at each allocation when
// two or more framework-role pairs want offers or quota is set (O(tasks));
// with one, there is nothing to choose and the count is skipped.
//
// RESERVE and UNRESERVE in ACCEPT make and remove dynamic reservations as
// Master::_accept does: each operation is checked as
// validation::operation::validate (src/master/validation.cpp; the
// resources must be dynamically reserved, allocated to the framework's
// role and reserved for it, with the framework's principal) and its
// conversion must fit what is left of the offers; a failing one is
// dropped (logged, and an UPDATE_OPERATION_STATUS event with
// OPERATION_ERROR when it has an id) and the rest of the ACCEPT goes on,
// in order, so a LAUNCH may use what a RESERVE before it reserved. The
// reservation stays on the agent after the offer and its tasks: reserved
// resources are offered only to their role. Cluster.Reservations lists
// them per agent and role (free, offered or used), as the master's state
// does. Inside, resources use the post-refinement format (Resource.reservations, as in the v1 API);
// frameworks without the RESERVATION_REFINEMENT capability are offered the
// older format (role and reservation) and may send either.
//
// LAUNCH_GROUP runs each task of the group as a process under an emulated
// default executor: a task that does not finish kills the rest of its group.
// Tasks with a custom ExecutorInfo (LAUNCH) start that executor as a
// process: its command's URIs are fetched into the sandbox (http, https,
// file; archives are not extracted), it gets the MESOS_* environment of a
// real agent (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, ...) and speaks the
// v1 executor API to its agent, which forwards its updates and the
// scheduler's acknowledgements. mesos-go's example-executor runs unmodified.
//
// Agent-originated updates carry a uuid and are resent (Config.StatusUpdateRetry,
// doubling up to 10 minutes) until acknowledged, one at a time per task;
// master-generated ones (reconciliation, invalid offers or tasks, lost
// agents) carry none and need no acknowledgement.
//
// A framework whose stream ends is disconnected: its offers are rescinded,
// calls get 403, and its tasks are killed when failover_timeout expires
// unless it subscribes again with its framework ID first, which keeps its
// tasks and resends unacknowledged updates. A second SUBSCRIBE with the ID
// of a connected framework fails the old stream over (ERROR "Framework
// failed over").
//
// # Masters
//
// Config.Masters > 1 starts standby master endpoints (URLs) that answer 307
// with the leader's protocol-relative Location (//127.0.0.1:PORT/api/v1/scheduler),
// as non-leading Mesos masters do; FailoverMaster moves the leadership to
// the next one, after Config.ElectionDelay of 503 "No leader elected".
//
// # Faults
//
// FailoverMaster drops every stream but keeps the state; StopAgent makes an
// agent's tasks TASK_LOST (TASK_UNREACHABLE for PARTITION_AWARE frameworks)
// and RestartAgent brings it back empty under a new agent ID;
// KillTaskProcess signals a task's process from outside. Tasks and Agents
// return snapshots for assertions.
//
// # Security
//
// Everything listens on 127.0.0.1 only. Config.Auth turns on HTTP basic
// authentication of schedulers; Config.TLS serves the scheduler API over
// HTTPS. Tasks run as the user of the process calling Start (command.user is
// ignored): run only trusted frameworks.
//
// # Not emulated
//
// Containers and images (ContainerInfo other than MESOS without image is
// refused with TASK_ERROR), static reservations (agent --resources),
// reservation refinement (more than one reservation on a resource), quota
// limits (only guarantees), hierarchical role trees (a role "a/b" is a
// role of its own: no sharing with "a"), SUPPRESS and REVIVE of some roles
// only (they act on all of a framework's roles), per-role filters (a
// refusal covers the agent for every role of the framework), the
// operator API's /reserve, /quota and /weights (use Config), offer
// operation feedback for successful operations, volumes, inverse
// offers, maintenance, offer constraints, the --roles whitelist, the
// --root_submissions flag, authorization (ACLs), rate limiting, general
// checks (TaskInfo.check), archive extraction by the fetcher, the operator
// API, real leader election (there is one state behind all masters),
// master recovery (no 503 "Master has not finished recovery", and no
// reconciliation answer is held back for agents that have not
// re-registered), executor authentication and agent recovery.
//
// Deliberate differences from a real master:
//   - bodies over 4 MiB get 413 (the master reads any size);
//   - the detail after "Failed to parse body into JSON: " and of JSON type
//     mismatches is Go's wording, not stout's (missing required fields,
//     "Expecting a JSON object" and "Not expecting a JSON <kind> for field"
//     are the master's);
//   - TASK_ERROR messages follow validation.cpp's for single tasks, but
//     resources in them print as mesos-go prints them, and task-group and
//     executor problems have mesos/local's own words;
//   - a NaN failover_timeout is refused (the master's Duration::create lets
//     it through);
//   - ACCEPT with an operation other than LAUNCH, LAUNCH_GROUP, RESERVE or
//     UNRESERVE gets 501;
//     REQUEST, the inverse-offer and the operation calls are accepted and
//     do nothing;
//   - health checks of tasks run by a custom executor are that executor's
//     job and are not run by the agent.
package local
