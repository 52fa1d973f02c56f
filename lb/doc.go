// Package lb defines the contract between webfarm and a load balancer.
//
// A driver (lb/haproxy, lb/lvs, lb/elb, or your own) implements [Balancer]:
// five methods that read the balancer's statistics and change its pool of
// backends live, without a reload. The scaler reads [Stats] and turns
// successive readings into a request rate with a [Meter]; the Mesos
// scheduler adds a backend when its task runs and drains it before the task
// is killed, and during a deployment compares the versions' 5xx rates from
// each backend's [BackendStats] Errors and Requests counters (counters
// never go down within a balancer's life, and a backend's Errors never
// exceed its Requests: the rules list on [Balancer]).
//
//	b, err := haproxy.New(ctx, haproxy.Config{Socket: "/run/haproxy/admin.sock"})
//	if err != nil { ... }
//	defer b.Close()
//	err = b.Add(ctx, lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("127.0.0.1:31000")})
//
// # What a driver must implement
//
// [Balancer] is required. Every method must be safe for concurrent use and
// must return promptly, with an error wrapping ctx.Err(), once ctx is done.
//
// # What a driver may implement
//
// Optional capabilities are one-method interfaces found by type assertion,
// the way database/sql finds driver.Pinger:
//
//   - [ConnCounter]: active connections of one backend. Without it the
//     scheduler waits out its drain timeout before killing a drained task.
//   - [Weighter]: set a backend's relative weight (for slow start).
//   - [Resumer]: put a draining backend back into service. Without it the
//     scheduler kills a draining task even when the desired count rises
//     again before the drain ends, and launches a new one.
//   - [io.Closer]: release sockets and handles.
//
// The helpers [ActiveConns], [SetWeight], [Resume] and [Close] do the assertion and
// return an error wrapping [ErrUnsupported] when the driver cannot.
//
// # Errors
//
// Drivers wrap the sentinels of this package ([ErrNotFound], [ErrExists],
// [ErrUnsupported], [ErrClosed], [ErrInvalid]) with %w and add their own
// context. Callers check them with errors.Is.
//
// Every webfarm package writes its error messages one way, and a driver
// should too: the message starts with the name of the package that returns
// it, once, then the operation and its argument, then the cause:
//
//	haproxy: drain "web.1": lb: backend not found
//	lvs: backend web.1@[2001:db8::31]:80: a tunnel to an IPv6 real server behind an IPv4 service needs …: lb: not supported
//	mesos: Task.CPUs 0: must be a finite number > 0: invalid argument
//
// A cause from another package keeps its own prefix (lb: …). A package
// never repeats its own name: helpers return errors without the prefix and
// the exported method adds it once. A sentinel that other packages wrap
// carries its package's name (the ones above); when its own package wraps
// it, the sentinel comes first ("lb: invalid argument: backend web.1: port
// 0"). A sentinel only its own package returns carries no name
// (mesos.ErrInvalid: "invalid argument").
//
// Package lb/lbtest holds the conformance suite every driver passes.
package lb
