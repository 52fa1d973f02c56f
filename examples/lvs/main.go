// Command lvs runs webfarm's controller loop on the Linux Virtual Server:
// it reads an IPVS virtual service's connection counters (lb/lvs), turns
// them into a rate, asks the TargetTracking policy (scaler) how many real
// servers should serve, and switches servers of a fixed pool in and out of
// the service: a server switched out is drained (weight 0) and removed
// once its last connection ends.
//
// The servers are either a fixed pool (-pool: the first n are in service)
// or Mesos tasks (-master: the mesos package's scheduler launches n copies
// of -task-cmd and keeps the service's real servers in step with them).
// Needs root (CAP_NET_ADMIN) and a kernel with IPVS (modprobe ip_vs
// ip_vs_wrr).
//
//	lvs -vip 10.0.0.1:80 -sched wrr -forward nat -pool 10.0.1.1:8080,10.0.1.2:8080,10.0.1.3:8080
//	lvs -fwmark 7 -forward dr -pool 10.0.1.1:80,10.0.1.2:80 -target-rps 500
//	lvs -vip 10.0.0.1:80 -netns /var/run/netns/lb -pool ... -dry-run
//	lvs -vip 10.0.0.1:80 -master http://mesos:5050 -task-cmd /opt/web/server -max 20
//
// With -master, a task gets no shell: its command must read the port to
// listen on from $PORT0. Tasks listen on ports from their offers, so only
// NAT forwarding fits (direct routing and tunnel keep the service's port).
//
// Every flag, the scaling policy (-target-rps, -min, -max) and, with
// -master, the scheduler's configuration and state file are checked
// before anything is created: a bad value leaves no IPVS service behind.
//
// Ctrl-C stops the loop. The service keeps serving with the servers it
// has, unless -delete-on-exit is given.
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
	"syscall"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lvs"
	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/scaler"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	svc      lvs.Service
	netns    string
	forward  lvs.Forward
	weight   int
	pool     []netip.AddrPort
	target   float64
	min, max int
	interval time.Duration
	dryRun   bool
	del      bool
	// Mesos mode.
	masters []string
	task    mesos.TaskTemplate
	state   string
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("lvs", flag.ContinueOnError)
	vip := fs.String("vip", "", "virtual service address:port, e.g. 10.0.0.1:80 (or use -fwmark)")
	fwmark := fs.Uint("fwmark", 0, "firewall mark of a fwmark service instead of -vip")
	ipv6 := fs.Bool("ipv6", false, "with -fwmark: an IPv6 service")
	proto := fs.String("proto", "tcp", "protocol of a -vip service: tcp, udp or sctp")
	sched := fs.String("sched", "wrr", "IPVS scheduler: rr, wrr, lc, wlc, sh, …")
	persist := fs.Duration("persistence", 0, "keep a client on its server this long (0: no persistence)")
	forward := fs.String("forward", "nat", "forwarding method for the pool: nat, dr or tunnel")
	weight := fs.Int("weight", 1, "weight of a server switched in, 1–256")
	pool := fs.String("pool", "", "comma-separated address:port of every real server the farm may use")
	netns := fs.String("netns", "", "network namespace path to work in (default: this one)")
	target := fs.Float64("target-rps", 100, "new connections per second per server to aim for")
	minN := fs.Int("min", 1, "fewest servers in service")
	maxN := fs.Int("max", 0, "most servers in service (0: the pool size)")
	interval := fs.Duration("interval", 5*time.Second, "controller poll interval (IPVS counters move every 2s)")
	dryRun := fs.Bool("dry-run", false, "decide and log, but change nothing")
	del := fs.Bool("delete-on-exit", false, "delete the virtual service on exit")
	master := fs.String("master", "", "Mesos masters, comma-separated (http://host:5050): the servers are Mesos tasks")
	taskCmd := fs.String("task-cmd", "", "with -master: the web server command, split on spaces (no shell); it listens on $PORT0")
	cpus := fs.Float64("task-cpus", 0.5, "with -master: CPUs per task")
	mem := fs.Float64("task-mem", 128, "with -master: memory per task, MB")
	state := fs.String("state-file", "", "with -master: where the scheduler keeps its framework ID and tasks")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{netns: *netns, weight: *weight, target: *target, min: *minN, max: *maxN,
		interval: *interval, dryRun: *dryRun, del: *del}
	var err error
	if o.forward, err = lvs.ParseForward(*forward); err != nil {
		return o, err
	}
	o.svc = lvs.Service{FWMark: uint32(*fwmark), IPv6: *ipv6, Scheduler: *sched, Persistence: *persist}
	switch {
	case *fwmark > 1<<32-1:
		return o, fmt.Errorf("-fwmark %d does not fit in 32 bits", *fwmark)
	case *vip != "" && *fwmark != 0:
		return o, errors.New("give -vip or -fwmark, not both")
	case *vip == "" && *fwmark == 0:
		return o, errors.New("give the virtual service: -vip address:port or -fwmark N")
	case *vip != "":
		if o.svc.Addr, err = netip.ParseAddrPort(*vip); err != nil {
			return o, fmt.Errorf("-vip: %w", err)
		}
		if o.svc.Protocol, err = lvs.ParseProtocol(*proto); err != nil {
			return o, err
		}
	}
	for _, s := range strings.Split(*pool, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := netip.ParseAddrPort(s)
		if err != nil {
			return o, fmt.Errorf("-pool: %w", err)
		}
		o.pool = append(o.pool, a)
	}
	if *master != "" {
		return o, o.mesosMode(*master, *taskCmd, *cpus, *mem, *state)
	}
	if len(o.pool) == 0 {
		return o, errors.New("-pool: give at least one real server (or -master for Mesos tasks)")
	}
	if o.max == 0 || o.max > len(o.pool) {
		o.max = len(o.pool)
	}
	return o, nil
}

