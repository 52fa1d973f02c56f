package elb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/webfarm/webfarm/lb"
)

// MaxQueriesPerCall is the most metric queries one GetMetricData call
// carries: "A single GetMetricData call can include as many as 500
// MetricDataQuery structures" (CloudWatch API Reference, GetMetricData,
// Request Parameters).
const MaxQueriesPerCall = 500

// ReadAll reads the request counters of several Balancers of one AWS
// region with as few GetMetricData calls as CloudWatch allows: the
// Balancers whose read window has moved (see [Balancer.Stats]) put their
// query into shared calls of up to [MaxQueriesPerCall] queries each, one
// set of calls per distinct window (Balancers of one Config.Period,
// Offset and Lookback share one), so N Balancers cost ⌈N/500⌉ calls per
// period instead of N. The calls go through the first Balancer's
// CloudWatch client: the Balancers must share its account, and their
// region ([lb.ErrInvalid] otherwise).
//
// Each reading is what [Balancer.Stats] would return, in bs's order,
// ErrStale included. ReadAll returns every reading it got, a zero one for
// each Balancer that failed, and the failures joined (errors.Join), each
// naming its metric; a failed call fails the Balancers of that call only.
// A nil or repeated Balancer, or none at all, gives an error wrapping
// [lb.ErrInvalid] and reads nothing.
func ReadAll(ctx context.Context, bs ...*Balancer) ([]lb.Stats, error) {
	if err := checkMembers("read all", bs); err != nil {
		return nil, err
	}
	out, errs, err := readAll(ctx, bs, lockOrder(bs))
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

// checkMembers checks bs as ReadAll needs them.
func checkMembers(op string, bs []*Balancer) error {
	if len(bs) == 0 {
		return fmt.Errorf("elb: %s: no balancer: %w", op, lb.ErrInvalid)
	}
	for i, b := range bs {
		if b == nil {
			return fmt.Errorf("elb: %s: balancer %d is nil: %w", op, i, lb.ErrInvalid)
		}
		if b.region != bs[0].region {
			return fmt.Errorf("elb: %s: %s is in region %q, %s in %q: one region per read: %w",
				op, b.metric, b.region, bs[0].metric, bs[0].region, lb.ErrInvalid)
		}
		if slices.Contains(bs[:i], b) {
			return fmt.Errorf("elb: %s: balancer %d (%s) given twice: %w", op, i, b.metric, lb.ErrInvalid)
		}
	}
	return nil
}

// lockOrder returns bs in the order their reading semaphores are taken
// (metric, then address), the same for every read, so that two
// overlapping reads cannot deadlock.
func lockOrder(bs []*Balancer) []*Balancer {
	type keyed struct {
		key string
		b   *Balancer
	}
	ks := make([]keyed, len(bs))
	for i, b := range bs {
		ks[i] = keyed{fmt.Sprintf("%s %p", b.metric, b), b}
	}
	slices.SortFunc(ks, func(x, y keyed) int { return cmp.Compare(x.key, y.key) })
	order := make([]*Balancer, len(bs))
	for i, k := range ks {
		order[i] = k.b
	}
	return order
}

// readAll does ReadAll's work: err fails the whole read (nothing was
// read), errs[i] fails bs[i]'s reading alone. order is lockOrder(bs).
func readAll(ctx context.Context, bs, order []*Balancer) (out []lb.Stats, errs []error, err error) {
	// A closed Balancer fails alone.
	errs = make([]error, len(bs))
	closed := map[*Balancer]error{}
	var held []*Balancer
	defer func() {
		for _, b := range held {
			b.endStats()
		}
	}()
	for _, b := range order {
		if err := b.beginStats(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, nil, err
			}
			closed[b] = fmt.Errorf("%w (%s)", err, b.metric)
			continue
		}
		held = append(held, b)
	}

	type span struct{ start, end time.Time }
	nows := make([]time.Time, len(bs))
	spans := make([]span, len(bs))
	var windows []span
	need := map[span][]int{} // window → indexes of bs that read it
	for i, b := range bs {
		if errs[i] = closed[b]; errs[i] != nil {
			continue
		}
		nows[i] = b.cfg.Now()
		start, end := window(nows[i], b.cfg.Period, b.cfg.Offset, b.cfg.Lookback)
		spans[i] = span{start, end}
		if end.Equal(b.readEnd) {
			continue
		}
		if need[spans[i]] == nil {
			windows = append(windows, spans[i])
		}
		need[spans[i]] = append(need[spans[i]], i)
	}

	for _, w := range windows {
		for chunk := range slices.Chunk(need[w], MaxQueriesPerCall) {
			qs := make([]cwtypes.MetricDataQuery, len(chunk))
			for j, i := range chunk {
				qs[j] = bs[i].query(queryID(i), bs[i].metric, "Sum")
			}
			got, err := bs[0].getMetricData(ctx, w.start, w.end, qs)
			for _, i := range chunk {
				if err != nil {
					errs[i] = fmt.Errorf("elb: stats: GetMetricData of %d queries, %s among them: %w", len(qs), bs[i].metric, err)
					continue
				}
				bs[i].observe(got[queryID(i)], w.start, w.end)
			}
		}
	}
	out = make([]lb.Stats, len(bs))
	for i, b := range bs {
		if errs[i] == nil {
			out[i], errs[i] = b.reading(nows[i], spans[i].end)
		}
	}
	return out, errs, nil
}

