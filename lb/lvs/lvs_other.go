//go:build !linux

package lvs

import (
	"context"
	"fmt"

	"github.com/webfarm/webfarm/lb"
)

// Balancer is the IPVS driver; IPVS exists only on Linux, so here every
// method fails with an error wrapping [lb.ErrUnsupported].
type Balancer struct{}

var _ lb.Balancer = (*Balancer)(nil)

var errNotLinux = fmt.Errorf("lvs: IPVS needs Linux: %w", lb.ErrUnsupported)

// New fails: IPVS exists only on Linux.
func New(context.Context, Config) (*Balancer, error) { return nil, errNotLinux }

// Stats fails: IPVS exists only on Linux.
func (*Balancer) Stats(context.Context) (lb.Stats, error) { return lb.Stats{}, errNotLinux }

// Backends fails: IPVS exists only on Linux.
func (*Balancer) Backends(context.Context) ([]lb.Backend, error) { return nil, errNotLinux }

// Add fails: IPVS exists only on Linux.
func (*Balancer) Add(context.Context, lb.Backend) error { return errNotLinux }

// AddDest fails: IPVS exists only on Linux.
func (*Balancer) AddDest(context.Context, lb.Backend, Dest) error { return errNotLinux }

// Drain fails: IPVS exists only on Linux.
func (*Balancer) Drain(context.Context, string) error { return errNotLinux }

// Remove fails: IPVS exists only on Linux.
func (*Balancer) Remove(context.Context, string) error { return errNotLinux }

// Reap fails: IPVS exists only on Linux.
func (*Balancer) Reap(context.Context) ([]string, error) { return nil, errNotLinux }

// Close does nothing.
func (*Balancer) Close() error { return nil }
