package elb

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	classic "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/webfarm/webfarm/lb"
)

// Balancer drives an ALB/NLB target group or a classic load balancer. It
// implements lb.Balancer and lb.ConnCounter; all its methods are safe for
// concurrent use.
type Balancer struct {
	cfg    Config
	log    *slog.Logger
	cw     cloudWatchAPI
	pool   pool
	kind   kind
	ttype  TargetType
	metric metric
	lbDim  string // CloudWatch LoadBalancer dimension (ELBv2)
	tgDim  string // CloudWatch TargetGroup dimension (ELBv2)
	// ports are the classic load balancer's listeners' instance ports:
	// the only ports it sends traffic to.
	ports []int32
	// region is the AWS region of cw: one batched read (ReadAll) serves
	// Balancers of one region.
	region string

	// memb serialises membership changes; a channel so that waiting
	// honours ctx.
	memb chan struct{}

	mu       sync.Mutex // guards the fields below
	closed   bool
	backends map[string]*entry
	byTarget map[target]string
	drainPol drainPolicy // drain delay and flow handling, once read
	haveDel  bool
	gen      uint64 // bumped by every membership change
	hc       healthCache

	statsSem chan struct{} // guards count and readEnd
	count    counter
	readEnd  time.Time

	sigSem  chan struct{} // guards sigEnd and sigLast
	sigEnd  time.Time
	sigLast map[string]float64
}

var (
	_ lb.Balancer    = (*Balancer)(nil)
	_ lb.ConnCounter = (*Balancer)(nil)
)

// entry is one backend of the pool.
type entry struct {
	b        lb.Backend
	t        target
	draining bool
	// drainedAt is when Drain deregistered it (Config.Now), or when it
	// was adopted already draining.
	drainedAt time.Time
}

// New returns a Balancer for cfg. It reads the target group
// (DescribeTargetGroups), or the classic load balancer's listeners
// (DescribeLoadBalancers), and checks what it will ask CloudWatch for:
// a Config.LoadBalancer the target group is not attached to, or a
// Config.MetricName AWS does not publish by the dimensions read, fails
// with an error naming them. Configuration errors wrap lb.ErrInvalid
// (lb.ErrUnsupported for load balancers and targets the driver cannot
// drive).
func New(ctx context.Context, cfg Config) (*Balancer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var ac aws.Config
	if cfg.AWS != nil {
		ac = cfg.AWS.Copy()
	} else {
		ac, err = awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("elb: load AWS configuration: %w", err)
		}
	}
	if cfg.Region != "" {
		ac.Region = cfg.Region
	}
	if ac.Region == "" {
		return nil, fmt.Errorf("elb: no AWS region: set AWS_REGION, a profile region, or Config.Region: %w", lb.ErrInvalid)
	}
	b, err := newWith(ctx, cfg, cloudwatch.NewFromConfig(ac), elbv2.NewFromConfig(ac), classic.NewFromConfig(ac))
	if err != nil {
		return nil, err
	}
	b.region = ac.Region
	return b, nil
}

// newWith builds a Balancer on the given clients; cfg has its defaults.
func newWith(ctx context.Context, cfg Config, cw cloudWatchAPI, v2 elbv2API, cl classicAPI) (*Balancer, error) {
	b := &Balancer{
		cfg:      cfg,
		log:      cfg.Logger,
		cw:       cw,
		memb:     make(chan struct{}, 1),
		statsSem: make(chan struct{}, 1),
		sigSem:   make(chan struct{}, 1),
		backends: map[string]*entry{},
		byTarget: map[target]string{},
		count:    counter{period: cfg.Period, missing: cfg.Missing},
	}
	name := "RequestCount"
	if cfg.LoadBalancerName != "" {
		b.kind = kindClassic
		b.ttype = TargetInstance
		c := &classicLB{api: cl, name: cfg.LoadBalancerName}
		b.pool = c
		ports, err := c.instancePorts(ctx)
		if err != nil {
			return nil, fmt.Errorf("elb: %s: %w", b.where(), err)
		}
		b.ports = ports
	} else {
		if err := b.describeGroup(ctx, v2); err != nil {
			return nil, err
		}
		b.pool = &targetGroup{api: v2, arn: cfg.TargetGroupARN, az: cfg.AvailabilityZone}
		if b.kind == kindNLB {
			name = "NewFlowCount"
		}
	}
	if cfg.MetricName != "" {
		name = cfg.MetricName
	}
	m, err := b.metricFor(name)
	if err != nil {
		return nil, err
	}
	b.metric = m
	if b.ttype == TargetInstance && cfg.InstanceID == nil {
		return nil, fmt.Errorf("elb: config: %s registers EC2 instances: set InstanceID to map a backend to its instance: %w", b.where(), lb.ErrInvalid)
	}
	if b.ttype == TargetIP && cfg.InstanceID != nil {
		return nil, fmt.Errorf("elb: config: %s has IP targets: InstanceID would be ignored: %w", b.where(), lb.ErrInvalid)
	}
	b.log.Debug("elb: ready", "balancer", b.where(), "target_type", string(b.ttype), "metric", b.metric.String(),
		"period", cfg.Period, "offset", cfg.Offset, "missing", cfg.Missing.String())
	return b, nil
}