// queryID is the GetMetricData query ID of the i-th Balancer of a read:
// unique within the call, as CloudWatch requires.
func queryID(i int) string { return fmt.Sprintf("r%d", i) }

// Group shares CloudWatch reads among the Balancers of one region, so
// that one controller per service (each calling Stats on its own target
// group's Balancer) costs ⌈N/500⌉ GetMetricData calls per period, not N
// (see [ReadAll]). Use [Group.Member] in place of a Balancer where Stats
// is read:
//
//	g, _ := elb.NewGroup(web, api, static)
//	ctl := &scaler.Controller{Balancer: g.Member(api), Runner: apiService, ...}
//
// The first member to read after a period boundary reads every member's
// new window at once; the others then find theirs read. Its methods are
// safe for concurrent use.
type Group struct {
	members, order []*Balancer
}

// NewGroup returns a Group of bs, which must share one region (see
// [ReadAll]); bad members give an error wrapping [lb.ErrInvalid].
func NewGroup(bs ...*Balancer) (*Group, error) {
	if err := checkMembers("group", bs); err != nil {
		return nil, err
	}
	return &Group{members: slices.Clone(bs), order: lockOrder(bs)}, nil
}

// Read returns b's reading, reading every member whose window has moved
// along with it. b must be a member ([lb.ErrInvalid] otherwise).
func (g *Group) Read(ctx context.Context, b *Balancer) (lb.Stats, error) {
	i := slices.Index(g.members, b)
	if i < 0 || b == nil {
		return lb.Stats{}, fmt.Errorf("elb: group: the balancer is not a member: %w", lb.ErrInvalid)
	}
	// Within a period b's window is read already: answer from b alone.
	if err := b.beginStats(ctx); err != nil {
		return lb.Stats{}, err
	}
	now := b.cfg.Now()
	_, end := window(now, b.cfg.Period, b.cfg.Offset, b.cfg.Lookback)
	if end.Equal(b.readEnd) {
		defer b.endStats()
		return b.reading(now, end)
	}
	b.endStats()
	out, errs, err := readAll(ctx, g.members, g.order)
	if err != nil {
		return lb.Stats{}, err
	}
	return out[i], errs[i]
}

// Member returns b with its Stats read through the group; every other
// method (and optional interface) is b's own.
func (g *Group) Member(b *Balancer) *Member { return &Member{Balancer: b, g: g} }

// Member is a group member: a *Balancer whose Stats come from the
// group's shared reads.
type Member struct {
	*Balancer
	g *Group
}

var _ lb.Balancer = (*Member)(nil)

// Stats returns the member's counter through the group (see
// [Group.Read]).
func (m *Member) Stats(ctx context.Context) (lb.Stats, error) { return m.g.Read(ctx, m.Balancer) }
