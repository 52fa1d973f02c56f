package lvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moby/ipvs"
	"github.com/sirupsen/logrus"
)

// handle is the part of moby/ipvs the driver uses; *ipvs.Handle implements
// it, and unit tests substitute an in-memory kernel. A handle is used by
// one goroutine at a time.
type handle interface {
	GetService(*ipvs.Service) (*ipvs.Service, error)
	GetServices() ([]*ipvs.Service, error)
	NewService(*ipvs.Service) error
	UpdateService(*ipvs.Service) error
	DelService(*ipvs.Service) error
	GetDestinations(*ipvs.Service) ([]*ipvs.Destination, error)
	NewDestination(*ipvs.Service, *ipvs.Destination) error
	UpdateDestination(*ipvs.Service, *ipvs.Destination) error
	DelDestination(*ipvs.Service, *ipvs.Destination) error
	Close()
}

var _ handle = (*ipvs.Handle)(nil)

// opener opens a handle in the namespace at path ("" for the caller's).
type opener func(path string) (handle, error)

var firstNew sync.Once

// openIPVS opens a moby/ipvs handle. The first call in the process runs
// moby/ipvs's one-time setup, which execs modprobe and reports failures
// through the global logrus logger; those lines are caught and passed to
// log at debug level instead (the driver reports a missing IPVS as an
// error of its own). While that first call runs (milliseconds), other
// logrus output of the process goes the same way.
func openIPVS(log *slog.Logger) opener {
	return func(path string) (handle, error) {
		var (
			h   *ipvs.Handle
			err error
		)
		firstNew.Do(func() {
			std := logrus.StandardLogger()
			var buf bytes.Buffer
			old := std.Out
			std.SetOutput(&buf)
			h, err = ipvs.New(path)
			std.SetOutput(old)
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if line != "" {
					log.Debug("lvs: moby/ipvs setup", "log", line)
				}
			}
		})
		if h == nil && err == nil {
			h, err = ipvs.New(path)
		}
		if err != nil {
			return nil, err
		}
		return h, nil
	}
}

// errTimeout marks a netlink exchange that ran over Config.Timeout.
var errTimeout = errors.New("netlink exchange timed out")

// socket runs exchanges with the kernel one at a time, each bounded by
// a timeout and by its context. moby/ipvs retries a receive that times out
// (EAGAIN) forever, so a call that runs over is abandoned: its socket is
// closed, which ends the retry loop within the 3 s receive timeout, and
// the next call opens a fresh one.
type socket struct {
	open    opener
	path    string
	timeout time.Duration

	sem chan struct{} // held for a whole operation; guards h
	h   handle
}

func newSocket(open opener, path string, timeout time.Duration) *socket {
	return &socket{open: open, path: path, timeout: timeout, sem: make(chan struct{}, 1)}
}

// lock takes the operation lock, or returns ctx's error.
func (n *socket) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case n.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (n *socket) unlock() { <-n.sem }

// reset closes the current handle; the next call opens another. The
// caller holds the lock.
func (n *socket) reset() {
	if n.h != nil {
		n.h.Close()
		n.h = nil
	}
}

// call runs f on the handle, opening one if needed. The caller holds the
// lock. f must not touch shared state: if it runs over, it is abandoned
// and finishes on its own while the caller carries on.
func call[T any](ctx context.Context, n *socket, f func(h handle) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if n.h == nil {
		h, err := runBounded(ctx, n.timeout, func() (handle, error) { return n.open(n.path) }, func(h handle) { h.Close() })
		if err != nil {
			return zero, fmt.Errorf("open netlink socket: %w", err)
		}
		n.h = h
	}
	h := n.h
	v, err := runBounded(ctx, n.timeout, func() (T, error) { return f(h) }, nil)
	if errors.Is(err, errTimeout) || ctx.Err() != nil {
		n.reset()
	}
	return v, err
}

// runBounded runs f in a goroutine and waits for it, for ctx, or for the
// timeout. If it stops waiting and f later succeeds, discard gets the
// result.
func runBounded[T any](ctx context.Context, timeout time.Duration, f func() (T, error), discard func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result) // unbuffered: a send succeeds only while the caller waits
	abandoned := make(chan struct{})
	go func() {
		v, err := f()
		select {
		case done <- result{v, err}:
		case <-abandoned:
			if err == nil && discard != nil {
				discard(v)
			}
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		close(abandoned)
		return zero, ctx.Err()
	case <-t.C:
		close(abandoned)
		return zero, fmt.Errorf("%w after %s", errTimeout, timeout)
	}
}
