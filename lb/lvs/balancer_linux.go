package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
)

// Balancer manages one IPVS virtual service and its real servers. It
// implements [lb.Balancer], [lb.ConnCounter], [lb.Weighter] and io.Closer.
// Its methods are safe for concurrent use; they run one at a time, each
// bounded by its context and by Config.Timeout.
type Balancer struct {
	cfg Config
	svc *ipvs.Service // the service's netlink key; never changes
	nl  *socket
	log *slog.Logger

	// Guarded by nl's lock (every method holds it throughout).
	members  map[netip.AddrPort]member
	preDrain map[netip.AddrPort]int // weight before Drain, for Resume
	svcCount counters
	dstCount map[string]*counters

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stopReap  func()
}

// member is what the driver knows about a real server beyond the kernel:
// the backend ID it serves under.
type member struct {
	id      string
	adopted bool // found in the kernel, not added by this Balancer
}

var (
	_ lb.Balancer    = (*Balancer)(nil)
	_ lb.ConnCounter = (*Balancer)(nil)
	_ lb.Weighter    = (*Balancer)(nil)
)

// New connects to IPVS (in cfg.Namespace, if set) and makes sure the
// virtual service cfg.Service exists with the configured scheduler:
// it creates the service when it is missing and updates its scheduler and
// persistence when they differ. Real servers already in the service are
// adopted; their ID is their address ("10.0.0.2:80") until an Add with
// the same address gives them another.
//
// Errors: an invalid Config wraps [lb.ErrInvalid]; a kernel without IPVS
// or without the scheduler's module wraps [lb.ErrUnsupported] and says
// which module to load; a caller without CAP_NET_ADMIN gets an error for
// which errors.Is(err, os.ErrPermission) holds. Nothing is left behind
// when New fails.
func New(ctx context.Context, cfg Config) (*Balancer, error) {
	return newBalancer(ctx, cfg, openIPVS(cfg.logger()), procIPVS)
}

func newBalancer(ctx context.Context, cfg Config, open opener, probe string) (*Balancer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := probeIPVS(probe); err != nil {
		return nil, err
	}
	if cfg.Namespace != "" {
		if _, err := os.Stat(cfg.Namespace); err != nil {
			return nil, fmt.Errorf("lvs: network namespace: %w", err)
		}
	}
	b := &Balancer{
		cfg:      cfg,
		svc:      toIPVSService(cfg.Service),
		nl:       newSocket(open, cfg.Namespace, cfg.timeout()),
		log:      cfg.logger().With("service", cfg.Service.String()),
		members:  make(map[netip.AddrPort]member),
		dstCount: make(map[string]*counters),
	}
	if err := b.nl.lock(ctx); err != nil {
		return nil, fmt.Errorf("lvs: new %s: %w", cfg.Service, err)
	}
	defer b.nl.unlock()
	created, err := b.ensureService(ctx)
	if err == nil {
		_, err = b.readDests(ctx)
	}
	if err != nil {
		if created {
			// Take back what this call created, with a fresh deadline:
			// ctx may be what failed.
			dctx, cancel := context.WithTimeout(context.Background(), cfg.timeout())
			if _, derr := call(dctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.DelService(b.svc) }); derr != nil {
				b.log.Warn("lvs: could not delete the service New created", "err", derr)
			}
			cancel()
		}
		b.nl.reset()
		return nil, err
	}
	if cfg.ReapInterval > 0 {
		b.startReaper(cfg.ReapInterval)
	}
	return b, nil
}

