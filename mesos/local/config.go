package local

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultAgents             = 2
	DefaultCPUs               = 4.0
	DefaultMem                = 4096.0 // MiB
	DefaultPortsBegin         = 31000
	DefaultPortsEnd           = 32000
	DefaultHeartbeatInterval  = 15 * time.Second
	DefaultAllocationInterval = time.Second
	DefaultStatusUpdateRetry  = 10 * time.Second
	DefaultKillGracePeriod    = 3 * time.Second
	DefaultExecutorShutdown   = 5 * time.Second
	maxStatusUpdateRetry      = 10 * time.Minute
	maxBodyBytes              = 4 << 20 // the RecordIO frame limit mesos-go uses
)

// ErrInvalidConfig is returned (wrapped, with every problem found) by Start
// for a Config it refuses; check it with errors.Is.
var ErrInvalidConfig = errors.New("local: invalid Config")

// ErrStart is returned (wrapped, with the cause) by Start when a valid
// Config cannot be started: its context is done, the work directory cannot
// be created, or a master or agent cannot listen. Check it with errors.Is;
// the cause (e.g. context.Canceled) is wrapped too.
var ErrStart = errors.New("local: start")

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	Begin, End uint64
}

// Credentials are the HTTP basic authentication credentials the master
// requires on /api/v1/scheduler when Config.Auth is set (a Mesos master
// started with --authenticate_http_frameworks).
type Credentials struct {
	Principal string
	Secret    string
}

// Quota is a role's quota guarantee in cpus and mem (MiB); a zero field
// guarantees nothing of that resource.
type Quota struct {
	CPUs float64
	Mem  float64
}

func (q Quota) quantities() quantities {
	out := quantities{}
	if q.CPUs > 0 {
		out["cpus"] = q.CPUs
	}
	if q.Mem > 0 {
		out["mem"] = q.Mem
	}
	return out
}