func (o *options) mesosMode(masters, cmd string, cpus, mem float64, state string) error {
	switch {
	case len(o.pool) > 0:
		return errors.New("give -pool or -master, not both")
	case strings.TrimSpace(cmd) == "":
		return errors.New("-master needs -task-cmd, the web server to run")
	case o.forward != lvs.NAT && o.svc.FWMark == 0:
		return fmt.Errorf("-forward %s keeps the service port, but Mesos tasks listen on offered ports: use -forward nat", o.forward)
	}
	var err error
	if o.masters, err = mesos.ParseMasters(masters); err != nil {
		return fmt.Errorf("-master: %w", err)
	}
	o.task = mesos.TaskTemplate{Name: "web", Command: strings.Fields(cmd), CPUs: cpus, Mem: mem}
	o.state = state
	if o.max == 0 {
		o.max = 10
	}
	return nil
}

func run(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return runWith(ctx, stop, args, log, newLVS)
}

// farmBalancer is what the command needs of its driver: a balancer it
// closes on exit.
type farmBalancer interface {
	lb.Balancer
	Close() error
}

// newBalancerFunc creates the driver. It is the only step that changes the
// kernel (it may create the virtual service), so runWith calls it after
// every flag, the policy and the scheduler's configuration were checked;
// tests inject one that records the call.
type newBalancerFunc func(ctx context.Context, cfg lvs.Config) (farmBalancer, error)

func newLVS(ctx context.Context, cfg lvs.Config) (farmBalancer, error) {
	b, err := lvs.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// plan is everything the command will build, checked before anything is.
type plan struct {
	opts   options
	policy scaler.Policy
	lvs    lvs.Config
	mesos  *mesos.Config // nil: a fixed pool; Balancer is set once the driver exists
}

// newPlan checks the whole configuration: the flags, the scaling policy
// and, in Mesos mode, the scheduler's configuration (state file included).
// It creates nothing.
func newPlan(args []string, log *slog.Logger) (plan, error) {
	o, err := parseFlags(args)
	if err != nil {
		return plan{}, err
	}
	policy, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: o.target, Min: o.min, Max: o.max})
	if err != nil {
		return plan{}, fmt.Errorf("policy (-target-rps, -min, -max): %w", err)
	}
	p := plan{opts: o, policy: policy, lvs: lvs.Config{
		Service: o.svc, Namespace: o.netns, Forward: o.forward, Weight: o.weight,
		ReapInterval: time.Second, DeleteOnClose: o.del, Logger: log,
	}}
	if len(o.masters) > 0 {
		p.mesos = &mesos.Config{Masters: o.masters, StateFile: o.state, Task: o.task, Weight: o.weight, Logger: log}
		if err := p.mesos.Validate(); err != nil {
			return plan{}, err
		}
	}
	return p, nil
}

// runWith runs the command: it checks everything (newPlan), then creates
// the driver with newBalancer, then the target and the controller, and
// runs until ctx is done. stop ends the run early.
func runWith(ctx context.Context, stop func(), args []string, log *slog.Logger, newBalancer newBalancerFunc) error {
	p, err := newPlan(args, log)
	if err != nil {
		return err
	}
	o := p.opts
	b, err := newBalancer(ctx, p.lvs)
	if err != nil {
		return err
	}
	defer b.Close()
	var tgt scaler.Runner
	if p.mesos != nil {
		mcfg := *p.mesos
		mcfg.Balancer = b
		sched, err := mesos.New(ctx, mcfg)
		if err != nil {
			return err
		}
		go func() {
			if err := sched.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("lvs: mesos scheduler stopped", "err", err)
				stop()
			}
		}()
		tgt = sched
	} else if tgt, err = newPoolTarget(ctx, b, o.pool, o.weight, o.dryRun); err != nil {
		return err
	}
	c := &scaler.Controller{Balancer: b, Policy: p.policy, Runner: tgt, Interval: o.interval, DryRun: o.dryRun, Logger: log}
	log.Info("lvs: controlling", "service", o.svc.String(), "pool", len(o.pool), "target_rps", o.target, "dry_run", o.dryRun)
	if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
