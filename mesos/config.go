package mesos

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os/user"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/mesos/zk"
)

// ErrInvalid is wrapped by every error about a bad argument: a field of
// [Config] (the message names it, for example "mesos: Task.CPUs 0: must be
// a finite number > 0: invalid argument") or a negative count given to
// [Scheduler.SetDesired] ("mesos: SetDesired(-3): the count must be 0 or
// more: invalid argument"). Only this package wraps it, so its text has no
// "mesos:" prefix: the message already starts with one.
var ErrInvalid = errors.New("invalid argument")

// Config configures a [Scheduler]. Masters, Task and Balancer are required;
// every other zero field means the default its doc states.
type Config struct {
	// Masters lists the Mesos masters, as "http://host:5050",
	// "https://host:5050", a bare "host:port" (http) or a full scheduler
	// endpoint URL. The scheduler follows the leading master itself (HTTP
	// 307) and moves to the next entry when one cannot be reached.
	// Alternatively one zk://[user:pass@]host:port[,host:port…]/path URL,
	// as Mesos's --master flag takes it: the leader is then read from
	// ZooKeeper and followed through its watches (see mesos/zk).
	// Required.
	Masters []string

	// Name is the framework name. If empty, "webfarm" is used.
	Name string
	// User is the Unix user tasks run as. If empty, the user running the
	// scheduler is used.
	User string
	// Role is the framework's role. If empty, "*" is used.
	Role string
	// ReserveMin, when above 0, keeps the cpus and mem of that many of
	// the default service's tasks dynamically reserved for Role (set it
	// to the policy's Min), so the farm gets back to Min at once after
	// its tasks die while other frameworks fill the cluster; reservations
	// it no longer needs are released. Needs a Role other than "*". See
	// the package doc, "Sharing the cluster".
	ReserveMin int
	// Principal identifies the framework to the master (FrameworkInfo
	// principal). With Secret it is sent as HTTP basic authentication.
	Principal string
	// Secret is the principal's password for HTTP basic authentication.
	// A Secret needs a Principal.
	Secret string
	// TLS is used for https:// masters. If nil, Go's defaults are used.
	TLS *tls.Config
	// FailoverTimeout is how long the master keeps the framework's tasks
	// running while the scheduler is away. If zero, 7 days is used.
	FailoverTimeout time.Duration
	// StateFile is where the scheduler keeps the framework ID, the desired
	// count and the launched tasks' addresses, so that a restarted
	// scheduler re-subscribes as the same framework and rebuilds its view.
	// If empty, nothing survives a restart of the process.
	StateFile string
	// State, if set, keeps the same state as StateFile elsewhere, for
	// example in ZooKeeper (mesos/zk's Term.State), so that a standby
	// scheduler that takes over re-subscribes as the same framework. It
	// excludes StateFile.
	State StateStore
	// Codec is the wire encoding: "protobuf" or "json". If empty,
	// "protobuf" is used.
	Codec string

	// Task describes the web-server task of the default service, named
	// Task.Name: the service [Scheduler.Status], [Scheduler.SetDesired]
	// and the membership fields below (MaxPerHost … Weight) are about.
	// Required, with Balancer, unless Services is set; then both may be
	// left zero for a farm of Services only.
	Task TaskTemplate

	// Services lists further services of the farm, run by the same
	// framework on the same offers (see [ServiceConfig]; more can be
	// added and removed at run time with [Scheduler.AddService] and
	// [Scheduler.RemoveService]). Names must be unique, the default
	// service's included, and each needs its own Balancer.
	Services []ServiceConfig

	// InitialCount is the default service's desired count for a new farm
	// (a state with no framework ID and no task), so that it launches
	// tasks at once instead of serving nothing until the first
	// SetDesired. A farm that has run keeps its saved count. If zero, 0.
	InitialCount int

	// MaxPerHost caps the tasks on one agent hostname. If zero, there is
	// no cap.
	MaxPerHost int
	// MaxPerAgent caps the tasks on one agent (by agent ID; several agents
	// may share a host). If zero, there is no cap.
	MaxPerAgent int

	// Balancer receives membership changes: a task is added once RUNNING
	// (and healthy when Task.HealthCheck is set) and drained before it is
	// killed. The scheduler owns the entries of its tasks: those whose ID
	// has its task-ID form (Task.Name + ".") or that the state file
	// listed. Such an entry with no live task is removed after
	// reconciliation and at every pool sync (PoolSyncInterval); other
	// entries, such as a user's static servers, are left alone. Required.
	Balancer lb.Balancer
	// Victims is the order in which tasks are chosen for removal on a
	// scale-down. If zero, FewestConnections is used.
	Victims VictimOrder
	// DrainTimeout is the longest a drained backend may keep connections
	// before its task is killed anyway. If zero, 30s is used. When the
	// balancer implements lb.ConnCounter the task is killed as soon as
	// the backend has no active connection.
	DrainTimeout time.Duration
	// PoolSyncInterval is how often the scheduler reads the balancer's
	// pool (Balancer.Backends) and repairs it against its tasks: a
	// serving task missing from the pool (the balancer restarted and lost
	// its dynamic servers, a service was recreated, a target group edited
	// by hand) is added again, with the same health gating as a new one;
	// an entry with no live task whose ID is a task ID of this scheduler
	// (Task.Name + "." + hex) or was one is removed; other entries (a
	// user's static servers) and backends being drained or killed are left
	// alone. Each repair is logged. A pool read also follows at once when
	// a run of balancer errors ends. If zero, 5s is used; a negative value
	// turns the periodic read off.
	PoolSyncInterval time.Duration
	// SlowStart ramps a new backend's weight from low to Weight over this
	// long, when the balancer implements lb.Weighter. If zero, backends
	// are added at the balancer's default weight.
	SlowStart time.Duration
	// Weight is the full weight a slow-started backend ramps to, 1–256.
	// If zero, 100 is used.
	Weight int

	// DeclineFor is the refuse_seconds filter sent with declined offers.
	// REVIVE clears it when offers are needed again. If zero, 10m is used.
	DeclineFor time.Duration
	// ReconcileTimeout bounds the wait for answers to the reconciliation
	// sent on every (re)subscribe; no task is launched before it ends.
	// If zero, 30s is used.
	ReconcileTimeout time.Duration
	// LaunchTimeout is how long a task may stay staging before it is
	// killed and replaced. If zero, 5m is used.
	LaunchTimeout time.Duration
	// RelaunchBackoff delays launches after tasks die unexpectedly before
	// they served for RelaunchBackoffMax: the second such death in a row
	// holds launches for RelaunchBackoff, each further one twice as long,
	// up to RelaunchBackoffMax; a task that serves for RelaunchBackoffMax
	// ends the streak. This stops a broken command from crash-looping at
	// the rate offers arrive. If zero, 1s and 1m are used.
	RelaunchBackoff, RelaunchBackoffMax time.Duration
	// ReconnectMin and ReconnectMax bound the backoff between subscription
	// attempts. If zero, 1s and 15s are used.
	ReconnectMin, ReconnectMax time.Duration
	// MissedHeartbeats is how many heartbeat intervals may pass without an
	// event before the scheduler drops the subscription and re-subscribes.
	// If zero, 5 is used.
	MissedHeartbeats int
	// RequestTimeout bounds connecting to a master and waiting for its
	// response headers. If zero, 10s is used.
	RequestTimeout time.Duration
	// Tick is the interval of the loop that converges tasks and balancer
	// membership; events also trigger it. If zero, 1s is used.
	Tick time.Duration

	// Resolve turns an agent hostname into the address the balancer
	// sends traffic to, when the offer does not carry an IP. If nil, the
	// system resolver is used.
	Resolve func(ctx context.Context, host string) (netip.Addr, error)
	// Logger receives one line per membership change and per connection
	// event. If nil, slog.Default() is used.
	Logger *slog.Logger
}

