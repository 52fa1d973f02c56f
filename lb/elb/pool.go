package elb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	classic "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	classictypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// elbv2API is the part of the ELBv2 client the driver uses.
type elbv2API interface {
	RegisterTargets(context.Context, *elbv2.RegisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error)
	DeregisterTargets(context.Context, *elbv2.DeregisterTargetsInput, ...func(*elbv2.Options)) (*elbv2.DeregisterTargetsOutput, error)
	DescribeTargetHealth(context.Context, *elbv2.DescribeTargetHealthInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
	DescribeTargetGroups(context.Context, *elbv2.DescribeTargetGroupsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(context.Context, *elbv2.DescribeTargetGroupAttributesInput, ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
}

// classicAPI is the part of the classic ELB client the driver uses.
type classicAPI interface {
	RegisterInstancesWithLoadBalancer(context.Context, *classic.RegisterInstancesWithLoadBalancerInput, ...func(*classic.Options)) (*classic.RegisterInstancesWithLoadBalancerOutput, error)
	DeregisterInstancesFromLoadBalancer(context.Context, *classic.DeregisterInstancesFromLoadBalancerInput, ...func(*classic.Options)) (*classic.DeregisterInstancesFromLoadBalancerOutput, error)
	DescribeInstanceHealth(context.Context, *classic.DescribeInstanceHealthInput, ...func(*classic.Options)) (*classic.DescribeInstanceHealthOutput, error)
	DescribeLoadBalancerAttributes(context.Context, *classic.DescribeLoadBalancerAttributesInput, ...func(*classic.Options)) (*classic.DescribeLoadBalancerAttributesOutput, error)
}

// pool is the membership API of one load balancer flavour.
type pool interface {
	// register adds t; registering a registered target changes nothing.
	register(ctx context.Context, t target) error
	// deregister starts draining t; a target ELB does not hold is not
	// an error.
	deregister(ctx context.Context, t target) error
	// health returns the normalised ELB state of each target in ts, or of
	// every target ELB holds when ts is empty ("unused" when not held).
	health(ctx context.Context, ts []target) (map[target]string, error)
	// drainDelay returns how long ELB keeps a deregistered target
	// draining at most.
	drainDelay(ctx context.Context) (time.Duration, error)
}

// apiCode returns the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// targetGroup is an ELBv2 (ALB or NLB) target group.
type targetGroup struct {
	api elbv2API
	arn string
	az  string
}

func (g *targetGroup) description(t target) elbv2types.TargetDescription {
	d := elbv2types.TargetDescription{Id: aws.String(t.id), Port: aws.Int32(t.port)}
	if g.az != "" {
		d.AvailabilityZone = aws.String(g.az)
	}
	return d
}

func (g *targetGroup) register(ctx context.Context, t target) error {
	_, err := g.api.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(g.arn),
		Targets:        []elbv2types.TargetDescription{g.description(t)},
	})
	if err != nil {
		return fmt.Errorf("RegisterTargets %s: %w", t, err)
	}
	return nil
}

func (g *targetGroup) deregister(ctx context.Context, t target) error {
	_, err := g.api.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(g.arn),
		Targets:        []elbv2types.TargetDescription{g.description(t)},
	})
	if err == nil {
		return nil
	}
	if apiCode(err) == "InvalidTarget" {
		// ELB answers InvalidTarget both for a malformed target and for
		// one it does not hold; only the latter is success here.
		if h, herr := g.health(ctx, []target{t}); herr == nil && !holds(h[t]) {
			return nil
		}
	}
	return fmt.Errorf("DeregisterTargets %s: %w", t, err)
}

func (g *targetGroup) health(ctx context.Context, ts []target) (map[target]string, error) {
	in := &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(g.arn)}
	for _, t := range ts {
		in.Targets = append(in.Targets, g.description(t))
	}
	out, err := g.api.DescribeTargetHealth(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("DescribeTargetHealth: %w", err)
	}
	m := make(map[target]string, len(out.TargetHealthDescriptions))
	for _, d := range out.TargetHealthDescriptions {
		if d.Target == nil || d.Target.Id == nil {
			continue
		}
		t := target{id: *d.Target.Id, port: aws.ToInt32(d.Target.Port)}
		st := stateUnused
		if d.TargetHealth != nil && d.TargetHealth.State != "" {
			st = string(d.TargetHealth.State)
		}
		m[t] = st
	}
	for _, t := range ts {
		if _, ok := m[t]; !ok {
			m[t] = stateUnused
		}
	}
	return m, nil
}

