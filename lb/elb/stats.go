package elb

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/webfarm/webfarm/lb"
)

// cloudWatchAPI is the part of the CloudWatch client the driver uses.
type cloudWatchAPI interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// metric is the CloudWatch metric read as the request counter.
type metric struct {
	namespace, name string
	dims            []cwtypes.Dimension
}

func (m metric) String() string {
	s := m.namespace + " " + m.name
	for _, d := range m.dims {
		s += " " + aws.ToString(d.Name) + "=" + aws.ToString(d.Value)
	}
	return s
}

// maxPeriodSum bounds a believable request count for one period (about
// 16 billion per second for a minute); larger, negative, NaN or infinite
// values are rejected as corrupt rather than added to the counter.
const maxPeriodSum = 1e15

// maxPages bounds the GetMetricData pages one reading follows.
const maxPages = 50

// point is one CloudWatch datapoint: the statistic (for the request
// counter, the sum) over the period that starts at t.
type point struct {
	t time.Time
	v float64
}

// counter turns CloudWatch period sums into a cumulative request counter.
// It is pure: no clock, no I/O.
type counter struct {
	period  time.Duration
	missing Missing

	seen  map[int64]uint64 // period start (Unix s) → the largest sum seen
	total uint64
	at    time.Time // end of the newest period counted as complete
	// any is true once a datapoint has been seen: MissingZero reads
	// missing periods as zero only for a metric that has existed.
	any bool
}

// observe adds the datapoints of a read of [start, end) and moves the
// counter's At (never back). A period's sum that grew since an earlier read (late data)
// adds the difference; periods older than start are forgotten. It returns
// the number of datapoints rejected as corrupt or out of the window.
func (c *counter) observe(pts []point, start, end time.Time) (rejected int) {
	if c.seen == nil {
		c.seen = map[int64]uint64{}
	}
	p := int64(c.period / time.Second)
	s0, e0 := start.Unix(), end.Unix()
	for _, pt := range pts {
		b := pt.t.Unix()
		b -= ((b % p) + p) % p
		switch {
		case math.IsNaN(pt.v) || pt.v < 0 || pt.v > maxPeriodSum:
			rejected++
			continue
		case b < s0 || b > e0-p:
			rejected++
			continue
		}
		c.any = true
		n := uint64(math.Round(pt.v))
		if old := c.seen[b]; n > old {
			d := n - old
			if c.total > math.MaxUint64-d {
				c.total = math.MaxUint64
			} else {
				c.total += d
			}
			c.seen[b] = n
		} else if _, ok := c.seen[b]; !ok {
			c.seen[b] = n // a datapoint of 0
		}
	}
	for b := range c.seen {
		if b < s0 {
			delete(c.seen, b)
		}
	}
	var at time.Time
	switch {
	case c.missing == MissingZero && c.any:
		at = end
	default:
		for b := range c.seen {
			if t := time.Unix(b+p, 0).UTC(); t.After(at) {
				at = t
			}
		}
	}
	if at.After(c.at) {
		c.at = at
	}
	return rejected
}

// window returns the read window for a reading at now: it ends at the
// newest period boundary at least offset before now.
func window(now time.Time, period, offset, lookback time.Duration) (start, end time.Time) {
	p := int64(period / time.Second)
	e := now.Add(-offset).Unix()
	e -= ((e % p) + p) % p
	end = time.Unix(e, 0).UTC()
	return end.Add(-lookback), end
}

// Stats reads the request counter from CloudWatch.
//
// Stats.Requests is the sum of every period read since New, so it only
// grows; Stats.At is the end of the newest period counted as complete (see
// Config.Offset and Config.Missing), never now. CloudWatch is asked at
// most once per period boundary: calls in between return the previous
// reading, whose unchanged At makes a meter skip them. ELB publishes no
// per-target request counts, so Stats.Backends is nil; use Health for
// target states. When At is older than Config.MaxStaleness, Stats returns
// an error wrapping ErrStale so that the scaler holds.
func (b *Balancer) Stats(ctx context.Context) (lb.Stats, error) {
	if err := b.beginStats(ctx); err != nil {
		return lb.Stats{}, err
	}
	defer b.endStats()
	now := b.cfg.Now()
	start, end := window(now, b.cfg.Period, b.cfg.Offset, b.cfg.Lookback)
	if !end.Equal(b.readEnd) {
		pts, err := b.fetch(ctx, start, end)
		if err != nil {
			return lb.Stats{}, fmt.Errorf("elb: stats: GetMetricData %s: %w", b.metric, err)
		}
		b.observe(pts, start, end)
	}
	return b.reading(now, end)
}

// beginStats takes the reading semaphore, or fails with ctx's error or
// lb.ErrClosed; endStats releases it.
func (b *Balancer) beginStats(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("elb: stats: %w", err)
	}
	select {
	case b.statsSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("elb: stats: %w", ctx.Err())
	}
	if err := b.checkOpen(); err != nil {
		<-b.statsSem
		return fmt.Errorf("elb: stats: %w", err)
	}
	return nil
}