// TaskTemplate describes the tasks the scheduler launches.
//
// The command runs without a shell: Command[0] is the executable and the
// whole of Command is its argument vector. The environment carries HOST
// (the agent's hostname), PORT0…PORT<n-1> (the ports taken from the offer)
// and PORT (= PORT0), plus Env.
type TaskTemplate struct {
	// Name prefixes task names and IDs. If empty, the framework name is
	// used. Letters, digits, '.', '_' and '-' only.
	Name string
	// Command is the argument vector. Required unless Image is set.
	Command []string
	// Image is a Docker image run by the Mesos containerizer. Without a
	// Command the image's entrypoint runs.
	Image string
	// Env is added to the task's environment. It may not set HOST, PORT or
	// PORT<n>.
	Env map[string]string
	// CPUs and Mem (MiB) are the resources of one task. Both must be > 0.
	CPUs, Mem float64
	// Ports is the number of ports taken from the offer. If zero, 1 is
	// used; the balancer sends traffic to PORT0.
	Ports int
	// HealthCheck, if set, is an HTTP check Mesos runs against the task;
	// the task joins the balancer only once Mesos reports it healthy.
	HealthCheck *HealthCheck
	// KillGracePeriod is the time between SIGTERM and SIGKILL when the
	// task is killed. If zero, Mesos's default (3s) applies.
	KillGracePeriod time.Duration
}

