package elb

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/webfarm/webfarm/lb"
)

// TargetType is how an ELBv2 target group addresses its targets.
type TargetType string

// Target types the driver supports. Lambda and ALB targets are not web
// servers it can start, so New rejects them with lb.ErrUnsupported.
const (
	// TargetIP registers Backend.Addr's IP and port.
	TargetIP TargetType = "ip"
	// TargetInstance registers the EC2 instance that Config.InstanceID
	// names for the backend, with Backend.Addr's port.
	TargetInstance TargetType = "instance"
)

// Missing says what a period without a CloudWatch datapoint means.
type Missing int

const (
	// MissingUnknown (the default) treats a period without a datapoint
	// as not yet known, as AWS's own target tracking treats missing data
	// as insufficient: Stats.At stays at the end of the newest period
	// that has data, so the scaler sees no new rate and holds, and after
	// Config.MaxStaleness Stats fails with ErrStale. A wrong metric,
	// dimension or region therefore shows as ErrStale, never as an idle
	// farm. The price: an idle ALB or classic ELB publishes no request
	// count, so an idle farm holds its count instead of scaling in.
	MissingUnknown Missing = iota
	// MissingZero counts a period without a datapoint as zero requests,
	// once the metric has had a datapoint since New (until then it
	// behaves as MissingUnknown, so a query that never matches is
	// ErrStale, not zero traffic). ELB publishes request metrics only for
	// periods with traffic, so this lets an idle farm scale in to its
	// minimum. A datapoint that arrives later than Config.Offset is still
	// counted (in a later reading), never lost.
	MissingZero
)

