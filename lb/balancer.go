package lb

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Stats is one reading of the balancer.
//
// Counters are cumulative since the balancer started. A counter that goes
// down means the balancer restarted (or its counters were cleared); [Meter]
// treats that as a reset, never as negative traffic.
type Stats struct {
	// At is the instant the reading describes. For live balancers it is
	// when the reading was taken; for delayed sources such as CloudWatch it
	// is the end of the last complete period, not now.
	At time.Time
	// Requests counts requests ever accepted (connections for L4 balancers).
	Requests uint64
	// Active is the number of requests or connections in flight, where the
	// balancer knows it; otherwise 0.
	Active int
	// Queued is the number of requests waiting for a backend, in the
	// balancer's queues and its backends' own queues (requests bound to
	// one backend, waiting for it), where the balancer knows it; otherwise
	// 0. When Backends is read, it is at least the sum of their Queued.
	Queued int
	// Backends holds per-backend readings keyed by Backend.ID. Drivers that
	// cannot read per-backend figures leave it nil.
	Backends map[string]BackendStats
}

// BackendStats is one backend's part of a [Stats] reading.
type BackendStats struct {
	// Requests counts requests (or connections) this backend ever served in
	// this balancer's life.
	Requests uint64
	// Active is the number of connections in flight to this backend.
	Active int
	// Queued is the number of requests waiting in this backend's own
	// queue (bound to it); Stats.Queued counts them too.
	Queued int
	// Limit is the most connections the balancer opens to this backend
	// at once (HAProxy's maxconn), or 0 if it sets none or the driver
	// cannot read it. With Active ≥ Limit > 0 the backend is at its
	// limit: requests bound to it wait in its queue.
	Limit int
	// State is where the backend stands in the pool.
	State State
	// Errors counts the requests this backend answered with a 5xx status
	// (HTTP balancers), in this balancer's life. Drivers that cannot read
	// it leave it 0. mesos's deployments compare versions' error rates
	// with it.
	Errors uint64
}

// Balancer is what every driver implements.
//
// All methods must be safe for concurrent use and must return promptly, with
// an error for which errors.Is(err, ctx.Err()) holds, once ctx is done; a
// call with a done ctx changes nothing. Errors wrap this package's
// sentinels where one applies. Package lb/lbtest checks every rule below.
type Balancer interface {
	// Stats reads the balancer's counters.
	//   - Stats.At is set (never the zero time) and never goes back.
	//   - Counters (Requests, and each BackendStats.Requests and
	//     BackendStats.Errors) never decrease within one life of the
	//     balancer; gauges are ≥ 0.
	//   - A backend's Errors never exceed its Requests (a 5xx answer is
	//     a request the backend served).
	//   - Stats.Queued is at least the sum of the backends' Queued: a
	//     request waiting in one backend's own queue waits for a backend.
	//   - Every request the balancer accepts is counted in Requests and,
	//     when Stats.Backends is set, in the Requests of the backend that
	//     served it, at the latest after the lag the driver documents
	//     (none for a live balancer; a period for CloudWatch). The scaler
	//     reads load from these counters: counters that do not move are a
	//     broken driver, not an idle farm.
	//   - Stats.Backends, when not nil, has an entry for every backend that
	//     Backends lists, none for a removed one, and none for an ID that
	//     was never added.
	//   - A drained backend's entry has State StateDraining until it is
	//     removed (or resumed, see [Resumer]).
	Stats(ctx context.Context) (Stats, error)

	// Backends lists the pool, draining backends included, in any order.
	Backends(ctx context.Context) ([]Backend, error)

	// Add puts b in the pool, ready for traffic: new requests split
	// across the ready backends (each ready backend gets a share).
	//   - Adding a Backend that is already in the pool with the same address
	//     succeeds and changes nothing (a draining one stays draining).
	//   - Adding an ID that is in the pool with another address returns an
	//     error wrapping ErrExists and changes nothing.
	//   - An invalid Backend (see Backend.Validate) returns an error wrapping
	//     ErrInvalid.
	Add(ctx context.Context, b Backend) error

	// Drain stops new connections to the backend; connections already open
	// continue until they end. The backend stays in the pool until Remove.
	//   - After Drain returns, no new request or connection reaches the
	//     backend; Stats reports it StateDraining.
	//   - Draining a draining backend succeeds.
	//   - An unknown ID returns an error wrapping ErrNotFound.
	Drain(ctx context.Context, id string) error

	// Remove takes the backend out of the pool. Callers drain first; a
	// driver may cut connections that are still open when Remove is called.
	//   - Removing an ID that is not in the pool succeeds (idempotent).
	//   - Removing a draining backend succeeds.
	//   - After Remove, neither Backends nor Stats mentions the ID.
	Remove(ctx context.Context, id string) error
}

// ConnCounter is an optional interface a [Balancer] may implement to report a
// backend's active connections, so a drained backend can be removed as soon
// as it is idle. Without it, callers wait out their drain timeout.
// An unknown ID returns an error wrapping ErrNotFound.
type ConnCounter interface {
	ActiveConns(ctx context.Context, id string) (int, error)
}

// Weighter is an optional interface a [Balancer] may implement to set a
// backend's relative weight, 0–256 (0 takes no new connections). Callers
// use it to ramp a new backend in. An unknown ID returns an error wrapping
// ErrNotFound; a weight out of range one wrapping ErrInvalid.
type Weighter interface {
	SetWeight(ctx context.Context, id string, weight int) error
}

// Resumer is an optional interface a [Balancer] may implement to put a
// draining backend back into service, so that a scale-up right after a
// scale-down reuses a task that still runs instead of launching a new one.
// Without it, callers let the drain finish and start new backends.
//   - Resuming a draining backend makes it ready for new connections; the
//     connections it kept while draining continue.
//   - Resuming a ready backend succeeds and changes nothing.
//   - An unknown ID returns an error wrapping ErrNotFound.
type Resumer interface {
	Resume(ctx context.Context, id string) error
}

// ActiveConns returns the backend's active connections if b implements
// [ConnCounter], and otherwise an error wrapping [ErrUnsupported].
func ActiveConns(ctx context.Context, b Balancer, id string) (int, error) {
	c, ok := b.(ConnCounter)
	if !ok {
		return 0, fmt.Errorf("%w: %T cannot count connections", ErrUnsupported, b)
	}
	return c.ActiveConns(ctx, id)
}

// SetWeight sets the backend's weight if b implements [Weighter], and
// otherwise returns an error wrapping [ErrUnsupported].
func SetWeight(ctx context.Context, b Balancer, id string, weight int) error {
	w, ok := b.(Weighter)
	if !ok {
		return fmt.Errorf("%w: %T cannot set weights", ErrUnsupported, b)
	}
	return w.SetWeight(ctx, id, weight)
}

// Resume puts a draining backend back into service if b implements
// [Resumer], and otherwise returns an error wrapping [ErrUnsupported].
func Resume(ctx context.Context, b Balancer, id string) error {
	r, ok := b.(Resumer)
	if !ok {
		return fmt.Errorf("%w: %T cannot resume a draining backend", ErrUnsupported, b)
	}
	return r.Resume(ctx, id)
}

// Close closes b if it implements io.Closer and does nothing otherwise.
func Close(b Balancer) error {
	if c, ok := b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
