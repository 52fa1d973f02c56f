// Package elb drives AWS load balancers: an Application or Network Load
// Balancer's target group (ELBv2), or a classic load balancer. It reads
// request counts from CloudWatch and changes the pool through the ELB
// APIs, on aws-sdk-go-v2.
//
//	b, err := elb.New(ctx, elb.Config{
//		TargetGroupARN: "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067",
//	})
//	if err != nil { ... }
//	defer b.Close()
//	err = b.Add(ctx, lb.Backend{ID: "web-1", Addr: netip.MustParseAddrPort("10.0.3.17:31000")})
//	...
//	err = b.Drain(ctx, "web-1")        // DeregisterTargets: no new requests
//	err = b.WaitDrained(ctx, "web-1")  // until ELB's deregistration delay is done
//	err = b.Remove(ctx, "web-1")
//
// # What it implements
//
// [Balancer] implements [lb.Balancer], [lb.Resumer] (registers a drained target
// again) and [lb.ConnCounter]:
//
//   - Stats: CloudWatch GetMetricData, the Sum of RequestCount
//     (AWS/ApplicationELB, by LoadBalancer and TargetGroup), NewFlowCount
//     (AWS/NetworkELB) or RequestCount (AWS/ELB, by LoadBalancerName),
//     added period by period into a counter that never goes down. Stats.At
//     is the end of the newest period counted as complete, never now.
//     Stats.Backends is nil: ELB publishes no per-target request count.
//   - Add: RegisterTargets (IP targets: the backend's address; instance
//     targets: Config.InstanceID's instance, with the backend's port), or
//     RegisterInstancesWithLoadBalancer for classic ELB.
//   - Drain: DeregisterTargets / DeregisterInstancesFromLoadBalancer. ELB
//     stops new requests at once and lets open ones run for the target
//     group's deregistration delay (classic: the connection-draining
//     timeout). [Balancer.WaitDrained] polls DescribeTargetHealth until
//     the target has left the draining state; [Balancer.ActiveConns]
//     answers 1 while ELB still holds the target and 0 once it has let go,
//     so a scheduler that waits for zero connections waits for ELB.
//   - Remove: forgets the backend, deregistering it first if it was not
//     drained. Add, Drain and Remove are idempotent, and a refused call
//     records nothing.
//   - [Balancer.Health]: ELB's view of each backend (initial, healthy,
//     unhealthy, draining) as lb.State.
//   - [Balancer.Metrics]: the balancer's other CloudWatch metrics as
//     scaler signals (response time, requests per target, the balancer's
//     own 5xx, healthy targets, surge queue, active flows), so that
//     scaler.Controller{Sources: []scaler.MetricSource{b}} can scale on
//     latency too.
//
// A classic load balancer registers whole instances and sends traffic to
// its listeners' instance port, so each backend needs an instance of its
// own and must listen on that port (with Mesos: one task per agent,
// mesos.Config.MaxPerHost = 1, on a fixed port); a second backend on an
// instance already in the pool fails with lb.ErrExists. Target groups have
// no such limit: a target is an instance or IP with a port.
//
// Backends lists what this Balancer added. A restarted scheduler adds its
// running tasks again (registering a registered target changes nothing).
// With Config.Adopt, targets in the group that no backend maps to are
// listed too, as "<ip-or-instance>:<port>", so a reconciling caller can
// remove strays; set it only when the target group belongs to the farm.
//
// # AWS access
//
// Credentials and region come from the SDK's default chain (environment,
// shared files, SSO, web identity, instance and task roles) unless
// Config.AWS is set. The driver never logs credentials, request
// signatures or the SDK configuration. It needs these IAM actions:
// cloudwatch:GetMetricData; elasticloadbalancing:RegisterTargets,
// DeregisterTargets, DescribeTargetHealth, DescribeTargetGroups (only when
// Config.TargetType or Config.LoadBalancer is empty) and
// DescribeTargetGroupAttributes; for classic ELB
// RegisterInstancesWithLoadBalancer, DeregisterInstancesFromLoadBalancer,
// DescribeInstanceHealth and DescribeLoadBalancerAttributes. Throttling
// and 5xx answers are retried by the SDK's retryer (Config.AWS.Retryer);
// what is left after its attempts is returned wrapped, never hidden.
//
// # Ramp behaviour: what users hit, and how to configure the scaler
//
// ELB is not HAProxy on the box next door, in three ways that matter for
// autoscaling.
//
// Its metrics are late and coarse. CloudWatch has ELB request counts as
// 60-second sums that appear one to three minutes after the minute ends,
// and only for minutes that had traffic. Config.Offset (2 minutes by
// default) keeps the driver off minutes that may still be filling in;
// datapoints that still arrive later (within Config.Lookback) are added
// in a later reading rather than lost. Config.Missing says what a minute
// without a datapoint is: MissingZero (the default) reads it as no
// traffic, which lets an idle farm scale down; MissingUnknown reads it as
// not known yet, so Stats.At stops advancing and the scaler holds. When
// the newest complete period is older than Config.MaxStaleness (Offset +
// 5 periods by default), Stats fails with an error wrapping [ErrStale],
// which scaler.Controller treats as "no data": it holds, and never scales
// to zero because a metric went quiet. A decision made now therefore
// describes traffic of two to three minutes ago: a step in load reaches
// the scaler only after Offset + one period.
//
// ELB scales itself. An ALB or classic ELB grows its own capacity with
// load, over minutes; a sudden surge (several-fold within minutes) can
// meet 503s or added latency at the balancer before any target is busy,
// and no number of web servers fixes that. Ramp traffic up (or ask AWS to
// pre-warm the balancer) for known events. NLBs do not have this ramp.
// [SignalELB5xx] (from Metrics) shows it: 5xx from the balancer itself
// while SignalRequestsPerTarget is low is ELB's ramp, not a lack of tasks;
// do not make the policy scale on it.
//
// New targets start slowly. A registered target gets traffic only after
// its health checks pass (HealthyThresholdCount × HealthCheckInterval,
// 10 s × 5 = 50 s with the defaults), and a deregistered one drains for the
// deregistration delay (300 s by default): scale-out takes a minute,
// scale-in five, unless the target group's settings are lowered.
//
// So, with this driver (examples/elb does all of this):
//
//	b, _ := elb.New(ctx, elb.Config{TargetGroupARN: arn}) // Period 1m, Offset 2m
//	policy, _ := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
//		Target:            50,               // requests/s per task
//		MaxAge:            4 * time.Minute,  // ≥ Offset + 2 × Period: samples are that old by design
//		StableWindow:      5 * time.Minute,  // several periods
//		PanicWindow:       2 * time.Minute,  // ≥ 2 periods, or it holds a single sample
//		DownStabilization: 10 * time.Minute, // scale in slowly: each removal drains for minutes
//	})
//	ctl := &scaler.Controller{Balancer: b, Scaler: policy, Target: sched,
//		Interval: time.Minute,     // one CloudWatch period
//		MaxGap:   3 * time.Minute} // bridge one late or failed read
//	sched, _ := mesos.New(ctx, mesos.Config{Balancer: b, DrainTimeout: 330 * time.Second, ...})
//
// Why these values:
//
//   - MaxAge matters most: TargetTracking's default (30s) is shorter than
//     any CloudWatch sample's age, so the policy would hold for ever.
//   - Poll once per period. The driver asks CloudWatch at most once per
//     period boundary anyway (polls in between return the same reading,
//     which the meter skips, and the controller counts as polls without
//     data towards its Fallback), and GetMetricData is billed per metric
//     requested.
//   - MaxGap decides what an outage of CloudWatch costs: after a gap
//     longer than MaxGap the first reading is a new baseline, so the
//     requests of the outage (which the driver still counts, late) never
//     become a rate sample. A longer MaxGap averages them in instead.
//   - Scale out in larger steps (the signal is old, and a new target
//     needs a minute to turn healthy), scale in slowly.
//   - Give the scheduler a drain timeout of at least the deregistration
//     delay. The mesos scheduler asks ActiveConns, which stays 1 until ELB
//     has finished draining, so it kills a task as soon as ELB lets go
//     of it, and no later than the drain timeout.
//   - For an NLB the counter is new flows (connections), not requests:
//     set the policy's per-task target in flows per second.
//
// The package tests run this configuration through scaler.Controller on a
// simulated timeline (TestControllerOnCloudWatch): the first decision on a
// surge comes Offset + one period (3 minutes) after it began and the full
// count a minute later, a CloudWatch outage holds the count, and scale-in
// waits out the stabilisation window.
package elb