// HealthCheck is an HTTP health check run by Mesos.
type HealthCheck struct {
	// Path is the request path. If empty, "/" is used.
	Path string
	// PortIndex picks the port checked, an index into the task's ports.
	PortIndex int
	// Scheme is "http" or "https". If empty, "http" is used.
	Scheme string
	// Delay is the wait before the first check. If zero, 0s (Mesos's own
	// default is 15s).
	Delay time.Duration
	// Interval between checks. If zero, 10s is used.
	Interval time.Duration
	// Timeout of one check. If zero, 20s is used.
	Timeout time.Duration
	// GracePeriod during which failures do not count. If zero, 10s is used.
	GracePeriod time.Duration
	// ConsecutiveFailures before Mesos kills the task. If zero, 3 is used.
	ConsecutiveFailures int
}

// VictimOrder is how tasks are chosen for removal on a scale-down. Tasks
// that are not serving yet (staging, starting, unhealthy) always go first.
type VictimOrder int

const (
	// FewestConnections picks the backends with the fewest active
	// connections, youngest first on a tie, when the balancer implements
	// lb.ConnCounter; otherwise it behaves as Youngest.
	FewestConnections VictimOrder = iota
	// Youngest picks the most recently launched tasks.
	Youngest
	// Oldest picks the longest-running tasks.
	Oldest
)

// String returns the order's name.
func (v VictimOrder) String() string {
	switch v {
	case FewestConnections:
		return "fewest-connections"
	case Youngest:
		return "youngest"
	case Oldest:
		return "oldest"
	}
	return fmt.Sprintf("VictimOrder(%d)", int(v))
}

// ParseVictimOrder parses "fewest-connections", "youngest" or "oldest".
func ParseVictimOrder(s string) (VictimOrder, error) {
	for _, v := range []VictimOrder{FewestConnections, Youngest, Oldest} {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("mesos: victim order %q: want fewest-connections, youngest or oldest: %w", s, ErrInvalid)
}

// ParseMasters splits a comma-separated list of masters (a flag value) and
// returns their scheduler endpoint URLs, each checked as [Config] does.
//
// A zk:// URL (whose server list has commas of its own) is returned as
// the one entry.
func ParseMasters(s string) ([]string, error) {
	if s = strings.TrimSpace(s); zk.IsURL(s) {
		if _, err := zk.ParseURL(s); err != nil {
			return nil, fmt.Errorf("mesos: master %w", err)
		}
		return []string{s}, nil
	}
	var out []string
	for i, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		u, err := endpointURL(m)
		if err != nil {
			return nil, fmt.Errorf("mesos: master %d %q: %w", i, m, err)
		}
		out = append(out, u.String())
	}
	return out, nil
}

const schedulerPath = "/api/v1/scheduler"

