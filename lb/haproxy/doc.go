// Package haproxy is the webfarm driver for HAProxy: it changes a backend's
// servers live through HAProxy's runtime API (the stats socket), never by
// reloading, and reads its request counters. With Config.ConfigFile it
// also keeps the pool in haproxy.cfg, so that an operator's restart or
// reload starts with it.
//
//	b, err := haproxy.New(ctx, haproxy.Config{
//		Socket:     "/run/haproxy/admin.sock",   // `stats socket … level admin`
//		Backend:    "webfarm",                   // `balance roundrobin`, no servers needed
//		ConfigFile: "/etc/haproxy/haproxy.cfg",  // optional: restarts keep the pool
//		Restore:    true,                        // re-add what a restart lost anyway
//	})
//	if err != nil {
//		return err // a *haproxy.ConfigError says what is wrong and how to fix it
//	}
//	defer b.Close()
//	err = b.Add(ctx, lb.Backend{ID: "web.7f3c", Addr: netip.MustParseAddrPort("127.0.0.1:31000")})
//	...
//	err = b.Drain(ctx, "web.7f3c") // no new connections
//	for n, _ := b.ActiveConns(ctx, "web.7f3c"); n > 0; n, _ = b.ActiveConns(ctx, "web.7f3c") { ... }
//	err = b.Remove(ctx, "web.7f3c")
//
// The driver is built on github.com/haproxytech/client-native/v6's runtime
// client, and implements [lb.Balancer], [lb.ConnCounter], [lb.Weighter] and
// [lb.Resumer] (`set server … state ready` puts a draining server back).
// It needs HAProxy 2.6 or later.
//
// # The HAProxy configuration
//
// The driver needs a stats socket at level admin and a backend with a
// dynamic algorithm (roundrobin, leastconn, random, first, or a hash with
// hash-type consistent; not static-rr); the backend needs no server lines.
// This is the configuration webfarm recommends, the one its tests run
// (package internal/haproxyproc renders it; README.md says what each line
// buys, and a test checks that README, this block and the rendering agree):
//
//	global
//	    stats socket /run/haproxy/admin.sock mode 600 level admin
//	    stats timeout 30s
//	    hard-stop-after 15s
//	    maxconn 4096
//
//	defaults
//	    mode http
//	    timeout connect 5s
//	    timeout client 30s
//	    timeout server 30s
//	    timeout http-keep-alive 10s
//
//	frontend http-in
//	    bind 127.0.0.1:80
//	    option idle-close-on-response
//	    default_backend webfarm
//
//	backend webfarm
//	    balance roundrobin
//	    retries 3
//	    option redispatch
//
// A TCP stats socket (`stats socket ipv4@127.0.0.1:9999 level admin`) is
// reached with Config.Socket "tcp://127.0.0.1:9999"; client-native dials
// unix sockets only, so the driver speaks the same commands itself there.
// A TCP socket has no permissions: bind it to loopback at most. Never give
// the master CLI (`-S`): client-native's master mode hides every error on
// 2.6.
//
// New refuses a unix socket that every local user may write (connecting
// needs write permission, and the socket is at level admin): use
// `mode 600` (or 660 and a group), or set Config.AllowWorldWritableSocket.
// A group-writable socket is logged as a warning.
//
// New checks all of this and returns a [*ConfigError] naming the
// [Problem]: socket unreachable, socket writable by every local user,
// not level admin, backend (or frontend) missing, an algorithm that
// cannot take servers at run time (static-rr, or a hash without
// `hash-type consistent`), or a ConfigFile it cannot use.
//
// # Restarts and reloads: Config.ConfigFile
//
// Servers added through the runtime API live in the running process only.
// When HAProxy restarts or reloads (an operator, systemd, a package
// upgrade), the new process reads haproxy.cfg, and without more the
// backend starts empty: every request is answered 503 until the driver's
// next reading notices the restart and Config.Restore re-adds the pool.
// The chaos suite (examples/chaos) measured 89 to 94 failed requests per
// restart that way at 100 req/s with a 1 s poll; with ConfigFile, 0 of
// 500 (and 0 of 200 in each of 3 bounded runs at 40 req/s), the new
// process's pool equal to the live tasks as soon as it answered.
//
// Set Config.ConfigFile to the file HAProxy runs with and the driver
// writes the pool into it after every Add, Drain and Remove that changed
// HAProxy. It touches only the lines between two markers inside the
// managed backend's section, and adds the markers at the end of that
// section (after its last directive) the first time:
//
//	backend webfarm
//	    balance roundrobin
//	    retries 3
//	    option redispatch
//	    # webfarm: servers begin (written by lb/haproxy from the live pool; do not edit)
//	    server web.7f3c 127.0.0.1:31000 pool-max-conn -1 pool-purge-delay 5s
//	    server web.8a01 127.0.0.1:31002 pool-max-conn -1 pool-purge-delay 5s disabled
//	    server web.1_2Fx_h4kq2... 127.0.0.1:31004 pool-max-conn -1 pool-purge-delay 5s # id "web.1/x..."
//	    # webfarm: servers end
//
// How the file is kept:
//
//   - The lines use the server names and Config.ServerOptions of `add
//     server`, sorted by name. The keywords `add server` takes are server
//     keywords of haproxy.cfg too; the package's tests check written files
//     with `haproxy -c` (2.6.12) for the default options and for "check
//     inter 2s maxconn 100". A name that does not decode to its ID (a hashed long ID)
//     carries the ID in a comment, so a new driver maps it back.
//   - A draining server is written `disabled`: a new process keeps it in
//     maintenance, taking no new connections (its open ones stay with the
//     old process), until Remove deletes it. It does not come back ready.
//   - The file is replaced atomically (a temporary file in the same
//     directory, synced, renamed over it; mode and, where permitted, owner
//     kept; a symlink is followed, not replaced). Writes are serialised
//     with the membership changes. Everything outside the markers is
//     kept byte for byte; a CRLF file gets CRLF lines. A server whose name
//     a line outside the markers already defines is not written again.
//   - The driver never reloads or restarts HAProxy: the runtime API still
//     makes every change, and the file only matters to the next process.
//   - New checks that the file exists, holds the backend's section (`backend
//     <Backend>` or `listen <Backend>`) once, has both markers in order or
//     neither, and that the file and its directory are writable; then it
//     writes the current pool. A broken file is a [*ConfigError] with
//     ProblemConfigFile.
//   - If a write fails after HAProxy took the change, the change stands and
//     the call returns an error wrapping [ErrNotSaved]; the next write (or
//     a retry: the calls are idempotent) renders the whole pool again.
//   - After a restart the servers come from the file, and Stats' restart
//     detection with Restore re-adds only what is missing (a change that
//     raced the restart): Reading.Restored counts those, 0 normally. Keep
//     Restore on.
//
// Do not let another tool rewrite the backend's server lines between the
// markers; do not mix it with a generator that renders the whole file
// (internal/haproxyproc's SetServers, for one, overwrites the markers).
// Server weights set with SetWeight are not written.
//
// # Membership
//
//   - Add: `add server <backend>/<name> <addr> pool-max-conn -1
//     pool-purge-delay 5s` (Config.ServerOptions), then `enable health`
//     (Config.HealthCheck), then `set server … state ready`. A server added
//     at run time starts in maintenance; the driver never passes `enabled`,
//     which in 2.6.12 leaves the server out of the load-balancing tree
//     (haproxy/haproxy#2497). Add checks first, so it is idempotent even
//     when client-native re-sends a command after an I/O error.
//   - Drain: `set server … state drain`: no new connections, open ones
//     continue. ActiveConns reads the server's `scur`.
//   - Remove: `set server … state maint`, then `del server` once no
//     connection is attached (HAProxy refuses it before); after
//     Config.RemoveTimeout it shuts the remaining sessions.
//   - Servers already in the backend (after the driver's own restart, or
//     static ones) are adopted: listed by Backends, left alone by Add of the
//     same ID and address.
//
// Without `pool-max-conn`, a server added at run time in 2.6 keeps no idle
// server-side connections, and every request opens one: measured here,
// that cost half the throughput and took p99 from 12 to 31 ms while the
// pool changed (see Measured). The defaults make dynamic servers perform
// like static ones.
//
// # Server names
//
// A server's name derives from the backend ID (the Mesos task ID) and is a
// valid HAProxy identifier whatever the ID holds: letters, digits, '-',
// '.' and ':' are kept, every other byte (and '_') becomes _XX in hex, so
// distinct IDs never share a name and Backends reads the ID back from the
// name, also after the driver restarts. A name that would exceed 64 bytes
// is cut to 48 and ends in "_h" and 13 characters of the ID's SHA-256.
//
// # Statistics
//
// Stats reads `show info` and `show stat` in one round trip: Requests is
// the backend's req_tot (stot, sessions, in TCP mode), or the frontend's
// if Config.Frontend is set; Active is scur. These are exact cumulative
// counters: rates come from their deltas ([lb.Meter]), never from
// HAProxy's one-second rate fields. Queued is every request waiting for a
// server. HAProxy's backend qcur counts only those queued with no server
// assigned (roundrobin, leastconn… when every server is at its maxconn);
// a request bound to one server (balance uri, source, hdr…, cookie or
// stick-table persistence, use-server) waits in that server's own queue,
// its row's qcur, once that server is at its maxconn. So Queued is the
// backend's qcur plus every server row's qcur, whatever the server's
// state, and Backends[id].Queued is that server's own qcur. A server's
// Limit is its slim, the maxconn set in ServerOptions (or the config
// file), 0 if none: a server with Active ≥ Limit > 0 queues what is bound
// to it. (slim is the configured maxconn; with minconn and fullconn
// HAProxy may allow fewer at a time.) With Config.TotalsOnly, Stats asks
// for the frontend/backend rows alone (`show stat <proxy> <type> -1`),
// whose cost does not grow with the pool, and cannot see the servers'
// queues: Queued is then the backend's qcur alone. Otherwise it adds one
// row per server. [Balancer.Read] and
// [Balancer.Totals] return a [Reading] that also carries the process id
// and start time, and Restarted when HAProxy restarted or reloaded since
// the previous reading (the pid or start time changed, or the counter went
// down). A restart loses every counter and, without Config.ConfigFile,
// every server added at run time; with Config.Restore the reading that
// notices it re-adds the servers of this Balancer's pool that the new
// process lacks (not the draining ones).
//
// # Contexts
//
// Membership changes go through client-native, which takes no context
// and waits up to 30 s on a socket: the driver runs each call so that it
// returns as soon as ctx is done (the call then finishes in the
// background), never starts one once ctx is done, and serialises
// membership changes. The read-only `show` commands (listing, Stats) use
// the driver's own connection, which honours ctx directly and reads in
// 64 KiB chunks (client-native reads 1 KiB at a time; `show stat` with
// 1,000 servers took 7.1 ms through it and 4.5 ms this way).
//
// # Measured
//
// On this project's 2-core machine, shared with other builds (load average
// 10–20), with Debian's haproxy 2.6.12, backends and load generator on
// 127.0.0.1. Pool changes under load (`make bench`, BenchmarkPoolChanges:
// 20 changes between 2 and 6 servers, 32 keep-alive clients, closed loop;
// median [min–max] of 5 runs, the ways taking turns):
//
//	way                               failed   req/s                vs control   p99
//	control (no change)                    0   14081 [ 9592–16886]      —        12.2 ms
//	this driver (runtime API)              0   15158 [ 5292–18754]    +7.7 %     12.4 ms
//	  same, ServerOptions "none"           0    6647 [ 4727– 7486]   −52.8 %     31.5 ms
//	rewrite config + haproxy -sf           0    9716 [ 3818–16625]   −31.0 %     27.4 ms
//	rewrite config + master-worker USR2    0   10755 [ 5681–14317]   −23.6 %     19.6 ms
//
// The driver is within the noise of the control run; without
// pool-max-conn a dynamic server opens a connection per request and
// halves the throughput.
// Later, with a strict client (loadgen no longer lets Go's transport
// resend a request whose reused keep-alive connection was closed, so a
// dropped connection counts as failed) on a quiet machine (load average
// below 1), median of 3 rounds (`WEBFARM_BENCH=1 WEBFARM_BENCH_ROUNDS=3 go
// test -run '^$' -bench PoolChanges -benchtime 1x ./lb/haproxy`): control
// 25,105 req/s, p99 6.0 ms; driver 22,343 (−11.0 %), 7.0 ms; without pool
// options 13,488 (−46 %); -sf restart 22,047 (−12.2 %), 7.4 ms;
// master-worker reload 20,827 (−17.0 %), 8.0 ms; 0 failed in every way.
// Two more rounds of control and driver alone gave −4.1 % and 6.45 vs
// 6.20 ms: at one change every 300 ms the difference is within the
// machine's noise. The old ways drop nothing here because haproxyproc's
// configuration closes idle keep-alive connections cleanly (`option
// idle-close-on-response`, `hard-stop-after`); their cost is throughput and
// latency, and every
// restart loses the counters the scaler reads. (With the seed's plain
// config, wrk counted about 11 failures per restart, DESIGN.md.) The test
// TestPoolChangesUnderLoad also counts, on the backends, requests cut off
// while being served: 0 over 24 changes with requests in flight.
//
// The seed's plain configuration, measured: the ways restart-plain and
// reload-plain make the same 20 changes on haproxyproc's configuration
// without `option idle-close-on-response` and `hard-stop-after`
// (haproxyproc.Config.Plain; timeouts unchanged), as users of the original
// framework ran HAProxy. Load average 2.7, median [min–max] of 3 rounds
// (`WEBFARM_BENCH=1 WEBFARM_BENCH_ROUNDS=3 go test -run '^$' -bench
// PoolChanges -benchtime 1x ./lb/haproxy`, 153 s):
//
//	way             failed         per change   req/s                  p99
//	control         0              0            22586 [21321–24082]    6.85 ms
//	driver          0              0            21333 [19211–21960]    7.41 ms
//	driver-nopool   0              0            13091 [13063–13755]    7.71 ms
//	restart         0              0            20495 [17740–21606]    8.35 ms
//	reload          0              0            20509 [19249–21909]    8.52 ms
//	restart-plain   43 [38–59]     2.1          20910 [19181–22241]    8.35 ms
//	reload-plain    33 [29–50]     1.6          19490 [18400–20679]    8.86 ms
//
// Every failure of the plain ways is a keep-alive connection closed under
// a request: per run 2–18 "EOF" and 18–41 of loadgen's class "error",
// which a separate check (10 -sf restarts, Go client without retry)
// showed to be Go's "http: server closed idle connection". An old process
// told to stop closes its idle front connections; a client that sent its
// next request on one at that moment loses it. With idle-close-on-response
// the old process waits for that request, answers it with "Connection:
// close", and nothing is lost. An earlier round gave 33 and 31 (one run
// each), and another 3 rounds 41 [39–64] and 22 [17–34]. wrk with 64
// connections counted about 11 per restart and 3 per reload (DESIGN.md);
// 32 closed-loop clients that send again at once leave a connection idle
// only between a response and the next request, hence fewer here.
//
// Stats (`go test -run '^$' -bench BenchmarkStats -benchmem ./lb/haproxy`,
// one call; the size of HAProxy's answer in brackets):
//
//	servers   totals only           per-server rows
//	     10   0.14 ms (2.8 KB)      0.22 ms (5.0 KB)
//	    100   0.16 ms (2.8 KB)      0.93 ms (26 KB)
//	  1,000   0.13 ms (2.8 KB)      6.6 ms (234 KB)
package haproxy