// Config configures a Cluster. The zero value is valid: two agents with
// 4 CPUs, 4096 MiB and 1000 ports each, no authentication, plain HTTP.
type Config struct {
	// Agents is the number of agents. If zero, DefaultAgents is used.
	Agents int
	// Masters is the number of master endpoints (at most 5). One leads;
	// the others answer 307 with the leader's Location, as standby Mesos
	// masters do, and FailoverMaster moves the leadership to the next one.
	// If zero, 1 is used.
	Masters int
	// ElectionDelay is how long every master answers 503 ("No leader
	// elected") after FailoverMaster. Zero means no gap.
	ElectionDelay time.Duration
	// CPUs is the cpus resource of each agent. If zero, DefaultCPUs is used.
	CPUs float64
	// Mem is the mem resource (MiB) of each agent. If zero, DefaultMem is used.
	Mem float64
	// Ports is the range of ports of the whole cluster; it is split evenly
	// between the agents so that no two agents offer the same port (they all
	// run on this host). If zero, 31000-32000 is used: the real Mesos
	// agent's default, below Linux's ephemeral range (32768-60999), so an
	// outgoing connection never holds an offered port. Only ports free on
	// 127.0.0.1 when an offer is made are offered (see the package doc).
	Ports PortRange
	// Hostname is the hostname agents report in offers and AgentInfo; tasks
	// are reachable there on their offered ports. If empty, "127.0.0.1".
	Hostname string
	// HeartbeatInterval is the period of HEARTBEAT events on a subscription.
	// If zero, DefaultHeartbeatInterval (15 s, as Mesos) is used.
	HeartbeatInterval time.Duration
	// AllocationInterval is the period of the allocator; offers are also made
	// at once when resources are freed or a framework revives. If zero,
	// DefaultAllocationInterval is used.
	AllocationInterval time.Duration
	// StatusUpdateRetry is the first delay before an unacknowledged status
	// update is resent; it doubles up to 10 minutes. If zero,
	// DefaultStatusUpdateRetry (10 s, as Mesos) is used.
	StatusUpdateRetry time.Duration
	// KillGracePeriod is the time between SIGTERM and SIGKILL when neither the
	// KILL call nor the task has a kill_policy. If zero,
	// DefaultKillGracePeriod (3 s, as Mesos) is used.
	KillGracePeriod time.Duration
	// ExecutorShutdownGracePeriod is how long an executor has to exit after a
	// SHUTDOWN event before it is killed. If zero, DefaultExecutorShutdown.
	ExecutorShutdownGracePeriod time.Duration
	// Auth, if set, turns HTTP basic authentication on for the scheduler API:
	// requests without these credentials get 401.
	Auth *Credentials
	// TLS, if set, serves the scheduler API over HTTPS with this
	// configuration (it needs Certificates or GetCertificate). Agents'
	// executor API stays plain HTTP on 127.0.0.1, as executors expect.
	TLS *tls.Config
	// InProcessTasks runs every command task as an HTTP responder inside
	// this process instead of a process: it listens on 127.0.0.1 at the
	// task's PORT0 (or first offered port) and answers every request with
	// "port P host H". A task then costs a listener and a goroutine, so
	// that clusters of hundreds of agents and 10,000 tasks fit on one
	// machine (for scheduler benchmarks). The command is validated but not
	// run; health checks, kills (SIGTERM lets requests in flight finish)
	// and status updates work as for processes. Custom executors still
	// run as processes. Off by default.
	InProcessTasks bool
	// Weights are role weights, as a master's --weights flag sets them
	// (role=weight,...): the DRF allocator divides a role's dominant share
	// by its weight, so a role of weight 2 gets twice the share of a role
	// of weight 1 when both want more. A role not listed has weight 1.
	// Weights must be positive and finite; roles must be valid Mesos
	// roles.
	Weights map[string]float64
	// Quota holds quota guarantees by role, as set through a master's
	// /quota endpoint: the allocator offers a role with an unsatisfied
	// guarantee first (stage 1) and holds back enough unreserved resources
	// from every other role that all guarantees can still be met
	// (headroom), whether or not the role uses them. A role's
	// reservations count towards its guarantee. Quota limits are not
	// emulated. Roles must be valid and not "*".
	Quota map[string]Quota
	// WorkDir holds the agents' sandboxes. If empty, a temporary directory
	// is created and removed by Close.
	WorkDir string
	// Logger receives the cluster's logs. If nil, logs are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Agents == 0 {
		c.Agents = DefaultAgents
	}
	if c.Masters == 0 {
		c.Masters = 1
	}
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.Mem == 0 {
		c.Mem = DefaultMem
	}
	if c.Ports == (PortRange{}) {
		c.Ports = PortRange{DefaultPortsBegin, DefaultPortsEnd}
	}
	if c.Hostname == "" {
		c.Hostname = "127.0.0.1"
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.AllocationInterval == 0 {
		c.AllocationInterval = DefaultAllocationInterval
	}
	if c.StatusUpdateRetry == 0 {
		c.StatusUpdateRetry = DefaultStatusUpdateRetry
	}
	if c.KillGracePeriod == 0 {
		c.KillGracePeriod = DefaultKillGracePeriod
	}
	if c.ExecutorShutdownGracePeriod == 0 {
		c.ExecutorShutdownGracePeriod = DefaultExecutorShutdown
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config that already has its defaults.
func (c Config) validate() error {
	var errs []error
	if c.Agents < 0 || c.Agents > 1000 {
		errs = append(errs, fmt.Errorf("invalid Agents %d: want 1..1000", c.Agents))
	}
	if c.Masters < 0 || c.Masters > 5 {
		errs = append(errs, fmt.Errorf("invalid Masters %d: want 1..5", c.Masters))
	}
	if c.CPUs < 0 || math.IsNaN(c.CPUs) || math.IsInf(c.CPUs, 0) {
		errs = append(errs, fmt.Errorf("invalid CPUs %v: want a positive number", c.CPUs))
	}
	if c.Mem < 0 || math.IsNaN(c.Mem) || math.IsInf(c.Mem, 0) {
		errs = append(errs, fmt.Errorf("invalid Mem %v: want a positive number", c.Mem))
	}
	if c.Ports.Begin == 0 || c.Ports.End > 65535 || c.Ports.Begin > c.Ports.End {
		errs = append(errs, fmt.Errorf("invalid Ports %d-%d: want 1 <= Begin <= End <= 65535", c.Ports.Begin, c.Ports.End))
	} else if c.Agents > 0 && int(c.Ports.End-c.Ports.Begin+1) < c.Agents {
		errs = append(errs, fmt.Errorf("invalid Ports %d-%d: fewer ports than agents (%d)", c.Ports.Begin, c.Ports.End, c.Agents))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HeartbeatInterval", c.HeartbeatInterval},
		{"AllocationInterval", c.AllocationInterval},
		{"StatusUpdateRetry", c.StatusUpdateRetry},
		{"KillGracePeriod", c.KillGracePeriod},
		{"ExecutorShutdownGracePeriod", c.ExecutorShutdownGracePeriod},
		{"ElectionDelay", c.ElectionDelay},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("invalid %s %v: must not be negative", d.name, d.v))
		}
	}
	for _, role := range sortedKeys(c.Weights) {
		w := c.Weights[role]
		if msg := validateRole(role); msg != "" {
			errs = append(errs, fmt.Errorf("invalid Weights role %q: %s", role, msg))
		}
		if !(w > 0) || math.IsInf(w, 0) {
			errs = append(errs, fmt.Errorf("invalid Weights[%q] %v: want a positive number", role, w))
		}
	}
	for _, role := range sortedKeys(c.Quota) {
		q := c.Quota[role]
		if msg := validateRole(role); msg != "" {
			errs = append(errs, fmt.Errorf("invalid Quota role %q: %s", role, msg))
		} else if role == "*" {
			errs = append(errs, errors.New(`invalid Quota role "*": quota cannot be set on the default role`))
		}
		for _, v := range []float64{q.CPUs, q.Mem} {
			if !(v >= 0) || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("invalid Quota[%q] %+v: want non-negative numbers", role, q))
				break
			}
		}
	}
	if c.Auth != nil && c.Auth.Principal == "" {
		errs = append(errs, errors.New("invalid Auth: empty Principal"))
	}
	if c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil {
		errs = append(errs, errors.New("invalid TLS: no certificate (set Certificates or GetCertificate)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// agentPorts returns the share of the cluster's ports agent i (0-based) of n offers.
func agentPorts(all PortRange, i, n int) PortRange {
	total := all.End - all.Begin + 1
	per := total / uint64(n)
	b := all.Begin + uint64(i)*per
	e := b + per - 1
	if i == n-1 {
		e = all.End
	}
	return PortRange{b, e}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
