package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Controller polls a balancer, asks a policy, and sets the runner's
// desired count. Fill in the exported fields before Run; do not change them
// while it runs.
type Controller struct {
	// Balancer is read every Interval. Required.
	Balancer lb.Balancer
	// Policy decides the count from each poll. Required.
	Policy Policy
	// Runner runs the tasks (the Mesos scheduler, or one of its
	// services) and is told the count. Required.
	Runner Runner
	// Interval is the time between polls. If zero, 2s is used.
	Interval time.Duration
	// MaxGap is the longest interval between two readings that still gives
	// a rate (lb.Meter.MaxGap). If zero, 5 × Interval is used.
	MaxGap time.Duration
	// Sources are further metric sources (CPU from the tasks, latency
	// from a tracing system, ...). Each poll reads every one; their values
	// go into Observation.Signals, later sources overriding earlier ones on
	// a name clash. Each call gets a context that ends after Interval. A
	// source that fails makes the input degraded (Input.Degraded), which
	// stops policies from scaling down.
	Sources []MetricSource
	// Fallback, if > 0, is the count to run after FallbackAfter polls in a
	// row failed (the balancer's Stats returned an error or an invalid
	// reading; a reading that merely gives no rate yet, lb.ErrNoRate, does
	// not count). It only ever raises the count: missing data never scales
	// down. The count stays raised until the policy, with data again,
	// decides otherwise.
	Fallback int
	// FallbackAfter is the number of failed polls in a row after which
	// Fallback applies. If zero, 3.
	FallbackAfter int
	// DryRun reports decisions without setting the runner's count.
	DryRun bool
	// OnDecision, if set, is called with every decision (holds included)
	// from the goroutine that runs the controller; it must not block long.
	OnDecision func(Report)
	// Logger receives one line per decision that changes the count and
	// one per failed poll. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time

	meter  lb.Meter
	failed int
}

// MetricSource supplies signals besides the balancer's: a consumer-declared
// one-method interface, so any CPU, latency or queue reader fits. Metrics
// returns values by signal name (for example {"cpu": 0.72}); it must return
// promptly once ctx is done. See [Signal] for how a policy uses them.
type MetricSource interface {
	Metrics(ctx context.Context) (map[string]float64, error)
}

// MetricSourceFunc adapts a function to [MetricSource].
type MetricSourceFunc func(ctx context.Context) (map[string]float64, error)

// Metrics calls f(ctx).
func (f MetricSourceFunc) Metrics(ctx context.Context) (map[string]float64, error) { return f(ctx) }

// Report is one tick of the controller: the decision, what it was based on,
// and what came of it.
type Report struct {
	Decision
	// Input is what the policy saw.
	Input Input
	// Rate is the balancer's rate, when the poll gave one.
	Rate *lb.Rate
	// Applied reports that the runner was told Count (false in dry-run
	// mode, on a hold, or when SetDesired failed).
	Applied bool
	// Err is the error of the poll or of SetDesired, if any.
	Err error
	// Fallback reports that the count was raised to Controller.Fallback
	// after too many failed polls.
	Fallback bool
}

func (c *Controller) validate() error {
	switch {
	case c.Balancer == nil:
		return fmt.Errorf("controller: Balancer is nil: %w", ErrInvalid)
	case c.Policy == nil:
		return fmt.Errorf("controller: Policy is nil: %w", ErrInvalid)
	case c.Runner == nil:
		return fmt.Errorf("controller: Runner is nil: %w", ErrInvalid)
	case c.Interval < 0:
		return fmt.Errorf("controller: Interval %s is negative: %w", c.Interval, ErrInvalid)
	case c.Fallback < 0 || c.FallbackAfter < 0:
		return fmt.Errorf("controller: Fallback %d and FallbackAfter %d must not be negative: %w", c.Fallback, c.FallbackAfter, ErrInvalid)
	}
	for i, s := range c.Sources {
		if s == nil {
			return fmt.Errorf("controller: Sources[%d] is nil: %w", i, ErrInvalid)
		}
	}
	return nil
}

func (c *Controller) fallbackAfter() int {
	if c.FallbackAfter > 0 {
		return c.FallbackAfter
	}
	return 3
}

func (c *Controller) interval() time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return 2 * time.Second
}

