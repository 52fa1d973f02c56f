package elb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// Names of the signals [Balancer.Metrics] returns, for scaler.Signal.Name.
const (
	// SignalResponseTime is the mean time targets took to answer, in
	// milliseconds (ALB TargetResponseTime, classic Latency). A per-task
	// signal. Absent for a period without requests.
	SignalResponseTime = "elb_response_time_ms"
	// SignalRequestsPerTarget is requests per second per healthy target
	// (ALB RequestCountPerTarget over the period). A per-task signal.
	SignalRequestsPerTarget = "elb_rps_per_target"
	// SignalELB5xx is the balancer's own 5xx answers per second
	// (HTTPCode_ELB_5XX_Count, classic HTTPCode_ELB_5XX): no healthy
	// target, or the balancer still scaling itself up.
	SignalELB5xx = "elb_5xx_per_s"
	// SignalHealthyTargets is the fewest healthy targets in the period
	// (HealthyHostCount, Minimum).
	SignalHealthyTargets = "elb_healthy_targets"
	// SignalSurgeQueue is the longest queue of requests waiting for a
	// target in the period (classic SurgeQueueLength, Maximum).
	SignalSurgeQueue = "elb_surge_queue"
	// SignalActiveFlows is the mean number of concurrent flows (NLB
	// ActiveFlowCount, Average).
	SignalActiveFlows = "elb_active_flows"
)

// signal is one CloudWatch statistic read as a signal.
type signal struct {
	name  string
	m     metric
	stat  string
	scale func(v float64, period time.Duration) float64
	// count is true for sums: a period without a datapoint is 0 under
	// MissingZero; other signals are then absent.
	count bool
}

func perSecond(v float64, p time.Duration) float64 { return v / p.Seconds() }
func millis(v float64, _ time.Duration) float64    { return v * 1000 }
func same(v float64, _ time.Duration) float64      { return v }

// signals lists what Metrics reads for this kind of load balancer, each
// by the dimension set AWS publishes it by (see metricFor).
func (b *Balancer) signals() ([]signal, error) {
	var errs []error
	m := func(name string) metric {
		mm, err := b.metricFor(name)
		errs = append(errs, err)
		return mm
	}
	var out []signal
	switch b.kind {
	case kindALB:
		out = []signal{
			{SignalResponseTime, m("TargetResponseTime"), "Average", millis, false},
			{SignalRequestsPerTarget, m("RequestCountPerTarget"), "Sum", perSecond, true},
			{SignalELB5xx, m("HTTPCode_ELB_5XX_Count"), "Sum", perSecond, true},
			{SignalHealthyTargets, m("HealthyHostCount"), "Minimum", same, false},
		}
	case kindNLB:
		out = []signal{
			{SignalActiveFlows, m("ActiveFlowCount"), "Average", same, false},
			{SignalHealthyTargets, m("HealthyHostCount"), "Minimum", same, false},
		}
	default:
		out = []signal{
			{SignalResponseTime, m("Latency"), "Average", millis, false},
			{SignalELB5xx, m("HTTPCode_ELB_5XX"), "Sum", perSecond, true},
			{SignalSurgeQueue, m("SurgeQueueLength"), "Maximum", same, false},
			{SignalHealthyTargets, m("HealthyHostCount"), "Minimum", same, false},
		}
	}
	return out, errors.Join(errs...)
}

// Metrics reads the load balancer's other CloudWatch metrics (one
// GetMetricData call, at most once per period boundary) and returns the
// newest complete period's value of each, by the Signal* names: response
// time, requests per target, the balancer's own 5xx rate and healthy
// targets for an ALB; active flows and healthy targets for an NLB;
// latency, 5xx, surge queue and healthy targets for a classic ELB. A
// signal whose newest datapoint is older than Config.MaxStaleness is left
// out. Metrics implements scaler.MetricSource, so a Controller can feed
// these signals to its policy:
//
//	ctl := &scaler.Controller{Balancer: b, Sources: []scaler.MetricSource{b}, ...}
func (b *Balancer) Metrics(ctx context.Context) (map[string]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("elb: metrics: %w", err)
	}
	select {
	case b.sigSem <- struct{}{}:
		defer func() { <-b.sigSem }()
	case <-ctx.Done():
		return nil, fmt.Errorf("elb: metrics: %w", ctx.Err())
	}
	if err := b.checkOpen(); err != nil {
		return nil, fmt.Errorf("elb: metrics: %w", err)
	}
	now := b.cfg.Now()
	start, end := window(now, b.cfg.Period, b.cfg.Offset, b.cfg.Lookback)
	if end.Equal(b.sigEnd) {
		return maps.Clone(b.sigLast), nil
	}
	sigs, err := b.signals()
	if err != nil {
		return nil, fmt.Errorf("elb: metrics: %w", err)
	}
	qs := make([]cwtypes.MetricDataQuery, len(sigs))
	for i, s := range sigs {
		qs[i] = b.query(fmt.Sprintf("s%d", i), s.m, s.stat)
	}
	got, err := b.getMetricData(ctx, start, end, qs)
	if err != nil {
		return nil, fmt.Errorf("elb: metrics: GetMetricData: %w", err)
	}
	out := make(map[string]float64, len(sigs))
	p := b.cfg.Period
	for i, s := range sigs {
		var newest point
		for _, pt := range got[fmt.Sprintf("s%d", i)] {
			if ok := !math.IsNaN(pt.v) && !math.IsInf(pt.v, 0) && pt.v >= 0 && !pt.t.Add(p).After(end); ok && pt.t.After(newest.t) {
				newest = pt
			}
		}
		switch {
		case s.count && b.cfg.Missing == MissingZero && !newest.t.Equal(end.Add(-p)):
			out[s.name] = 0 // no datapoint in the newest period: no requests
		case newest.t.IsZero():
		case b.cfg.MaxStaleness > 0 && now.Sub(newest.t.Add(p)) > b.cfg.MaxStaleness:
		default:
			out[s.name] = s.scale(newest.v, p)
		}
	}
	b.sigEnd, b.sigLast = end, out
	return maps.Clone(out), nil
}
