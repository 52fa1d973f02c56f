// Command elb autoscales web servers behind an AWS load balancer: it reads
// the balancer's request count from CloudWatch (lb/elb), asks the
// TargetTracking policy (scaler) how many servers should run, and has the
// Mesos scheduler (package mesos) launch or drain-and-kill tasks, which
// the driver registers with the target group or deregisters from it.
//
//	elb -target-group-arn arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067 \
//	    -master http://mesos:5050 -task-cmd "/usr/local/bin/web" -target-rps 50 -max 20
//	elb -classic web-lb -instances 10.0.1.5=i-0abc,10.0.1.6=i-0def -master ... -task-cmd ...
//	elb -target-group-arn ... -dry-run     # read CloudWatch and log decisions only
//
// Credentials and region come from the AWS SDK's default chain
// (AWS_PROFILE, AWS_REGION, instance role, …); -region overrides the
// region and -endpoint the service endpoint (for an AWS-compatible
// emulator). Without -master the command runs nothing: it logs what it
// would ask for (a dry run with a logging target).
//
// The flags' defaults follow lb/elb's advice for delayed metrics: poll
// once per CloudWatch period, let the policy accept samples that are
// minutes old (-max-age), average over minutes, hold when CloudWatch has
// no datapoint (-missing unknown; -missing zero lets an idle farm scale
// in once the metric is known to be right), and keep a drained task
// alive for the target group's deregistration delay (-drain-timeout; for
// an NLB without connection termination add -flow-linger). New targets
// serve only after the target group's health checks pass (30 s × 5 =
// 150 s with AWS's defaults), so -target-rps should leave headroom.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/scaler"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// options are the command's parsed flags.
type options struct {
	elb      elb.Config
	endpoint string
	policy   scaler.TargetTrackingConfig
	interval time.Duration
	maxGap   time.Duration
	dryRun   bool
	masters  []string
	task     mesos.TaskTemplate
	state    string
	drain    time.Duration
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("elb", flag.ContinueOnError)
	tg := fs.String("target-group-arn", "", "ALB/NLB target group whose targets are the farm")
	lbDim := fs.String("load-balancer", "", `CloudWatch LoadBalancer dimension, "app/<name>/<id>" (default: read from the target group)`)
	classic := fs.String("classic", "", "classic load balancer name, instead of -target-group-arn")
	instances := fs.String("instances", "", "for instance targets and classic ELB: comma-separated ip=instance-id of the Mesos agents")
	region := fs.String("region", "", "AWS region (default: the SDK's chain, e.g. AWS_REGION)")
	endpoint := fs.String("endpoint", "", "AWS endpoint URL for every service (default: AWS's)")
	metric := fs.String("metric", "", "CloudWatch metric to count (default RequestCount, NLB NewFlowCount)")
	offset := fs.Duration("offset", 2*time.Minute, "how far behind now the newest CloudWatch period read must end")
	missing := fs.String("missing", "unknown", "a period without a datapoint is: unknown (hold; a wrong metric never reads as idle) or zero (no traffic, once the metric has had data: lets an idle farm scale in)")
	flowLinger := fs.Duration("flow-linger", 0, "NLB without connection termination: how long after the deregistration delay a drained target still counts as busy (0: the driver's 350s)")
	adopt := fs.Bool("adopt", false, "list targets in the group that this farm did not add, so that they are removed")
	target := fs.Float64("target-rps", 50, "requests (NLB: new flows) per second per task to aim for")
	latency := fs.Float64("target-latency-ms", 0, "also scale on the targets' mean response time (ALB, classic), in ms (0: off)")
	minN := fs.Int("min", 2, "fewest tasks")
	maxN := fs.Int("max", 20, "most tasks")
	interval := fs.Duration("interval", time.Minute, "controller poll interval: one CloudWatch period")
	maxAge := fs.Duration("max-age", 4*time.Minute, "oldest sample the policy acts on (CloudWatch is offset + a period late)")
	stable := fs.Duration("stable-window", 5*time.Minute, "policy averaging window")
	panicW := fs.Duration("panic-window", 2*time.Minute, "policy burst window (at least two periods)")
	downStab := fs.Duration("down-stabilization", 10*time.Minute, "no scale-down before load stayed lower this long")
	dryRun := fs.Bool("dry-run", false, "decide and log, change nothing")
	master := fs.String("master", "", "Mesos masters, comma-separated (http://host:5050); without it nothing is launched")
	taskCmd := fs.String("task-cmd", "", "with -master: the web server command, split on spaces (no shell); it listens on $PORT0")
	cpus := fs.Float64("task-cpus", 0.5, "with -master: CPUs per task")
	mem := fs.Float64("task-mem", 256, "with -master: memory per task, MB")
	health := fs.String("health-path", "", "with -master: HTTP path Mesos checks before a task joins the target group")
	state := fs.String("state-file", "", "with -master: where the scheduler keeps its framework ID and tasks")
	drain := fs.Duration("drain-timeout", 330*time.Second, "kill a drained task after this long at most (≥ the deregistration delay; NLB without connection termination: + -flow-linger)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := options{
		endpoint: *endpoint, interval: *interval, maxGap: 3 * *interval, dryRun: *dryRun, state: *state, drain: *drain,
		elb: elb.Config{TargetGroupARN: *tg, LoadBalancer: *lbDim, LoadBalancerName: *classic, Region: *region,
			MetricName: *metric, Offset: *offset, Adopt: *adopt, FlowLinger: *flowLinger},
		policy: scaler.TargetTrackingConfig{RequestsPerTask: *target, Min: *minN, Max: *maxN, MaxAge: *maxAge,
			StableWindow: *stable, PanicWindow: *panicW, DownStabilization: *downStab},
	}
	if *latency < 0 {
		return o, fmt.Errorf("-target-latency-ms %v is negative", *latency)
	}
	if *latency > 0 {
		o.policy.Signals = []scaler.Signal{{Name: elb.SignalResponseTime, ValuePerTask: *latency, PerTask: true}}
	}
	switch *missing {
	case "zero":
		o.elb.Missing = elb.MissingZero
	case "unknown":
		o.elb.Missing = elb.MissingUnknown
	default:
		return o, fmt.Errorf("-missing %q: want zero or unknown", *missing)
	}
	if *instances != "" {
		m, err := parseInstances(*instances)
		if err != nil {
			return o, err
		}
		o.elb.InstanceID = func(_ context.Context, b lb.Backend) (string, error) {
			if id, ok := m[b.Addr.Addr().Unmap()]; ok {
				return id, nil
			}
			return "", fmt.Errorf("no -instances entry for %s", b.Addr.Addr())
		}
	}
	if *master != "" {
		if strings.TrimSpace(*taskCmd) == "" {
			return o, errors.New("-master needs -task-cmd, the web server to run")
		}
		o.masters = strings.Split(*master, ",")
		o.task = mesos.TaskTemplate{Name: "web", Command: strings.Fields(*taskCmd), CPUs: *cpus, Mem: *mem}
		if *health != "" {
			o.task.HealthCheck = &mesos.HealthCheck{Path: *health}
		}
	}
	return o, nil
}

