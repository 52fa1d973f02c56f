// Package haproxy is the webfarm driver for HAProxy: it changes a backend's
// servers live through HAProxy's runtime API (the stats socket), never by
// rewriting haproxy.cfg or reloading, and reads its request counters.
//
//	b, err := haproxy.New(ctx, haproxy.Config{
//		Socket:  "/run/haproxy/admin.sock", // `stats socket … level admin`
//		Backend: "webfarm",                 // `balance roundrobin`, no servers needed
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
// client, and implements [lb.Balancer], [lb.ConnCounter] and [lb.Weighter].
// It needs HAProxy 2.6 or later.
//
// # The HAProxy configuration
//
// The driver needs a stats socket at level admin and a backend with a
// dynamic algorithm; the backend needs no server lines. Package
// internal/haproxyproc renders the configuration webfarm's tests use:
//
//	global
//	    stats socket /run/haproxy/admin.sock mode 600 level admin
//	defaults
//	    mode http
//	    timeout connect 5s
//	    timeout client 30s
//	    timeout server 30s
//	frontend http-in
//	    bind :80
//	    option idle-close-on-response
//	    default_backend webfarm
//	backend webfarm
//	    balance roundrobin        # or leastconn, random, first; not static-rr
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
// not level admin, backend (or frontend) missing, or an algorithm that
// cannot take servers at run time (static-rr, or a hash without
// `hash-type consistent`).
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
// if Config.Frontend is set; Active is scur and Queued the backend's qcur.
// These are exact cumulative counters: rates come from their deltas
// ([lb.Meter]), never from HAProxy's one-second rate fields. With
// Config.TotalsOnly, Stats asks for the frontend/backend rows alone
// (`show stat <proxy> <type> -1`), whose cost does not grow with the pool;
// otherwise it adds one row per server. [Balancer.Read] and
// [Balancer.Totals] return a [Reading] that also carries the process id
// and start time, and Restarted when HAProxy restarted or reloaded since
// the previous reading (the pid or start time changed, or the counter went
// down). A restart loses every counter and every server added at run
// time; with Config.Restore the reading that notices it re-adds the
// servers this Balancer had in the pool (not the draining ones).
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
// A later single round with a strict client (loadgen no longer lets Go's
// transport resend a request whose reused keep-alive connection was closed,
// so a dropped connection counts as failed; `WEBFARM_BENCH=1
// WEBFARM_BENCH_ROUNDS=1 go test -run '^$' -bench PoolChanges -benchtime 1x
// ./lb/haproxy`): control 25,358 req/s, p99 5.6 ms; driver 22,061 (−13 %),
// 7.3 ms; without pool options 7,495, 15.4 ms; -sf restart 15,992 (−37 %),
// 9.6 ms; master-worker reload 16,078 (−37 %), 11.7 ms; 0 failed in every
// way. The old ways drop nothing here because haproxyproc's configuration
// closes idle keep-alive connections cleanly (`option idle-close-on-response`,
// `hard-stop-after`); their cost is throughput and latency, and every
// restart loses the counters the scaler reads. (With the seed's plain
// config, wrk counted about 11 failures per restart, DESIGN.md.) The test
// TestPoolChangesUnderLoad also counts, on the backends, requests cut off
// while being served: 0 over 24 changes with requests in flight.
//
// Stats (`go test -run '^$' -bench BenchmarkStats -benchmem ./lb/haproxy`,
// one call; the size of HAProxy's answer in brackets):
//
//	servers   totals only           per-server rows
//	     10   0.14 ms (2.8 KB)      0.22 ms (5.0 KB)
//	    100   0.16 ms (2.8 KB)      0.93 ms (26 KB)
//	  1,000   0.13 ms (2.8 KB)      6.6 ms (234 KB)
package haproxy
