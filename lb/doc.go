// Package lb defines the contract between webfarm and a load balancer.
//
// A driver (lb/haproxy, lb/lvs, lb/elb, or your own) implements [Balancer]:
// five methods that read the balancer's statistics and change its pool of
// backends live, without a reload. The scaler reads [Stats] and turns
// successive readings into a request rate with a [Meter]; the Mesos
// scheduler adds a backend when its task runs and drains it before the task
// is killed.
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
// Package lb/lbtest holds the conformance suite every driver passes.
package lb
