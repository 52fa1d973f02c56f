package lb

import "errors"

// Sentinel errors. Drivers wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: the backend ID is not in the pool. Drain and the optional
	// per-backend calls return it for unknown IDs; Remove does not (it is
	// idempotent).
	ErrNotFound = errors.New("lb: backend not found")
	// ErrExists: Add was given an ID that is already in the pool with a
	// different address. Adding the same Backend twice is not an error.
	ErrExists = errors.New("lb: backend exists with another address")
	// ErrUnsupported: the driver or the balancer cannot do what was asked.
	ErrUnsupported = errors.New("lb: not supported")
	// ErrClosed: the Balancer was closed.
	ErrClosed = errors.New("lb: balancer closed")
	// ErrInvalid: an argument or configuration value is invalid.
	ErrInvalid = errors.New("lb: invalid argument")
)
