// Command chaos runs the web farm under a steady load and injects faults
// into it, asserting that no client request fails except where a backend
// is killed without warning.
//
// The farm is the real thing on one machine: the embedded Mesos master
// (mesos/local) with HTTP basic authentication over TLS from a throwaway
// CA, a real HAProxy driven through its runtime API (lb/haproxy), the
// framework scheduler (mesos), the controller with a target-tracking policy
// (scaler), web-server tasks that are this binary run as "chaos serve",
// and internal/loadgen sending a steady rate through HAProxy's frontend.
//
// Usage:
//
//	go run ./examples/chaos                 # the full suite (make chaos runs the test form)
//	go run ./examples/chaos -bounded        # the form go test runs
//	go run ./examples/chaos -events 100 -rate 200 -seed 42 -logs /tmp/chaos.log
//
// Scenarios, in order, on one farm:
//
//   - scale events: the count changes up and down (50; 10 bounded), each
//     waited for until Mesos, HAProxy and the scheduler agree;
//   - master failover during scale-up; and during scale-down, while the
//     two drains are held open by slow requests: the drains span the
//     failover, no other task is chosen as a victim (before reconciliation
//     or after), the slow requests finish, and no task is launched;
//   - an agent lost with tasks on it: they leave HAProxy within one poll
//     and are replaced;
//   - the webfarm process (HAProxy driver, scheduler, controller) stopped
//     mid-scale-down while backends drain, and a new one started on the
//     same state file: the drains resume, no task is launched, no server is
//     left in HAProxy without a task;
//   - HAProxy's stats socket unavailable: the controller holds, never
//     scales down or to zero;
//   - HAProxy restarted by its operator (a new process, -sf the old one):
//     the new process reads the pool from haproxy.cfg, where the driver
//     keeps it (lb/haproxy Config.ConfigFile), so no request fails and its
//     pool equals the live tasks as soon as it answers; counters reset
//     without a negative or huge rate, and nothing scales down;
//   - a backend task SIGKILLed from outside: out of HAProxy within one
//     poll, replaced.
//
// Every scenario also bounds the load it ran under: the p99 latency of the
// requests completed during it (at most 1 s) and the requests the
// open-loop schedule skipped because every worker was busy (at most a
// quarter second of load), besides its failed requests.
//
// Then security checks on the same farm: a scheduler call without
// credentials gets 401, HAProxy's admin socket is mode 0600, tasks run
// from an argument vector (their /proc cmdline), and the Mesos secret
// appears in no log line, neither plain nor as the base64 of
// principal:secret that a logged basic-auth header would carry. Each scenario prints what it injected and what it
// measured; a summary table ends the run. The exit code is 1 when any
// assertion failed.
//
// The test (TestChaos) runs the bounded form, or the full one with
// WEBFARM_CHAOS=full (make chaos); WEBFARM_CHAOS_SEED replays a
// scale-event sequence. docs/operations.md lists what the runs measured.
package main