func (b *Balancer) endStats() { <-b.statsSem }

// observe adds the request metric's datapoints read over [start, end).
// The caller holds the reading semaphore.
func (b *Balancer) observe(pts []point, start, end time.Time) {
	before := b.count.total
	if n := b.count.observe(pts, start, end); n > 0 {
		b.log.Warn("elb: rejected CloudWatch datapoints", "metric", b.metric.String(), "rejected", n, "of", len(pts))
	}
	b.readEnd = end
	b.log.Debug("elb: read CloudWatch", "metric", b.metric.String(), "start", start, "end", end,
		"datapoints", len(pts), "added", b.count.total-before, "at", b.count.at)
}

// reading is the counter as Stats returns it at now, for a read window
// ending at end. The caller holds the reading semaphore.
func (b *Balancer) reading(now, end time.Time) (lb.Stats, error) {
	at := b.count.at
	if at.IsZero() {
		return lb.Stats{}, fmt.Errorf("elb: stats: no datapoint of %s in the %s before %s: %w",
			b.metric, b.cfg.Lookback, end.Format(time.RFC3339), ErrStale)
	}
	if age := now.Sub(at); b.cfg.MaxStaleness > 0 && age > b.cfg.MaxStaleness {
		return lb.Stats{}, fmt.Errorf("elb: stats: newest complete period of %s ends %s, %s ago (limit %s): %w",
			b.metric, at.Format(time.RFC3339), age.Round(time.Second), b.cfg.MaxStaleness, ErrStale)
	}
	return lb.Stats{At: at, Requests: b.count.total}, nil
}

// fetch reads the request metric's period sums in [start, end).
func (b *Balancer) fetch(ctx context.Context, start, end time.Time) ([]point, error) {
	const id = "requests"
	got, err := b.getMetricData(ctx, start, end, []cwtypes.MetricDataQuery{b.query(id, b.metric, "Sum")})
	if err != nil {
		return nil, err
	}
	return got[id], nil
}

// query is a MetricDataQuery of one statistic of m over Config.Period.
func (b *Balancer) query(id string, m metric, stat string) cwtypes.MetricDataQuery {
	return cwtypes.MetricDataQuery{
		Id:         aws.String(id),
		ReturnData: aws.Bool(true),
		MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{
				Namespace:  aws.String(m.namespace),
				MetricName: aws.String(m.name),
				Dimensions: m.dims,
			},
			Period: aws.Int32(int32(b.cfg.Period / time.Second)),
			Stat:   aws.String(stat),
		},
	}
}

// getMetricData runs queries over [start, end), following NextToken, and
// returns each query's datapoints by ID. Every query must be answered, and
// answered completely.
func (b *Balancer) getMetricData(ctx context.Context, start, end time.Time, qs []cwtypes.MetricDataQuery) (map[string][]point, error) {
	in := &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            cwtypes.ScanByTimestampAscending,
		MetricDataQueries: qs,
	}
	pts := make(map[string][]point, len(qs))
	var tokens []string
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("more than %d pages of datapoints", maxPages)
		}
		out, err := b.cw.GetMetricData(ctx, in)
		if err != nil {
			return nil, err
		}
		partial := false
		found := map[string]bool{}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			if !slices.ContainsFunc(qs, func(q cwtypes.MetricDataQuery) bool { return aws.ToString(q.Id) == id }) {
				continue
			}
			found[id] = true
			if len(r.Timestamps) != len(r.Values) {
				return nil, fmt.Errorf("result %q has %d timestamps and %d values", id, len(r.Timestamps), len(r.Values))
			}
			for i, t := range r.Timestamps {
				pts[id] = append(pts[id], point{t, r.Values[i]})
			}
			switch r.StatusCode {
			case cwtypes.StatusCodeComplete, "":
			case cwtypes.StatusCodePartialData:
				partial = true
			default:
				return nil, fmt.Errorf("result %q status %s%s%s", id, r.StatusCode, messages(r.Messages), messages(out.Messages))
			}
		}
		for _, q := range qs {
			if id := aws.ToString(q.Id); !found[id] {
				return nil, fmt.Errorf("no result for query %q in the answer", id)
			}
		}
		next := aws.ToString(out.NextToken)
		if next == "" {
			if partial {
				return nil, fmt.Errorf("result status PartialData without a NextToken%s", messages(out.Messages))
			}
			return pts, nil
		}
		if slices.Contains(tokens, next) {
			return nil, fmt.Errorf("NextToken repeats")
		}
		tokens = append(tokens, next)
		in.NextToken = aws.String(next)
	}
}

func messages(ms []cwtypes.MessageData) string {
	s := ""
	for _, m := range ms {
		s += fmt.Sprintf(" (%s: %s)", aws.ToString(m.Code), aws.ToString(m.Value))
	}
	return s
}