// describeGroup fills in the target type, the kind of load balancer and
// its CloudWatch dimensions from the target group (DescribeTargetGroups)
// and Config.
func (b *Balancer) describeGroup(ctx context.Context, v2 elbv2API) error {
	cfg := b.cfg
	out, err := v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{cfg.TargetGroupARN}})
	if err != nil {
		return fmt.Errorf("elb: describe target group %s: %w", cfg.TargetGroupARN, err)
	}
	if len(out.TargetGroups) != 1 {
		return fmt.Errorf("elb: describe target group %s: got %d groups, want 1", cfg.TargetGroupARN, len(out.TargetGroups))
	}
	g := out.TargetGroups[0]
	b.ttype = cfg.TargetType
	if b.ttype == "" {
		b.ttype = TargetType(g.TargetType)
		switch b.ttype {
		case TargetIP, TargetInstance:
		default:
			return fmt.Errorf("elb: target group %s has %q targets; the driver registers ip or instance targets: %w",
				cfg.TargetGroupARN, g.TargetType, lb.ErrUnsupported)
		}
	} else if g.TargetType != "" && string(g.TargetType) != string(b.ttype) {
		return fmt.Errorf("elb: config: TargetType %q, but target group %s has %q targets: %w", b.ttype, cfg.TargetGroupARN, g.TargetType, lb.ErrInvalid)
	}
	attached := make([]string, 0, len(g.LoadBalancerArns))
	for _, arn := range g.LoadBalancerArns {
		d, err := loadBalancerDimension(arn)
		if err != nil {
			return fmt.Errorf("elb: target group %s: %w", cfg.TargetGroupARN, err)
		}
		attached = append(attached, d)
	}
	lbDim := cfg.LoadBalancer
	switch {
	case lbDim == "" && len(attached) != 1:
		return fmt.Errorf("elb: target group %s is attached to %d load balancers %q; set Config.LoadBalancer to the one to read metrics of: %w",
			cfg.TargetGroupARN, len(attached), attached, lb.ErrInvalid)
	case lbDim == "":
		lbDim = attached[0]
	case !slices.Contains(attached, lbDim):
		return fmt.Errorf("elb: config: LoadBalancer dimension %q: target group %s is attached to %q, so CloudWatch has no datapoint for LoadBalancer=%s and this target group: %w",
			lbDim, cfg.TargetGroupARN, attached, lbDim, lb.ErrInvalid)
	}
	k, err := kindOf(lbDim)
	if err != nil {
		return fmt.Errorf("elb: %w", err)
	}
	b.kind = k
	b.lbDim = lbDim
	b.tgDim, _ = targetGroupDimension(cfg.TargetGroupARN) // validated by withDefaults
	return nil
}

// where names the load balancer in errors and logs.
func (b *Balancer) where() string {
	if b.cfg.LoadBalancerName != "" {
		return "classic load balancer " + b.cfg.LoadBalancerName
	}
	return "target group " + b.cfg.TargetGroupARN
}

// Close makes every later call fail with lb.ErrClosed. It does not touch
// the load balancer: registered targets stay registered.
func (b *Balancer) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *Balancer) checkOpen() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return lb.ErrClosed
	}
	return nil
}

// lockMembership waits for the membership lock or ctx.
func (b *Balancer) lockMembership(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case b.memb <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := b.checkOpen(); err != nil {
		<-b.memb
		return nil, err
	}
	return func() { <-b.memb }, nil
}
