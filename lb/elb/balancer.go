package elb

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
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

	// memb serialises membership changes; a channel so that waiting
	// honours ctx.
	memb chan struct{}

	mu       sync.Mutex // guards the fields below
	closed   bool
	backends map[string]*entry
	byTarget map[target]string
	delay    time.Duration // drain delay, once read
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
}

// New returns a Balancer for cfg. It reads the target group
// (DescribeTargetGroups) only when Config.TargetType or
// Config.LoadBalancer is empty. Configuration errors wrap lb.ErrInvalid
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
	return newWith(ctx, cfg, cloudwatch.NewFromConfig(ac), elbv2.NewFromConfig(ac), classic.NewFromConfig(ac))
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
	if cfg.LoadBalancerName != "" {
		b.kind = kindClassic
		b.ttype = TargetInstance
		b.pool = &classicLB{api: cl, name: cfg.LoadBalancerName, now: cfg.Now}
		b.metric = metric{namespace: "AWS/ELB", name: "RequestCount",
			dims: []cwtypes.Dimension{{Name: aws.String("LoadBalancerName"), Value: aws.String(cfg.LoadBalancerName)}}}
	} else {
		if err := b.describeGroup(ctx, v2); err != nil {
			return nil, err
		}
		b.pool = &targetGroup{api: v2, arn: cfg.TargetGroupARN, az: cfg.AvailabilityZone}
	}
	if cfg.MetricName != "" {
		b.metric.name = cfg.MetricName
	}
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
// the metric of a target group, asking ELB only for what Config lacks.
func (b *Balancer) describeGroup(ctx context.Context, v2 elbv2API) error {
	cfg := b.cfg
	b.ttype = cfg.TargetType
	lbDim := cfg.LoadBalancer
	if b.ttype == "" || lbDim == "" {
		out, err := v2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{cfg.TargetGroupARN}})
		if err != nil {
			return fmt.Errorf("elb: describe target group %s: %w", cfg.TargetGroupARN, err)
		}
		if len(out.TargetGroups) != 1 {
			return fmt.Errorf("elb: describe target group %s: got %d groups, want 1", cfg.TargetGroupARN, len(out.TargetGroups))
		}
		g := out.TargetGroups[0]
		if b.ttype == "" {
			b.ttype = TargetType(g.TargetType)
			switch b.ttype {
			case TargetIP, TargetInstance:
			default:
				return fmt.Errorf("elb: target group %s has %q targets; the driver registers ip or instance targets: %w",
					cfg.TargetGroupARN, g.TargetType, lb.ErrUnsupported)
			}
		}
		if lbDim == "" {
			if len(g.LoadBalancerArns) != 1 {
				return fmt.Errorf("elb: target group %s is attached to %d load balancers; set Config.LoadBalancer to the one to read metrics of: %w",
					cfg.TargetGroupARN, len(g.LoadBalancerArns), lb.ErrInvalid)
			}
			if lbDim, err = loadBalancerDimension(g.LoadBalancerArns[0]); err != nil {
				return fmt.Errorf("elb: target group %s: %w", cfg.TargetGroupARN, err)
			}
		}
	}
	k, err := kindOf(lbDim)
	if err != nil {
		return fmt.Errorf("elb: %w", err)
	}
	tgDim, _ := targetGroupDimension(cfg.TargetGroupARN) // validated by withDefaults
	b.kind = k
	b.metric = metric{namespace: "AWS/ApplicationELB", name: "RequestCount"}
	if k == kindNLB {
		b.metric = metric{namespace: "AWS/NetworkELB", name: "NewFlowCount"}
	}
	b.metric.dims = []cwtypes.Dimension{
		{Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)},
		{Name: aws.String("TargetGroup"), Value: aws.String(tgDim)},
	}
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
