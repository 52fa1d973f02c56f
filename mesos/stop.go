package mesos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// ErrTornDown is returned by [Scheduler.Stop] when it is called after a
// stop with Teardown, and ends every subscription attempt after one.
var ErrTornDown = errors.New("mesos: framework torn down")

// ErrNotRunning is returned by [Scheduler.Stop] when [Scheduler.Run] is
// not running: nothing could drain or kill the tasks.
var ErrNotRunning = errors.New("mesos: scheduler not running")

// StopOptions configures [Scheduler.Stop]. The zero value scales to zero
// and keeps the framework registered.
type StopOptions struct {
	// Teardown, once every task has ended, sends TEARDOWN: Mesos removes
	// the framework, and the scheduler forgets its framework ID (in the
	// state too) and does not subscribe again. Cancel Run's context
	// after such a Stop; a new Scheduler starts a new framework.
	Teardown bool
}

// Stop stops the farm while [Scheduler.Run] runs: every service's desired
// count goes to 0 (and is saved), so each task is chosen for removal as
// on any scale-down: its backend drained (for up to DrainTimeout), then
// the task killed and its backend removed. Stop waits until the farm has
// no task left after a reconciliation, then sends TEARDOWN if
// opts.Teardown is set, and returns. ctx bounds the wait; when it ends
// first Stop returns its error, and the scale-down goes on as long as Run
// runs.
func (s *Scheduler) Stop(ctx context.Context, opts StopOptions) error {
	if s.tornDown.Load() {
		return ErrTornDown
	}
	if !s.running.Load() {
		return ErrNotRunning
	}
	s.releaseReservations() // reserve.go
	for _, sv := range s.serviceList() {
		if err := sv.setDesired(0); err != nil && !errors.Is(err, ErrNoService) {
			return err
		}
	}
	t := time.NewTicker(min(s.cfg.Tick, 100*time.Millisecond))
	defer t.Stop()
	for {
		s.mu.Lock()
		done := s.reconciled && s.connected
		s.mu.Unlock()
		left := len(s.Tasks())
		if done && left == 0 && !s.reserveExcess() {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mesos: stop: %d tasks left, %s: %w", left, s.reserveSummary(), ctx.Err())
		case <-t.C:
		}
	}
	s.log.Info("mesos: farm stopped: no task left", "teardown", opts.Teardown)
	if !opts.Teardown {
		return nil
	}
	if err := s.call(ctx, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		return fmt.Errorf("mesos: stop: %w", err)
	}
	s.tornDown.Store(true)
	s.mu.Lock()
	fid := s.frameworkID
	s.frameworkID = ""
	s.mu.Unlock()
	s.save()
	s.log.Info("mesos: framework torn down", "framework_id", fid)
	return nil
}
