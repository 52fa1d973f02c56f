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
//   - Stats: CloudWatch GetMetricData, the Sum of the kind's request
//     counter (see "Per kind" below), added period by period into a
//     counter that never goes down. Stats.At is the end of the newest
//     period counted as complete, never now. Stats.Backends is nil: ELB
//     publishes no per-target request count. Many target groups (one
//     per service) share their reads through [ReadAll] or a [Group]: one
//     GetMetricData call carries up to [MaxQueriesPerCall] (500) queries,
//     the most CloudWatch accepts, so N Balancers cost ⌈N/500⌉ calls a
//     period instead of N (TestGroupBatchesGetMetricData: 501 controllers,
//     2 calls a period; elbtest rejects a 501st query and repeated query
//     IDs, as CloudWatch does).
//   - Add: RegisterTargets (IP targets: the backend's address; instance
//     targets: Config.InstanceID's instance, with the backend's port), or
//     RegisterInstancesWithLoadBalancer for classic ELB.
//   - Drain: DeregisterTargets / DeregisterInstancesFromLoadBalancer. ELB
//     stops new requests at once and lets open ones run for the target
//     group's deregistration delay (classic: the connection-draining
//     timeout). [Balancer.WaitDrained] polls until ELB has let go of the
//     target (per kind below); [Balancer.ActiveConns] answers 1 while ELB
//     still holds the target and 0 once it has let go, so a scheduler that
//     waits for zero connections waits for ELB.
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
// # Per kind: the metric read, its delay, and how a drain's end is seen
//
// ALB: CloudWatch AWS/ApplicationELB RequestCount by LoadBalancer and
// TargetGroup (this target group's requests only). 60-second sums,
// published one to three minutes late and only for minutes with
// requests. Drain: the target stays "draining" in DescribeTargetHealth
// for the whole deregistration delay (deregistration_delay.timeout_seconds,
// 300 s by default), even when idle; it is done when DescribeTargetHealth
// no longer reports it.
//
// NLB: CloudWatch AWS/NetworkELB NewFlowCount by LoadBalancer: new
// TCP/UDP/TLS flows, not requests. AWS publishes NLB flow and byte metrics
// per load balancer (and per Availability Zone) only; per target group
// only HealthyHostCount and UnHealthyHostCount. So with several target
// groups (listeners) on one NLB the counter includes all of them: give the
// farm an NLB of its own, or set Config.MetricName to a per-protocol
// counter (NewFlowCount_TCP, …) if the protocols tell the groups apart.
// Same 60-second sums and delay as an ALB. Drain: "draining" for the
// deregistration delay, then "unused"; but with
// deregistration_delay.connection_termination.enabled false (AWS's
// default) the NLB keeps the target's existing flows open after that, and
// no metric says when they end, so the driver reads the attribute and
// counts the target as busy for Config.FlowLinger (350 s, the NLB's TCP
// idle timeout) beyond the delay. Enable connection termination to make
// the drain end at the delay.
//
// Classic ELB: CloudWatch AWS/ELB RequestCount by LoadBalancerName, with
// the same delay. Drain: for up to the connection-draining timeout (300 s
// by default; none when draining is off), DescribeInstanceHealth reports
// the instance "InService" with the description "Instance deregistration
// currently in progress" while connection draining lasts and stops listing it (asked
// by ID: "OutOfService", not registered) as soon as its connections end or
// the timeout passes; the driver follows that, so a drain is over when
// ELB says so, not at the timeout.
//
// New checks the metric against AWS's tables of published dimension sets
// and the LoadBalancer dimension against the target group's load
// balancers, and fails naming namespace, metric and dimensions when a
// query could never match. A metric that exists but stays silent shows as
// ErrStale from Stats (see Config.Missing), naming them too.
//
// A classic load balancer registers whole instances and sends traffic to
// its listeners' instance port, so each backend needs an instance of its
// own and must listen on that port (with Mesos: one task per agent,
// mesos.Config.MaxPerHost = 1, on a fixed port): New reads the listeners
// (DescribeLoadBalancers) and Add refuses a backend on another port with
// lb.ErrInvalid; a second backend on an instance already in the pool
// fails with lb.ErrExists. Target groups have no such limit: a target is
// an instance or IP with a port.
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
// DeregisterTargets, DescribeTargetHealth, DescribeTargetGroups and
// DescribeTargetGroupAttributes; for classic ELB
// RegisterInstancesWithLoadBalancer, DeregisterInstancesFromLoadBalancer,
// DescribeInstanceHealth, DescribeLoadBalancers and
// DescribeLoadBalancerAttributes. Throttling
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
// without a datapoint is: MissingUnknown (the default, as AWS's own target
// tracking treats missing data) reads it as not known yet, so Stats.At
// stops advancing and the scaler holds, and a wrong metric can never pass
// for an idle farm; MissingZero reads it as no traffic once the metric has
// had a datapoint, which lets an idle farm scale down (set it once the
// metric is known to be right). When
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
// 30 s × 5 = 150 s with the defaults of ALB and NLB target groups,
// https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html),
// and a deregistered one drains for the deregistration delay (300 s by
// default; an NLB without connection termination longer, see above). So
// from a surge to the first added task serving takes Offset + one period
// (3 minutes: the data) + the scheduler's launch + 150 s (ELB's health
// checks), about six minutes, and a scale-in ties a task up for five,
// unless the target group's settings are lowered (e.g. a 10 s interval
// and 2 healthy checks: 20 s).
//
// So, with this driver (examples/elb does all of this):
//
//	b, _ := elb.New(ctx, elb.Config{TargetGroupARN: arn}) // Period 1m, Offset 2m
//	policy, _ := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
//		RequestsPerTask:   35,               // ~70% of a task's capacity: headroom for the ~6 min a new task needs
//		MaxAge:            4 * time.Minute,  // ≥ Offset + 2 × Period: samples are that old by design
//		StableWindow:      5 * time.Minute,  // several periods
//		PanicWindow:       2 * time.Minute,  // ≥ 2 periods, or it holds a single sample
//		DownStabilization: 10 * time.Minute, // > data delay + 150 s health checks: never undo a scale-out before its tasks serve
//	})
//	ctl := &scaler.Controller{Balancer: b, Policy: policy, Runner: sched,
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
//   - Aim below a task's capacity. With the default health checks a new
//     task serves about six minutes after the surge began (3 minutes of
//     data delay, launch, 150 s of health checks): the Target must leave
//     room for the load's growth over that time, or lower the target
//     group's HealthCheckIntervalSeconds and HealthyThresholdCount.
//   - Scale out in larger steps (the signal is old, and a new target
//     needs 150 s to turn healthy), scale in slowly: DownStabilization
//     longer than the data delay plus the health checks, so a scale-in
//     never reacts to a surge's tasks before they serve.
//   - Give the scheduler a drain timeout of at least the deregistration
//     delay (330 s for the default 300 s); for an NLB without connection
//     termination, the delay + Config.FlowLinger (650 s by default). The
//     mesos scheduler asks ActiveConns, which stays 1 until ELB has let
//     go, so it kills a task as soon as that happens, and no later than
//     the drain timeout.
//   - For an NLB the counter is new flows (connections), not requests:
//     set the policy's per-task target in flows per second.
//
// The package tests run this configuration through scaler.Controller on a
// simulated timeline (TestControllerOnCloudWatch): the first decision on a
// surge comes Offset + one period (3 minutes) after it began and the full
// count a minute later, a CloudWatch outage holds the count, and scale-in
// waits out the stabilisation window.
package elb