// parseInstances reads "10.0.1.5=i-0abc,10.0.1.6=i-0def".
func parseInstances(s string) (map[netip.Addr]string, error) {
	m := map[netip.Addr]string{}
	for _, kv := range strings.Split(s, ",") {
		ip, id, ok := strings.Cut(strings.TrimSpace(kv), "=")
		a, err := netip.ParseAddr(ip)
		if !ok || err != nil || !strings.HasPrefix(id, "i-") {
			return nil, fmt.Errorf("-instances: %q is not ip=i-instanceid", kv)
		}
		m[a.Unmap()] = id
	}
	return m, nil
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ac, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	if o.endpoint != "" {
		ac.BaseEndpoint = aws.String(o.endpoint)
	}
	o.elb.AWS, o.elb.Logger = &ac, log
	b, err := elb.New(ctx, o.elb)
	if err != nil {
		return err
	}
	defer b.Close()
	policy, err := scaler.NewTargetTracking(o.policy)
	if err != nil {
		return err
	}
	var tgt scaler.Runner = &logTarget{log: log, n: o.policy.Min}
	if len(o.masters) > 0 {
		sched, err := mesos.New(ctx, mesos.Config{Masters: o.masters, StateFile: o.state, Task: o.task,
			Balancer: b, DrainTimeout: o.drain, Logger: log})
		if err != nil {
			return err
		}
		go func() {
			if err := sched.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("elb: mesos scheduler stopped", "err", err)
				stop()
			}
		}()
		tgt = sched
	}
	c := &scaler.Controller{Balancer: b, Policy: policy, Runner: tgt, Interval: o.interval, MaxGap: o.maxGap,
		DryRun: o.dryRun, Logger: log}
	if len(o.policy.Signals) > 0 {
		c.Sources = []scaler.MetricSource{b} // response time and the balancer's other metrics
	}
	log.Info("elb: controlling", "target_group", o.elb.TargetGroupARN, "classic", o.elb.LoadBalancerName,
		"target_rps", o.policy.RequestsPerTask, "mesos", len(o.masters) > 0, "dry_run", o.dryRun)
	if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// logTarget is the scaler.Runner used without -master: it records and
// logs the desired count, and reports it as running.
type logTarget struct {
	log *slog.Logger
	mu  sync.Mutex
	n   int
}

// Status implements scaler.Runner.
func (t *logTarget) Status(context.Context) (scaler.Status, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return scaler.Status{Desired: t.n, Running: t.n}, nil
}

// SetDesired implements scaler.Runner.
func (t *logTarget) SetDesired(_ context.Context, n int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.log.Info("elb: would run tasks (no -master)", "from", t.n, "to", n)
	t.n = n
	return nil
}