// endpointURL turns a master address into its scheduler endpoint URL.
func endpointURL(m string) (*url.URL, error) {
	if m == "" {
		return nil, fmt.Errorf("empty address: %w", ErrInvalid)
	}
	if !strings.Contains(m, "://") {
		m = "http://" + m
	}
	u, err := url.Parse(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https: %w", u.Scheme, ErrInvalid)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host: %w", ErrInvalid)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil || p == "0" {
			return nil, fmt.Errorf("port %q: %w", p, ErrInvalid)
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("credentials, query or fragment in URL: use Principal/Secret: %w", ErrInvalid)
	}
	switch strings.TrimSuffix(u.Path, "/") {
	case "":
		u.Path = schedulerPath
	case schedulerPath:
		u.Path = schedulerPath
	default:
		return nil, fmt.Errorf("path %q: want none or %s: %w", u.Path, schedulerPath, ErrInvalid)
	}
	u.RawPath = ""
	return u, nil
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
var portEnvPattern = regexp.MustCompile(`^PORT[0-9]*$`)

func fieldErr(field string, v any, why string) error {
	return fmt.Errorf("mesos: %s %v: %s: %w", field, v, why, ErrInvalid)
}

func badDuration(field string, d time.Duration) error {
	if d < 0 {
		return fieldErr(field, d, "must not be negative")
	}
	return nil
}

func badFloat(field string, f float64, min float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= min {
		return fieldErr(field, f, fmt.Sprintf("must be a finite number > %g", min))
	}
	return nil
}

// Validate checks c as [New] does, except that it accepts a nil Balancer:
// a program can check its whole configuration before it builds the
// balancer (which may create things, such as an IPVS virtual service),
// then set Balancer and call New. Validate also reads StateFile, if set,
// and checks that it parses; it writes nothing and talks to no master.
// A bad field gives an error that names it and wraps [ErrInvalid]; an
// unreadable or corrupt state file gives the error New would.
func (c *Config) Validate() error {
	if err := c.validateFields(); err != nil {
		return err
	}
	_, err := loadState(c.StateFile)
	return err
}

// validate checks c and returns the first problem, naming the field.
func (c *Config) validate() error {
	if c.hasDefaultService() && isNil(c.Balancer) {
		return fieldErr("Balancer", fmt.Sprintf("%T(nil)", c.Balancer), "required")
	}
	if err := c.validateFields(); err != nil {
		return err
	}
	return c.validateServices()
}

// validateServices checks Services: each valid, names unique (the default
// service's included), no Balancer shared.
func (c *Config) validateServices() error {
	all := c.servicesWithDefault()
	for i := range c.Services {
		if err := validateReserveMin("Service "+c.Services[i].Name+" ReserveMin", c.Services[i].ReserveMin, c.Role); err != nil {
			return err
		}
		if err := c.Services[i].validate(); err != nil {
			return err
		}
	}
	for i := range all {
		for j := range i {
			if all[i].Name == all[j].Name {
				return fieldErr("Services", fmt.Sprintf("%q", all[i].Name), "service name used twice")
			}
			if !isNil(all[i].Balancer) && sameBalancer(all[i].Balancer, all[j].Balancer) {
				return fieldErr("Service "+all[i].Name+" Balancer", typeName(all[i].Balancer), "already used by service "+all[j].Name)
			}
		}
	}
	return nil
}

// servicesWithDefault returns the default service's config (if any)
// followed by Services. The default service's name is Task.Name or, if
// empty, Name or "webfarm", as withDefaults sets it.
func (c *Config) servicesWithDefault() []ServiceConfig {
	var out []ServiceConfig
	if c.hasDefaultService() {
		sc := c.serviceConfig()
		sc.Name = cmpOr(sc.Name, cmpOr(c.Name, "webfarm"))
		out = append(out, sc)
	}
	return append(out, c.Services...)
}

// isNil reports whether b is nil or an interface holding a nil pointer,
// map, slice, func or channel (a typed nil such as (*haproxy.Balancer)(nil)),
// whose methods would panic at the first call.
func isNil(b lb.Balancer) bool {
	if b == nil {
		return true
	}
	switch v := reflect.ValueOf(b); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// validateFields checks every field but Balancer.
func (c *Config) validateFields() error {
	if len(c.Masters) == 0 {
		return fieldErr("Masters", c.Masters, "at least one master is required")
	}
	for i, m := range c.Masters {
		if zk.IsURL(m) {
			if err := validateZK(c.Masters, i); err != nil {
				return err
			}
			continue
		}
		if _, err := endpointURL(m); err != nil {
			return fmt.Errorf("mesos: Masters[%d] %q: %w", i, m, err)
		}
	}
	if c.Name != "" && !namePattern.MatchString(c.Name) {
		return fieldErr("Name", fmt.Sprintf("%q", c.Name), "letters, digits, '.', '_', '-', up to 64")
	}
	if strings.ContainsAny(c.User, "\x00\n:/") {
		return fieldErr("User", fmt.Sprintf("%q", c.User), "not a user name")
	}
	if c.Role != "" && (c.Role == "." || c.Role == ".." || strings.HasPrefix(c.Role, "-") ||
		strings.ContainsAny(c.Role, " \t\n\x00/\\")) {
		return fieldErr("Role", fmt.Sprintf("%q", c.Role), "not a valid Mesos role")
	}
	if err := validateReserveMin("ReserveMin", c.ReserveMin, c.Role); err != nil {
		return err
	}
	if c.InitialCount < 0 {
		return fieldErr("InitialCount", c.InitialCount, "must not be negative")
	}
	if c.State != nil && c.StateFile != "" {
		return fieldErr("State", "(set)", "excludes StateFile")
	}
	if c.Secret != "" && c.Principal == "" {
		return fieldErr("Secret", "(set)", "needs a Principal")
	}
	if strings.ContainsAny(c.Principal, "\x00\n:") {
		return fieldErr("Principal", fmt.Sprintf("%q", c.Principal), "may not contain ':' or control characters")
	}
	switch c.Codec {
	case "", "protobuf", "json":
	default:
		return fieldErr("Codec", fmt.Sprintf("%q", c.Codec), `want "protobuf" or "json"`)
	}
	if c.MaxPerHost < 0 {
		return fieldErr("MaxPerHost", c.MaxPerHost, "must not be negative")
	}
	if c.MaxPerAgent < 0 {
		return fieldErr("MaxPerAgent", c.MaxPerAgent, "must not be negative")
	}
	if c.Victims < FewestConnections || c.Victims > Oldest {
		return fieldErr("Victims", int(c.Victims), "unknown order")
	}
	if c.Weight < 0 || c.Weight > 256 {
		return fieldErr("Weight", c.Weight, "want 1–256")
	}
	if c.MissedHeartbeats < 0 {
		return fieldErr("MissedHeartbeats", c.MissedHeartbeats, "must not be negative")
	}
	for _, d := range []struct {
		name string
		d    time.Duration
	}{
		{"FailoverTimeout", c.FailoverTimeout}, {"DrainTimeout", c.DrainTimeout},
		{"SlowStart", c.SlowStart}, {"DeclineFor", c.DeclineFor},
		{"ReconcileTimeout", c.ReconcileTimeout}, {"LaunchTimeout", c.LaunchTimeout},
		{"ReconnectMin", c.ReconnectMin}, {"ReconnectMax", c.ReconnectMax},
		{"RelaunchBackoff", c.RelaunchBackoff}, {"RelaunchBackoffMax", c.RelaunchBackoffMax},
		{"RequestTimeout", c.RequestTimeout}, {"Tick", c.Tick},
	} {
		if err := badDuration(d.name, d.d); err != nil {
			return err
		}
	}
	if c.ReconnectMin > 0 && c.ReconnectMax > 0 && c.ReconnectMax < c.ReconnectMin {
		return fieldErr("ReconnectMax", c.ReconnectMax, "must not be below ReconnectMin")
	}
	if !c.hasDefaultService() {
		return nil
	}
	return c.Task.validate()
}

func (t *TaskTemplate) validate() error {
	if t.Name != "" && !namePattern.MatchString(t.Name) {
		return fieldErr("Task.Name", fmt.Sprintf("%q", t.Name), "letters, digits, '.', '_', '-', up to 64")
	}
	if len(t.Command) == 0 && t.Image == "" {
		return fieldErr("Task.Command", t.Command, "a command or an Image is required")
	}
	if len(t.Command) > 0 && t.Command[0] == "" {
		return fieldErr("Task.Command[0]", `""`, "the executable must not be empty")
	}
	for i, a := range t.Command {
		if strings.ContainsRune(a, 0) {
			return fieldErr(fmt.Sprintf("Task.Command[%d]", i), fmt.Sprintf("%q", a), "contains a NUL byte")
		}
	}
	if strings.ContainsAny(t.Image, " \t\n\x00") {
		return fieldErr("Task.Image", fmt.Sprintf("%q", t.Image), "not an image reference")
	}
	for k, v := range t.Env {
		switch {
		case !envPattern.MatchString(k):
			return fieldErr("Task.Env", fmt.Sprintf("%q", k), "not a variable name")
		case k == "HOST" || portEnvPattern.MatchString(k):
			return fieldErr("Task.Env", k, "set by the scheduler")
		case strings.ContainsRune(v, 0):
			return fieldErr("Task.Env["+k+"]", fmt.Sprintf("%q", v), "contains a NUL byte")
		}
	}
	if err := badFloat("Task.CPUs", t.CPUs, 0); err != nil {
		return err
	}
	if err := badFloat("Task.Mem", t.Mem, 0); err != nil {
		return err
	}
	if t.Ports < 0 || t.Ports > 100 {
		return fieldErr("Task.Ports", t.Ports, "want 0–100")
	}
	if err := badDuration("Task.KillGracePeriod", t.KillGracePeriod); err != nil {
		return err
	}
	if hc := t.HealthCheck; hc != nil {
		if hc.PortIndex < 0 || hc.PortIndex >= max(t.Ports, 1) {
			return fieldErr("Task.HealthCheck.PortIndex", hc.PortIndex, fmt.Sprintf("want 0–%d", max(t.Ports, 1)-1))
		}
		if hc.Path != "" && (!strings.HasPrefix(hc.Path, "/") || strings.ContainsAny(hc.Path, " \t\n\x00")) {
			return fieldErr("Task.HealthCheck.Path", fmt.Sprintf("%q", hc.Path), "must start with '/' and hold no spaces")
		}
		switch hc.Scheme {
		case "", "http", "https":
		default:
			return fieldErr("Task.HealthCheck.Scheme", fmt.Sprintf("%q", hc.Scheme), `want "http" or "https"`)
		}
		if hc.ConsecutiveFailures < 0 {
			return fieldErr("Task.HealthCheck.ConsecutiveFailures", hc.ConsecutiveFailures, "must not be negative")
		}
		for _, d := range []struct {
			name string
			d    time.Duration
		}{{"Delay", hc.Delay}, {"Interval", hc.Interval}, {"Timeout", hc.Timeout}, {"GracePeriod", hc.GracePeriod}} {
			if err := badDuration("Task.HealthCheck."+d.name, d.d); err != nil {
				return err
			}
		}
	}
	return nil
}

// withDefaults returns a copy of c with every zero field set to its
// default. c must be valid.
func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Name == "" {
		c.Name = "webfarm"
	}
	if c.User == "" {
		c.User = "root"
		if u, err := user.Current(); err == nil && u.Username != "" {
			c.User = u.Username
		}
	}
	if c.Role == "" {
		c.Role = "*"
	}
	if c.Codec == "" {
		c.Codec = "protobuf"
	}
	if c.Task.Name == "" {
		c.Task.Name = c.Name
	}
	if c.Task.Ports == 0 {
		c.Task.Ports = 1
	}
	if c.Weight == 0 {
		c.Weight = 100
	}
	if c.MissedHeartbeats == 0 {
		c.MissedHeartbeats = 5
	}
	def(&c.FailoverTimeout, 7*24*time.Hour)
	def(&c.DrainTimeout, 30*time.Second)
	def(&c.DeclineFor, 10*time.Minute)
	def(&c.ReconcileTimeout, 30*time.Second)
	def(&c.LaunchTimeout, 5*time.Minute)
	def(&c.RelaunchBackoff, time.Second)
	def(&c.RelaunchBackoffMax, time.Minute)
	if c.RelaunchBackoffMax < c.RelaunchBackoff {
		c.RelaunchBackoffMax = c.RelaunchBackoff
	}
	def(&c.ReconnectMin, time.Second)
	def(&c.ReconnectMax, 15*time.Second)
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.Tick, time.Second)
	def(&c.PoolSyncInterval, 5*time.Second)
	if c.Resolve == nil {
		c.Resolve = resolveHost
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func resolveHost(ctx context.Context, host string) (netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("no address for %q", host)
	}
	return addrs[0], nil
}
