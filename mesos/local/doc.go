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
// SUBSCRIBED (framework ID, heartbeat interval), then OFFERS, UPDATE,
// RESCIND, FAILURE, MESSAGE, ERROR and HEARTBEAT events. Other calls answer
// 202 and act asynchronously; invalid calls answer 400 (no or wrong
// Mesos-Stream-Id, missing framework_id, ACK uuid not 16 bytes, unknown
// framework), 403 (framework not subscribed), 401 (basic auth on and the
// credentials missing or wrong), 405, 406, 415 or 501 with a message, as
// the Mesos master does. Supported calls: SUBSCRIBE, TEARDOWN, ACCEPT
// (LAUNCH, LAUNCH_GROUP), DECLINE (filters.refuse_seconds, default 5 s),
// REVIVE, SUPPRESS, KILL (kill_policy.grace_period), SHUTDOWN, ACKNOWLEDGE,
// RECONCILE (explicit and implicit), MESSAGE and UPDATE_FRAMEWORK; REQUEST
// and the inverse-offer and operation calls are accepted and ignored. ACCEPT
// with any other offer operation (RESERVE, CREATE, ...) is refused with 501
// before anything is applied.
//
// Each agent offers cpus, mem and a share of Config.Ports (agents run on the
// same host, so their port ranges do not overlap); offered and used
// resources are accounted, so offers shrink as tasks launch and grow as they
// end. Offers go to one framework at a time, in turn. Every port is probed
// when it is about to be offered (a bind and listen on 127.0.0.1, closed at
// once; about 10 µs a port): a port something else on the host holds (a
// server of another test, another cluster's task) is left out of the offer
// and logged at Debug ("ports busy on 127.0.0.1; not offered"), and probed
// again at the agent's next offer. A probe is trusted for a second, so
// offers in quick succession do not probe again; a port taken between the
// probe and the task's bind still makes that task fail, as on a real agent.
//
// Command tasks (TaskInfo.command) run as /bin/sh -c VALUE (shell true, the
// default) or VALUE with ARGUMENTS (shell false), in their own process group,
// in a sandbox directory (MESOS_SANDBOX) with stdout and stderr files, with
// the agent's environment plus MESOS_* variables plus command.environment.
// Mesos sets no PORT variables: pass ports in command.environment. Updates
// are TASK_STARTING, TASK_RUNNING, then TASK_FINISHED (exit 0),
// TASK_FAILED or TASK_KILLED. KILL sends SIGTERM to the process group and
// SIGKILL after the grace period (the KILL's kill_policy, else the task's,
// else Config.KillGracePeriod). Frameworks with the TASK_KILLING_STATE
// capability get TASK_KILLING first. HTTP, TCP and COMMAND health checks run
// as the command executor runs them; changes of health are sent as
// TASK_RUNNING updates with `healthy` set, and a task failing
// consecutive_failures checks is killed. A task that outlives its
// max_completion_time fails with REASON_MAX_COMPLETION_TIME_REACHED.
// Offers to MULTI_ROLE frameworks carry allocation_info for their role.
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
// refused with TASK_ERROR), reservations, quota, weights, volumes, inverse
// offers, maintenance, general checks (TaskInfo.check), archive extraction
// by the fetcher, the operator API, real leader election (there is
// one state behind all masters), executor authentication and agent recovery.
package local