func (g *targetGroup) drainDelay(ctx context.Context) (time.Duration, error) {
	out, err := g.api.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(g.arn)})
	if err != nil {
		return 0, fmt.Errorf("DescribeTargetGroupAttributes: %w", err)
	}
	for _, a := range out.Attributes {
		if aws.ToString(a.Key) == "deregistration_delay.timeout_seconds" {
			n, err := strconv.Atoi(aws.ToString(a.Value))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("deregistration_delay.timeout_seconds %q is not a number of seconds", aws.ToString(a.Value))
			}
			return time.Duration(n) * time.Second, nil
		}
	}
	return 300 * time.Second, nil // ELB's documented default
}

// classicLB is a classic load balancer. It registers whole instances;
// the classic API does not report draining, so the driver remembers when
// it deregistered each instance and reports it draining until the
// connection-draining timeout has passed.
type classicLB struct {
	api  classicAPI
	name string
	now  func() time.Time

	mu      sync.Mutex
	delay   time.Duration
	haveDel bool
	dereg   map[string]time.Time
}

func (c *classicLB) register(ctx context.Context, t target) error {
	_, err := c.api.RegisterInstancesWithLoadBalancer(ctx, &classic.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String(c.name),
		Instances:        []classictypes.Instance{{InstanceId: aws.String(t.id)}},
	})
	if err != nil {
		return fmt.Errorf("RegisterInstancesWithLoadBalancer %s: %w", t.id, err)
	}
	c.mu.Lock()
	delete(c.dereg, t.id)
	c.mu.Unlock()
	return nil
}

func (c *classicLB) deregister(ctx context.Context, t target) error {
	_, err := c.api.DeregisterInstancesFromLoadBalancer(ctx, &classic.DeregisterInstancesFromLoadBalancerInput{
		LoadBalancerName: aws.String(c.name),
		Instances:        []classictypes.Instance{{InstanceId: aws.String(t.id)}},
	})
	if err != nil && apiCode(err) == "InvalidInstance" {
		if h, herr := c.health(ctx, nil); herr == nil && !holds(h[t]) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("DeregisterInstancesFromLoadBalancer %s: %w", t.id, err)
	}
	c.mu.Lock()
	if c.dereg == nil {
		c.dereg = map[string]time.Time{}
	}
	c.dereg[t.id] = c.now()
	c.mu.Unlock()
	return nil
}

func (c *classicLB) health(ctx context.Context, ts []target) (map[target]string, error) {
	// Asking for named instances fails as a whole when one of them is not
	// registered, so ask for all and pick.
	out, err := c.api.DescribeInstanceHealth(ctx, &classic.DescribeInstanceHealthInput{LoadBalancerName: aws.String(c.name)})
	if err != nil {
		return nil, fmt.Errorf("DescribeInstanceHealth: %w", err)
	}
	all := make(map[target]string, len(out.InstanceStates))
	for _, s := range out.InstanceStates {
		st := stateInitial // "Unknown": registration in progress
		switch aws.ToString(s.State) {
		case "InService":
			st = stateHealthy
		case "OutOfService":
			st = stateUnhealthy
		}
		all[target{id: aws.ToString(s.InstanceId)}] = st
	}
	if len(ts) == 0 {
		return all, nil
	}
	delay, err := c.drainDelay(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[target]string, len(ts))
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for _, t := range ts {
		st, ok := all[t]
		switch {
		case ok:
		case !c.dereg[t.id].IsZero() && now.Before(c.dereg[t.id].Add(delay)):
			st = stateDraining
		default:
			st = stateUnused
		}
		m[t] = st
	}
	return m, nil
}

func (c *classicLB) drainDelay(ctx context.Context) (time.Duration, error) {
	c.mu.Lock()
	if c.haveDel {
		defer c.mu.Unlock()
		return c.delay, nil
	}
	c.mu.Unlock()
	out, err := c.api.DescribeLoadBalancerAttributes(ctx, &classic.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(c.name)})
	if err != nil {
		return 0, fmt.Errorf("DescribeLoadBalancerAttributes: %w", err)
	}
	var d time.Duration
	if a := out.LoadBalancerAttributes; a != nil && a.ConnectionDraining != nil && a.ConnectionDraining.Enabled {
		d = time.Duration(aws.ToInt32(a.ConnectionDraining.Timeout)) * time.Second
	}
	c.mu.Lock()
	c.delay, c.haveDel = d, true
	c.mu.Unlock()
	return d, nil
}
