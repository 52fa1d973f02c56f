package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/internal/loadgen"
	"github.com/webfarm/webfarm/lb"
)

// poolWay is one way of changing the pool of a running haproxy: the
// driver's runtime API, or the old ways that rewrite haproxy.cfg.
type poolWay interface {
	// setPool makes the pool the farm's first n backends.
	setPool(ctx context.Context, n int) error
}

// driverWay changes the pool through the driver, as the scheduler does:
// add; or drain, wait for the server's connections to end, remove.
type driverWay struct {
	b    *Balancer
	farm *webFarm
	n    int
}

func backendID(i int) string { return fmt.Sprintf("web-%d", i) }

func (w *driverWay) setPool(ctx context.Context, n int) error {
	for i := w.n; i < n; i++ {
		if err := w.b.Add(ctx, lb.Backend{ID: backendID(i), Addr: w.farm.addr(i)}); err != nil {
			return err
		}
	}
	for i := n; i < w.n; i++ {
		if err := w.b.Drain(ctx, backendID(i)); err != nil {
			return err
		}
	}
	for i := n; i < w.n; i++ {
		if err := waitIdle(ctx, w.b, backendID(i), 5*time.Second); err != nil {
			return err
		}
		if err := w.b.Remove(ctx, backendID(i)); err != nil {
			return err
		}
	}
	w.n = n
	return nil
}

// waitIdle polls ActiveConns until the server has no connection, for at
// most limit (then Remove shuts what is left).
func waitIdle(ctx context.Context, b *Balancer, id string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		n, err := b.ActiveConns(ctx, id)
		if err != nil || n == 0 {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// fileWay rewrites the configuration's server lines and restarts haproxy
// with -sf (the original Mesos web farm's way), or reloads a master-worker
// haproxy with SIGUSR2.
type fileWay struct {
	p      *haproxyproc.Proc
	farm   *webFarm
	reload bool
}

func (w *fileWay) setPool(ctx context.Context, n int) error {
	addrs := make([]netip.AddrPort, n)
	for i := range addrs {
		addrs[i] = w.farm.addr(i)
	}
	if err := w.p.SetServers(addrs); err != nil {
		return err
	}
	if w.reload {
		return w.p.Reload(ctx)
	}
	return w.p.Restart(ctx)
}

// noWay never changes the pool: the control run.
type noWay struct{}

func (noWay) setPool(context.Context, int) error { return nil }

// scaleRun describes a load with pool changes.
type scaleRun struct {
	url         string
	way         poolWay
	events      int           // pool changes, alternating 2→6 and 6→2
	every       time.Duration // between the end of one change and the next
	limit       time.Duration // bounds the whole run
	concurrency int
}

// run sends a closed-loop load through haproxy, changes the pool events
// times, one every r.every, stops the load r.every after the last, and
// returns the load's result and the number of changes made.
func (r scaleRun) run(ctx context.Context) (loadgen.Result, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	load := loadgen.Start(ctx, loadgen.Config{
		URL:         r.url,
		Concurrency: r.concurrency,
		Duration:    r.limit,
		MaxRequests: 5_000_000,
		Timeout:     5 * time.Second,
	})
	pause := func() bool { // false when the load has ended
		t := time.NewTimer(r.every)
		defer t.Stop()
		select {
		case <-load.Done():
			return false
		case <-t.C:
			return true
		}
	}
	done := 0
	var eventErr error
	for i := 1; i <= r.events && pause(); i++ {
		n := 6
		if i%2 == 0 {
			n = 2
		}
		if err := r.way.setPool(ctx, n); err != nil {
			eventErr = fmt.Errorf("event %d (pool → %d): %w", i, n, err)
			break
		}
		done++
	}
	if eventErr == nil {
		pause()
	}
	cancel() // ends the load; not an error for loadgen
	res, err := load.Wait()
	if eventErr != nil {
		return res, done, eventErr
	}
	return res, done, err
}
