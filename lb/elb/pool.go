package elb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	classic "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	classictypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"

	"github.com/webfarm/webfarm/lb"
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
	DescribeLoadBalancers(context.Context, *classic.DescribeLoadBalancersInput, ...func(*classic.Options)) (*classic.DescribeLoadBalancersOutput, error)
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
	// One target ELB no longer knows (a terminated instance) is "unused"
	// and does not fail the others.
	health(ctx context.Context, ts []target) (map[target]string, error)
	// drainPolicy returns how ELB drains a deregistered target.
	drainPolicy(ctx context.Context) (drainPolicy, error)
}

// drainPolicy is how a load balancer drains a deregistered target.
type drainPolicy struct {
	// delay is the longest ELB keeps a deregistered target draining:
	// the deregistration delay, or the classic connection-draining
	// timeout.
	delay time.Duration
	// flowsOutlive is true for an NLB whose target group has
	// deregistration_delay.connection_termination.enabled=false: the
	// target's existing flows stay open after ELB reports it "unused".
	flowsOutlive bool
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
		// one that no longer exists (a terminated instance); only the
		// latter, which it no longer holds, is success here.
		if h, herr := g.health(ctx, []target{t}); herr == nil && !holds(h[t]) {
			return nil
		}
	}
	return fmt.Errorf("DeregisterTargets %s: %w", t, err)
}

// health asks DescribeTargetHealth about ts (every target when ts is
// empty). ELB fails the whole call with InvalidTarget when one named
// target no longer exists (a terminated instance), so then each target is
// asked alone, and one that fails so is gone: "unused", as aws-sdk-go-v2's
// TargetDeregistered waiter takes InvalidTarget for deregistered
// (service/elasticloadbalancingv2/api_op_DescribeTargetHealth.go,
// targetDeregisteredStateRetryable).
func (g *targetGroup) health(ctx context.Context, ts []target) (map[target]string, error) {
	m, err := g.describeHealth(ctx, ts)
	if err == nil || apiCode(err) != "InvalidTarget" || len(ts) == 0 {
		return m, err
	}
	m = make(map[target]string, len(ts))
	for _, t := range ts {
		if len(ts) == 1 {
			m[t] = stateUnused
			break
		}
		one, err := g.describeHealth(ctx, []target{t})
		switch {
		case apiCode(err) == "InvalidTarget":
			m[t] = stateUnused
		case err != nil:
			return nil, err
		default:
			m[t] = one[t]
		}
	}
	return m, nil
}

func (g *targetGroup) describeHealth(ctx context.Context, ts []target) (map[target]string, error) {
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

// drainPolicy reads the target group's attributes: the deregistration
// delay (300 s when absent, ELB's documented default) and, for an NLB,
// whether connection termination on deregistration is enabled (false
// when absent, ELB's default: flows outlive the delay; NLB guide, "Edit
// target group attributes", Deregistration delay).
func (g *targetGroup) drainPolicy(ctx context.Context) (drainPolicy, error) {
	out, err := g.api.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(g.arn)})
	if err != nil {
		return drainPolicy{}, fmt.Errorf("DescribeTargetGroupAttributes: %w", err)
	}
	p := drainPolicy{delay: 300 * time.Second}
	nlb := false
	termination := false
	for _, a := range out.Attributes {
		v := aws.ToString(a.Value)
		switch aws.ToString(a.Key) {
		case "deregistration_delay.timeout_seconds":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return drainPolicy{}, fmt.Errorf("deregistration_delay.timeout_seconds %q is not a number of seconds", v)
			}
			p.delay = time.Duration(n) * time.Second
		case "deregistration_delay.connection_termination.enabled":
			nlb = true
			b, err := strconv.ParseBool(v)
			if err != nil {
				return drainPolicy{}, fmt.Errorf("deregistration_delay.connection_termination.enabled %q is not true or false", v)
			}
			termination = b
		}
	}
	p.flowsOutlive = nlb && !termination
	return p, nil
}

// classicLB is a classic load balancer. It registers whole instances;
// DescribeInstanceHealth reports a draining instance as InService with
// the description "Instance deregistration currently in progress", and
// leaves it out (or, asked by ID, reports it OutOfService, "not currently
// registered") once draining has ended
// (https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-conn-drain.html).
type classicLB struct {
	api  classicAPI
	name string
}

func (c *classicLB) register(ctx context.Context, t target) error {
	_, err := c.api.RegisterInstancesWithLoadBalancer(ctx, &classic.RegisterInstancesWithLoadBalancerInput{
		LoadBalancerName: aws.String(c.name),
		Instances:        []classictypes.Instance{{InstanceId: aws.String(t.id)}},
	})
	if err != nil {
		return fmt.Errorf("RegisterInstancesWithLoadBalancer %s: %w", t.id, err)
	}
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
	return nil
}

// deregistering is the description DescribeInstanceHealth gives an
// instance that is InService only because it is draining.
const deregistering = "instance deregistration currently in progress"

func (c *classicLB) health(ctx context.Context, ts []target) (map[target]string, error) {
	// Asking for named instances fails as a whole when one of them is
	// not a valid instance, so ask for all and pick.
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
			if strings.Contains(strings.ToLower(aws.ToString(s.Description)), deregistering) {
				st = stateDraining
			}
		case "OutOfService":
			st = stateUnhealthy
			if strings.Contains(strings.ToLower(aws.ToString(s.Description)), "not currently registered") {
				st = stateUnused
			}
		}
		all[target{id: aws.ToString(s.InstanceId)}] = st
	}
	if len(ts) == 0 {
		return all, nil
	}
	m := make(map[target]string, len(ts))
	for _, t := range ts {
		st, ok := all[t]
		if !ok {
			st = stateUnused
		}
		m[t] = st
	}
	return m, nil
}

func (c *classicLB) drainPolicy(ctx context.Context) (drainPolicy, error) {
	out, err := c.api.DescribeLoadBalancerAttributes(ctx, &classic.DescribeLoadBalancerAttributesInput{LoadBalancerName: aws.String(c.name)})
	if err != nil {
		return drainPolicy{}, fmt.Errorf("DescribeLoadBalancerAttributes: %w", err)
	}
	var d time.Duration
	if a := out.LoadBalancerAttributes; a != nil && a.ConnectionDraining != nil && a.ConnectionDraining.Enabled {
		d = time.Duration(aws.ToInt32(a.ConnectionDraining.Timeout)) * time.Second
	}
	return drainPolicy{delay: d}, nil
}

// instancePorts returns the instance ports of the load balancer's
// listeners (DescribeLoadBalancers): a classic load balancer sends each
// listener's traffic to every registered instance on its InstancePort.
func (c *classicLB) instancePorts(ctx context.Context) ([]int32, error) {
	out, err := c.api.DescribeLoadBalancers(ctx, &classic.DescribeLoadBalancersInput{LoadBalancerNames: []string{c.name}})
	if err != nil {
		return nil, fmt.Errorf("DescribeLoadBalancers: %w", err)
	}
	if len(out.LoadBalancerDescriptions) != 1 {
		return nil, fmt.Errorf("DescribeLoadBalancers: got %d load balancers, want 1", len(out.LoadBalancerDescriptions))
	}
	var ports []int32
	for _, l := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
		if l.Listener == nil {
			continue
		}
		if p := aws.ToInt32(l.Listener.InstancePort); !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("it has no listener: %w", lb.ErrInvalid)
	}
	slices.Sort(ports)
	return ports, nil
}