// String returns "zero" or "unknown".
func (m Missing) String() string {
	switch m {
	case MissingZero:
		return "zero"
	case MissingUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Missing(%d)", int(m))
}

// Config configures the ELB driver. Set exactly one of TargetGroupARN (an
// ALB or NLB target group) and LoadBalancerName (a classic load balancer);
// every other field has a useful zero value.
type Config struct {
	// TargetGroupARN is the ELBv2 target group whose targets are the pool,
	// e.g. "arn:aws:elasticloadbalancing:us-west-2:123456789012:
	// targetgroup/web/73e2d6bc24d8a067".
	TargetGroupARN string
	// LoadBalancerName is the classic load balancer whose instances are
	// the pool.
	LoadBalancerName string

	// LoadBalancer is the CloudWatch LoadBalancer dimension of the ALB or
	// NLB in front of the target group, "app/<name>/<id>" or
	// "net/<name>/<id>" (the tail of its ARN). If empty, New reads it from
	// the target group (DescribeTargetGroups), which must then be attached
	// to exactly one load balancer.
	LoadBalancer string
	// TargetType is the target group's target type. If empty, New reads it
	// from the target group.
	TargetType TargetType
	// InstanceID maps a backend to the EC2 instance it runs on. Required
	// for instance target groups and classic load balancers; unused for IP
	// targets. It must honour ctx.
	InstanceID func(ctx context.Context, b lb.Backend) (string, error)
	// AvailabilityZone is sent with IP targets; "all" registers IPs that
	// are outside the target group's VPC. If empty, none is sent.
	AvailabilityZone string
	// Adopt makes Backends list targets that are registered in the target
	// group but were not added by this Balancer (by another tool, or by an
	// earlier run), with the ID "<ip-or-instance>:<port>", so that the
	// caller can reconcile and remove them. Only set it when the target
	// group belongs to the farm alone.
	Adopt bool

	// MetricName is the CloudWatch metric counted as requests. If empty:
	// RequestCount for an ALB and a classic ELB, NewFlowCount (new TCP/UDP
	// flows) for an NLB. New fails, naming namespace, metric and
	// dimensions, for a metric AWS does not publish by the dimensions the
	// driver reads (see the package doc).
	MetricName string
	// Period is the CloudWatch period, a multiple of 60s. If zero, 60s
	// (ELB publishes 60-second sums).
	Period time.Duration
	// Offset is how far behind now the newest period read must end:
	// CloudWatch publishes ELB metrics minutes late. If zero, 2 minutes.
	Offset time.Duration
	// Lookback is how much history each read asks for; datapoints that
	// arrive late within it are still counted. If zero, 10 × Period. It is
	// rounded up to whole periods and must be at least 2 periods.
	Lookback time.Duration
	// Missing says what a period without a datapoint means. The zero
	// value is MissingUnknown: hold.
	Missing Missing
	// MaxStaleness is how old Stats.At may be (measured from now) before
	// Stats fails with an error wrapping ErrStale. If zero, Offset +
	// 5 × Period; if negative, never. It must be at least Offset + Period,
	// the age a fresh reading already has.
	MaxStaleness time.Duration

	// DrainPoll is the interval between DescribeTargetHealth calls while
	// WaitDrained waits. If zero, 5s.
	DrainPoll time.Duration
	// DrainGrace is how long WaitDrained waits beyond the deregistration
	// delay (or classic connection-draining timeout) before giving up. If
	// zero, 30s.
	DrainGrace time.Duration
	// FlowLinger is, for an NLB target group whose
	// deregistration_delay.connection_termination.enabled is false (AWS's
	// default), how long after the deregistration delay the driver still
	// counts a drained target as serving: such an NLB reports the target
	// "unused" at the end of the delay but keeps its existing flows open,
	// and publishes no per-target flow count. If zero, 350s (the NLB's
	// TCP idle timeout, after which an idle flow is gone); negative means
	// none. Enable connection termination to have ELB end the flows at
	// the delay instead.
	FlowLinger time.Duration

	// Region overrides the region of AWS (or of the SDK's default chain).
	Region string
	// AWS is the SDK configuration: credentials, region, endpoint,
	// retryer, HTTP client. If nil, config.LoadDefaultConfig (environment,
	// shared config and credentials files, SSO, web identity, IMDS) is used.
	AWS *aws.Config
	// Logger receives the driver's log lines. It never receives
	// credentials. If nil, slog.Default() is used.
	Logger *slog.Logger
	// Now is the clock that places CloudWatch periods. If nil, time.Now.
	Now func() time.Time
}

const (
	defaultPeriod     = time.Minute
	defaultOffset     = 2 * time.Minute
	defaultLookback   = 10 // periods
	defaultStaleness  = 5  // periods beyond Offset
	defaultDrainPoll  = 5 * time.Second
	defaultDrainGrace = 30 * time.Second
	defaultFlowLinger = 350 * time.Second
)

// withDefaults validates c and fills in its zero fields. Errors wrap
// lb.ErrInvalid (or lb.ErrUnsupported) and name the field.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return Config{}, fmt.Errorf("elb: config: "+format+": %w", append(args, lb.ErrInvalid)...)
	}
	switch {
	case c.TargetGroupARN == "" && c.LoadBalancerName == "":
		return bad("set TargetGroupARN (ALB/NLB) or LoadBalancerName (classic ELB)")
	case c.TargetGroupARN != "" && c.LoadBalancerName != "":
		return bad("TargetGroupARN %q and LoadBalancerName %q are both set; set one", c.TargetGroupARN, c.LoadBalancerName)
	}
	if c.TargetGroupARN != "" {
		if _, err := targetGroupDimension(c.TargetGroupARN); err != nil {
			return Config{}, fmt.Errorf("elb: config: TargetGroupARN: %w", err)
		}
		if c.LoadBalancer != "" {
			if _, err := kindOf(c.LoadBalancer); err != nil {
				return Config{}, fmt.Errorf("elb: config: LoadBalancer: %w", err)
			}
		}
	} else if c.LoadBalancer != "" || c.TargetType != "" || c.AvailabilityZone != "" || c.Adopt {
		return bad("LoadBalancer, TargetType, AvailabilityZone and Adopt are for target groups, not the classic load balancer %q", c.LoadBalancerName)
	}
	switch c.TargetType {
	case "", TargetIP, TargetInstance:
	case "lambda", "alb":
		return Config{}, fmt.Errorf("elb: config: target type %q: the driver registers web servers, not %s targets: %w", c.TargetType, c.TargetType, lb.ErrUnsupported)
	default:
		return bad("TargetType %q is not %q or %q", c.TargetType, TargetIP, TargetInstance)
	}
	if c.Period == 0 {
		c.Period = defaultPeriod
	}
	if c.Period < time.Minute || c.Period%time.Minute != 0 {
		return bad("Period %s is not a positive multiple of 1m (ELB metrics are 60-second sums)", c.Period)
	}
	if c.Offset == 0 {
		c.Offset = defaultOffset
	}
	if c.Offset < 0 {
		return bad("Offset %s is negative", c.Offset)
	}
	if c.Lookback == 0 {
		c.Lookback = defaultLookback * c.Period
	}
	if c.Lookback < 0 {
		return bad("Lookback %s is negative", c.Lookback)
	}
	if r := c.Lookback % c.Period; r != 0 {
		c.Lookback += c.Period - r
	}
	if c.Lookback < 2*c.Period {
		return bad("Lookback %s is shorter than two periods (%s)", c.Lookback, 2*c.Period)
	}
	if c.Lookback > 24*time.Hour {
		return bad("Lookback %s is longer than 24h", c.Lookback)
	}
	if c.FlowLinger == 0 {
		c.FlowLinger = defaultFlowLinger
	}
	if c.Missing != MissingZero && c.Missing != MissingUnknown {
		return bad("Missing %s is not MissingZero or MissingUnknown", c.Missing)
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = c.Offset + defaultStaleness*c.Period
	}
	if c.MaxStaleness > 0 && c.MaxStaleness < c.Offset+c.Period {
		return bad("MaxStaleness %s is shorter than Offset + Period (%s), the age of every fresh reading", c.MaxStaleness, c.Offset+c.Period)
	}
	if c.DrainPoll == 0 {
		c.DrainPoll = defaultDrainPoll
	}
	if c.DrainPoll < 0 {
		return bad("DrainPoll %s is negative", c.DrainPoll)
	}
	if c.DrainGrace == 0 {
		c.DrainGrace = defaultDrainGrace
	}
	if c.DrainGrace < 0 {
		return bad("DrainGrace %s is negative", c.DrainGrace)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