func (c *Controller) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run ticks every Interval until ctx is done, then returns ctx's error.
// A failed tick is reported and logged; it never stops the loop.
func (c *Controller) Run(ctx context.Context) error {
	if err := c.validate(); err != nil {
		return err
	}
	t := time.NewTicker(c.interval())
	defer t.Stop()
	for {
		_, _ = c.Tick(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Tick polls once, decides, and applies the decision. The returned error
// is that of the runner's Status or SetDesired; a failed balancer poll is
// not an error of the tick: the policy is asked with no data and holds.
// When ctx ends during the tick, Tick returns an error wrapping ctx's
// error, logs nothing above debug level and does not ask the policy.
func (c *Controller) Tick(ctx context.Context) (Report, error) {
	if err := c.validate(); err != nil {
		return Report{}, err
	}
	if c.meter.MaxGap == 0 {
		c.meter.MaxGap = c.MaxGap
		if c.meter.MaxGap == 0 {
			c.meter.MaxGap = 5 * c.interval()
		}
	}
	log := c.logger()
	st, err := c.Runner.Status(ctx)
	if ctx.Err() != nil {
		return c.cancelled(ctx, log)
	}
	if err != nil {
		err = fmt.Errorf("controller: runner status: %w", err)
		log.Warn("scaler: runner status failed; holding", "err", err)
		r := Report{Err: err}
		c.report(r)
		return r, err
	}
	in := Input{Now: c.now(), Current: st.Desired, Ready: st.Running, Starting: st.Starting}
	var rate *lb.Rate
	s, err := c.Balancer.Stats(ctx)
	if ctx.Err() != nil {
		return c.cancelled(ctx, log)
	}
	if err != nil {
		in.NoData = fmt.Errorf("balancer stats: %w", err)
		log.Warn("scaler: stats poll failed; holding", "err", err)
	} else if r, err := c.meter.Observe(s); err != nil {
		in.NoData = err
	} else {
		rate = &r
		in.Obs = &Observation{At: r.At, RPS: r.PerSecond, Active: r.Active, Queued: r.Queued}
	}
	if in.Obs != nil && len(c.Sources) > 0 {
		var errs []error
		for i, src := range c.Sources {
			sctx, cancel := context.WithTimeout(ctx, c.interval())
			m, err := src.Metrics(sctx)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("source %d (%T): %w", i, src, err))
				continue
			}
			if in.Obs.Signals == nil {
				in.Obs.Signals = make(map[string]float64, len(m))
			}
			maps.Copy(in.Obs.Signals, m)
		}
		if ctx.Err() != nil {
			return c.cancelled(ctx, log)
		}
		if in.Degraded = errors.Join(errs...); in.Degraded != nil {
			log.Warn("scaler: metric source failed; no scale-down this tick", "err", in.Degraded)
		}
	}
	d := c.Policy.Decide(in)
	rep := Report{Decision: d, Input: in, Rate: rate}
	if in.NoData != nil && !errors.Is(in.NoData, lb.ErrNoRate) {
		rep.Err = in.NoData
	}
	switch {
	case in.Obs != nil:
		c.failed = 0
	case !errors.Is(in.NoData, lb.ErrNoRate): // a first reading is not a failure
		c.failed++
	}
	if after := c.fallbackAfter(); c.Fallback > 0 && c.failed >= after && d.Count < c.Fallback {
		rep.Decision.Count = c.Fallback
		rep.Decision.Reason = fmt.Sprintf("%d polls in a row without data: fallback to %d (policy said: %s)", c.failed, c.Fallback, d.Reason)
		rep.Fallback = true
		d = rep.Decision
	}
	if d.Direction() != Hold {
		log.Info("scaler: decision", "from", d.Current, "to", d.Count, "reason", d.Reason, "dry_run", c.DryRun)
		if !c.DryRun {
			if err := c.Runner.SetDesired(ctx, d.Count); err != nil {
				rep.Err = fmt.Errorf("controller: set desired %d: %w", d.Count, err)
				if ctx.Err() != nil {
					log.Debug("scaler: set desired cut short: the controller is stopping", "count", d.Count, "err", err)
				} else {
					log.Warn("scaler: set desired failed", "count", d.Count, "err", err)
				}
				c.report(rep)
				return rep, rep.Err
			}
			rep.Applied = true
		}
	}
	c.report(rep)
	return rep, nil
}

// cancelled ends a tick whose ctx ended while it polled: the stop is the
// caller's own, so it is logged at debug level, not counted as a failed poll
// and not shown to the policy (a cut-short poll says nothing about load).
func (c *Controller) cancelled(ctx context.Context, log *slog.Logger) (Report, error) {
	err := fmt.Errorf("controller: tick cut short: %w", ctx.Err())
	log.Debug("scaler: tick cut short: the controller is stopping", "err", ctx.Err())
	r := Report{Err: err}
	c.report(r)
	return r, err
}

func (c *Controller) report(r Report) {
	if c.OnDecision != nil {
		c.OnDecision(r)
	}
}