// ensureService creates or adopts the virtual service. It reports whether
// it created it.
func (b *Balancer) ensureService(ctx context.Context) (created bool, err error) {
	s := b.cfg.Service
	k, err := call(ctx, b.nl, func(h handle) (*ipvs.Service, error) { return h.GetService(b.svc) })
	switch {
	case err == nil:
		if !serviceDiffers(k, b.svc) {
			return false, nil
		}
		b.log.Info("lvs: updating the scheduling of an existing service", "scheduler", k.SchedName, "want", b.svc.SchedName)
		if _, err := call(ctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.UpdateService(b.svc) }); err != nil {
			return false, b.serviceErr("update", err)
		}
		return false, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("lvs: new %s: %w", s, err)
	case isErrno(err, syscall.EPERM), isErrno(err, syscall.EACCES):
		return false, kernelErr("read service "+s.String(), err)
	}
	// Not there (ESRCH), or an empty answer: create it, then read it back,
	// since without an IPVS family moby/ipvs's writes succeed silently.
	if _, err := call(ctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.NewService(b.svc) }); err != nil {
		return false, b.serviceErr("create", err)
	}
	if _, err := call(ctx, b.nl, func(h handle) (*ipvs.Service, error) { return h.GetService(b.svc) }); err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("lvs: new %s: %w", s, err)
		}
		return true, fmt.Errorf("lvs: create %s: the kernel accepted it but does not list it (%v): IPVS is not usable from this process (was ip_vs loaded after its first use of IPVS?): %w",
			s, err, lb.ErrUnsupported)
	}
	b.log.Info("lvs: created virtual service", "scheduler", b.svc.SchedName)
	return true, nil
}

func (b *Balancer) serviceErr(op string, err error) error {
	s := b.cfg.Service
	if isErrno(err, syscall.ENOENT) {
		name := s.scheduler()
		return fmt.Errorf("lvs: %s %s: scheduler %q is not in the kernel: load ip_vs_%s (modprobe ip_vs_%s): %w: %w",
			op, s, name, name, name, lb.ErrUnsupported, err)
	}
	if isErrno(err, syscall.EEXIST) {
		return fmt.Errorf("lvs: %s %s: exists with another address family or protocol: %w", op, s, err)
	}
	return kernelErr(op+" service "+s.String(), err)
}

// begin takes the operation lock for op, or fails with ctx's error or
// lb.ErrClosed.
func (b *Balancer) begin(ctx context.Context, op string) error {
	if b.closed.Load() {
		return fmt.Errorf("lvs: %s: %w", op, lb.ErrClosed)
	}
	if err := b.nl.lock(ctx); err != nil {
		return fmt.Errorf("lvs: %s: %w", op, err)
	}
	if b.closed.Load() {
		b.nl.unlock()
		return fmt.Errorf("lvs: %s: %w", op, lb.ErrClosed)
	}
	return nil
}

// Close stops the reaper and releases the netlink socket; with
// Config.DeleteOnClose it deletes the virtual service first. Calls after
// Close fail with [lb.ErrClosed]. Close is idempotent.
func (b *Balancer) Close() error {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		if b.stopReap != nil {
			b.stopReap()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*b.cfg.timeout())
		defer cancel()
		if err := b.nl.lock(ctx); err != nil {
			b.closeErr = fmt.Errorf("lvs: close: %w", err)
			return
		}
		defer b.nl.unlock()
		if b.cfg.DeleteOnClose {
			_, err := call(ctx, b.nl, func(h handle) (struct{}, error) { return struct{}{}, h.DelService(b.svc) })
			if err != nil && !isErrno(err, syscall.ESRCH) {
				b.closeErr = kernelErr("close: delete service "+b.cfg.Service.String(), err)
			}
		}
		b.nl.reset()
	})
	return b.closeErr
}

// startReaper runs Reap every interval until Close.
func (b *Balancer) startReaper(every time.Duration) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*b.cfg.timeout())
			ids, err := b.Reap(ctx)
			cancel()
			if err != nil && !errors.Is(err, lb.ErrClosed) {
				b.log.Warn("lvs: reap", "err", err)
			}
			if len(ids) > 0 {
				b.log.Info("lvs: removed drained real servers", "ids", ids)
			}
		}
	}()
	b.stopReap = func() { close(stop); <-done }
}
