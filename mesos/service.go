package mesos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// ErrNoService is returned for a service the scheduler does not run (never
// added, or removed).
var ErrNoService = errors.New("mesos: no such service")

// ErrServiceExists is returned by [Scheduler.AddService] for a name in use,
// including one whose removal is still under way.
var ErrServiceExists = errors.New("mesos: service exists")

// ServiceConfig describes one service of a farm: its task template, its
// balancer pool and its placement and membership settings. Every zero
// field but Name, Task and Balancer takes the value of the [Config] the
// scheduler was built with (its default, if that is zero too).
type ServiceConfig struct {
	// Name names the service: its tasks' IDs are Name + "." + 16 hex
	// digits, which is how they are recognised after a restart (the
	// tasks also carry the label webfarm.service=Name). Letters, digits,
	// '.', '_' and '-', up to 64. Required.
	Name string
	// Task describes the service's task. Task.Name must be empty or
	// equal Name. Required.
	Task TaskTemplate
	// Balancer holds the service's pool (for HAProxy, one backend per
	// service). Two services may not share one Balancer value. Required.
	Balancer lb.Balancer
	// MaxPerHost and MaxPerAgent cap the service's tasks per agent
	// hostname and per agent, as [Config] documents.
	MaxPerHost, MaxPerAgent int
	// Victims, DrainTimeout, PoolSyncInterval, SlowStart and Weight are
	// as in [Config], for this service.
	Victims          VictimOrder
	DrainTimeout     time.Duration
	PoolSyncInterval time.Duration
	SlowStart        time.Duration
	Weight           int
	// ReserveMin is as in [Config], for this service: its tasks' worth
	// of cpus and mem kept reserved for the farm's Role.
	ReserveMin int
}

// LogValue implements [slog.LogValuer]: Task.Env values are redacted and
// the Balancer shown only by kind.
func (c ServiceConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.Any("task", c.Task),
		slog.String("balancer", typeName(c.Balancer)),
		slog.Int("max_per_host", c.MaxPerHost),
		slog.Int("max_per_agent", c.MaxPerAgent),
		slog.String("victims", c.Victims.String()),
		slog.Duration("drain_timeout", c.DrainTimeout),
		slog.Duration("pool_sync_interval", c.PoolSyncInterval),
		slog.Duration("slow_start", c.SlowStart),
		slog.Int("weight", c.Weight),
		slog.Int("reserve_min", c.ReserveMin),
	)
}

// validate checks c as [Scheduler.AddService] does; errors name the
// service and the field and wrap ErrInvalid.
func (c *ServiceConfig) validate() error {
	if !namePattern.MatchString(c.Name) {
		return fieldErr("Service.Name", fmt.Sprintf("%q", c.Name), "letters, digits, '.', '_', '-', up to 64")
	}
	if isNil(c.Balancer) {
		return fieldErr("Service "+c.Name+" Balancer", fmt.Sprintf("%T(nil)", c.Balancer), "required")
	}
	if c.Task.Name != "" && c.Task.Name != c.Name {
		return fieldErr("Service "+c.Name+" Task.Name", fmt.Sprintf("%q", c.Task.Name), "must be empty or the service's name")
	}
	if err := c.Task.validate(); err != nil {
		return fmt.Errorf("mesos: service %s: %w", c.Name, err)
	}
	// Reuse Config's checks for the shared field kinds.
	probe := Config{Masters: []string{"http://127.0.0.1"}, MaxPerHost: c.MaxPerHost, MaxPerAgent: c.MaxPerAgent,
		Victims: c.Victims, DrainTimeout: c.DrainTimeout, SlowStart: c.SlowStart, Weight: c.Weight, Task: c.Task}
	if err := probe.validateFields(); err != nil {
		return fmt.Errorf("mesos: service %s: %w", c.Name, err)
	}
	return nil
}

// serviceConfig is the default service's ServiceConfig: the one described
// by Config's own Task, Balancer and membership fields.
func (c *Config) serviceConfig() ServiceConfig {
	return ServiceConfig{
		Name: c.Task.Name, Task: c.Task, Balancer: c.Balancer,
		MaxPerHost: c.MaxPerHost, MaxPerAgent: c.MaxPerAgent, Victims: c.Victims,
		DrainTimeout: c.DrainTimeout, PoolSyncInterval: c.PoolSyncInterval, SlowStart: c.SlowStart, Weight: c.Weight,
		ReserveMin: c.ReserveMin,
	}
}

// hasDefaultService reports whether Config's own Task and Balancer
// describe a service: always, unless Services is set and both are zero.
func (c *Config) hasDefaultService() bool {
	return len(c.Services) == 0 || !isNil(c.Balancer) || len(c.Task.Command) > 0 || c.Task.Image != ""
}

// serviceCfg returns the farm's Config with sc's fields in force: the
// configuration a service's code reads. base must have its defaults set.
func serviceCfg(base Config, sc ServiceConfig) Config {
	c := base
	c.Task, c.Balancer = sc.Task, sc.Balancer
	c.Task.Name = sc.Name
	if c.Task.Ports == 0 {
		c.Task.Ports = 1
	}
	c.MaxPerHost = cmp.Or(sc.MaxPerHost, base.MaxPerHost)
	c.MaxPerAgent = cmp.Or(sc.MaxPerAgent, base.MaxPerAgent)
	c.Victims = cmp.Or(sc.Victims, base.Victims)
	c.DrainTimeout = cmp.Or(sc.DrainTimeout, base.DrainTimeout)
	c.PoolSyncInterval = cmp.Or(sc.PoolSyncInterval, base.PoolSyncInterval)
	c.SlowStart = cmp.Or(sc.SlowStart, base.SlowStart)
	c.Weight = cmp.Or(sc.Weight, base.Weight)
	c.ReserveMin = sc.ReserveMin
	c.Services = nil
	return c
}

// service is one service's state: its configuration, desired count,
// tasks and balancer bookkeeping. Everything shared by the farm (the
// framework, the subscription, offers, the lock and the clock) lives in
// the embedded *Scheduler, so the per-service steps read s.mu, s.now,
// s.connected and s.reconciled from it, and s.cfg, s.lb, s.log and s.tasks
// from the service. Fields are guarded by Scheduler.mu.
type service struct {
	*Scheduler
	name string
	sc   ServiceConfig // as given (for Update and LogValue)
	cfg  Config        // the farm's Config with this service's fields
	lb   lb.Balancer
	log  *slog.Logger // the farm's, with a "service" attribute

	desired int
	tasks   map[string]*task
	// known holds the addresses of tasks the service may adopt: from the
	// state file and the balancer's pool at start. Entries go once adopted
	// or once reconciliation says the task is gone.
	known map[string]savedTask
	// drainingAtStart holds backends found draining in the balancer at
	// start: a scale-down interrupted by a restart.
	drainingAtStart map[string]bool
	poolAtStart     map[string]bool // IDs in the balancer's pool at start
	lbRead          bool            // the balancer's pool was read at start
	// saved holds the task IDs the state file listed at New: ours, even
	// if the naming changed since.
	saved           map[string]bool
	lastPoolSync    time.Time // last read of the pool (see syncPool)
	lbErr           bool      // a balancer call failed since the last good pool read
	poolReadFailing bool      // the last pool read failed (logged once)
	failures        int       // unexpected deaths in a row of tasks that never served
	holdUntil       time.Time // no launches before (relaunch backoff)

	version string      // TemplateVersion(cfg.Task): new tasks' version
	deploy  *deployment // the last deployment (nil if none); see deploy.go

	removing bool          // RemoveService called: desired is 0, then the service goes
	removed  chan struct{} // closed once a removed service's tasks are all gone
}

// newService builds a service's state from sc and what the state file
// kept for it. s.cfg must have its defaults set.
func (s *Scheduler) newService(sc ServiceConfig, st savedService) *service {
	cfg := serviceCfg(s.cfg, sc)
	sv := &service{
		Scheduler: s, name: sc.Name, sc: sc, cfg: cfg, lb: sc.Balancer,
		log:     s.log.With("service", sc.Name),
		desired: st.Desired,
		tasks:   make(map[string]*task),
		known:   make(map[string]savedTask),
		saved:   make(map[string]bool),
		removed: make(chan struct{}),
	}
	for _, t := range st.Tasks {
		sv.known[t.ID] = t
		sv.saved[t.ID] = true
	}
	sv.version = TemplateVersion(cfg.Task)
	sv.restoreDeploy(st.Deploy)
	return sv
}

// def returns the default service (the one Config's Task describes), or
// nil. s.mu must not be held.
func (s *Scheduler) def() *service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.services[s.defName]
}

// serviceList returns the services, sorted by name. s.mu must not be
// held.
func (s *Scheduler) serviceList() []*service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serviceListLocked()
}

func (s *Scheduler) serviceListLocked() []*service {
	out := make([]*service, 0, len(s.services))
	for _, name := range sortedIDs(s.services) {
		out = append(out, s.services[name])
	}
	return out
}

// serviceOfLocked returns the service that runs or may adopt task id, or
// nil.
func (s *Scheduler) serviceOfLocked(id string) *service {
	for _, sv := range s.services {
		if _, ok := sv.tasks[id]; ok {
			return sv
		}
	}
	for _, sv := range s.services {
		if _, ok := sv.known[id]; ok {
			return sv
		}
	}
	return nil
}

// ownerLocked returns the name of the service whose task-ID form id has:
// the longest service name N with id starting with N + ".". "" if none.
func (s *Scheduler) ownerLocked(id string) string {
	best := ""
	for name := range s.services {
		if len(name) > len(best) && strings.HasPrefix(id, name+".") {
			best = name
		}
	}
	return best
}

// Service returns a handle on the named service. It fails with
// [ErrNoService] if the scheduler does not run it.
func (s *Scheduler) Service(name string) (*Service, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sv := s.services[name]; sv == nil || sv.removing {
		return nil, fmt.Errorf("%w: %q", ErrNoService, name)
	}
	return &Service{s: s, name: name}, nil
}

// Services returns the names of the services the scheduler runs (not
// those being removed), sorted.
func (s *Scheduler) Services() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range sortedIDs(s.services) {
		if !s.services[name].removing {
			out = append(out, name)
		}
	}
	return out
}

// AddService adds a service to the farm and returns its handle. It reads
// the service's balancer pool once (an error there adds nothing) and
// takes the desired count and task addresses the state file kept for a
// service of that name, so that a restarted program that adds its
// services again, before [Scheduler.Run] or at once after, adopts their
// running tasks. A new service starts with a desired count of 0. An
// invalid sc gives an error wrapping [ErrInvalid]; a name in use (or
// still being removed), [ErrServiceExists]; a Balancer another service
// uses, [ErrInvalid].
func (s *Scheduler) AddService(ctx context.Context, sc ServiceConfig) (*Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	err := s.checkNewLocked(sc)
	st := s.orphans[sc.Name]
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	sv := s.newService(sc, st)
	if err := sv.readPool(ctx); err != nil {
		return nil, fmt.Errorf("mesos: service %s: read the balancer's pool: %w", sc.Name, err)
	}
	s.mu.Lock()
	if err := s.checkNewLocked(sc); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if s.reconciled || s.reconcileStart.After(time.Time{}) {
		// Reconciliation already ran (or is running) without this
		// service's tasks: the master reported them as unknown and they
		// were killed. Pool entries without a task go at the next sync.
		sv.known, sv.poolAtStart, sv.drainingAtStart = make(map[string]savedTask), nil, nil
	}
	s.services[sc.Name] = sv
	delete(s.orphans, sc.Name)
	s.mu.Unlock()
	sv.log.Info("mesos: service added", "config", sc, "desired", sv.desired)
	s.save()
	s.poke()
	return &Service{s: s, name: sc.Name}, nil
}

// checkNewLocked reports why sc may not be added now.
func (s *Scheduler) checkNewLocked(sc ServiceConfig) error {
	if _, ok := s.services[sc.Name]; ok {
		return fmt.Errorf("%w: %q", ErrServiceExists, sc.Name)
	}
	if err := s.checkReserveLocked(sc); err != nil {
		return err
	}
	for _, other := range s.services {
		if sameBalancer(other.lb, sc.Balancer) {
			return fieldErr("Service "+sc.Name+" Balancer", typeName(sc.Balancer), "already used by service "+other.name)
		}
	}
	return nil
}

// sameBalancer reports whether a and b are the same balancer value.
func sameBalancer(a, b lb.Balancer) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta != nil && ta.Comparable() && a == b
}

// UpdateService replaces a service's configuration. Tasks already running
// keep running as they were launched (a health check added now gates only
// tasks launched with it: the others stay in the pool); launches from now
// on use the new task template, and the other fields apply at once. The Balancer may not
// change (remove the service and add it again). Errors are as
// [Scheduler.AddService]'s, or [ErrNoService].
func (s *Scheduler) UpdateService(ctx context.Context, sc ServiceConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := sc.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.services[sc.Name]
	if sv == nil || sv.removing {
		return fmt.Errorf("%w: %q", ErrNoService, sc.Name)
	}
	if err := s.checkReserveLocked(sc); err != nil {
		return err
	}
	if !sameBalancer(sv.lb, sc.Balancer) {
		return fieldErr("Service "+sc.Name+" Balancer", typeName(sc.Balancer), "may not change; remove and add the service")
	}
	cfg := serviceCfg(s.cfg, sc)
	if v := TemplateVersion(cfg.Task); sv.deploy.activeLocked() && v != sv.version {
		return fmt.Errorf("%w: service %s: UpdateService may not change the task template during one (to version %s)",
			ErrDeploying, sc.Name, sv.version)
	}
	sv.sc, sv.cfg, sv.version = sc, cfg, TemplateVersion(cfg.Task)
	sv.log.Info("mesos: service updated", "config", sc)
	s.poke()
	return nil
}

// RemoveService removes a service: its desired count drops to 0, its
// tasks are drained and killed as on any scale-down, and once none is
// left the service is gone. It waits for that, or for ctx; the removal
// goes on if ctx ends first (and RemoveService returns ctx's error). It
// fails with [ErrNoService] if the service does not exist.
func (s *Scheduler) RemoveService(ctx context.Context, name string) error {
	s.mu.Lock()
	sv := s.services[name]
	if sv == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoService, name)
	}
	first := !sv.removing
	sv.removing, sv.desired = true, 0
	s.mu.Unlock()
	if first {
		sv.log.Info("mesos: removing service")
		s.save()
	}
	s.poke()
	select {
	case <-sv.removed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishRemovals forgets removed services whose tasks are all gone.
func (s *Scheduler) finishRemovals() {
	var done []*service
	s.mu.Lock()
	for name, sv := range s.services {
		if sv.removing && s.reconciled && len(sv.tasks) == 0 {
			delete(s.services, name)
			if name == s.defName {
				s.defName = ""
			}
			done = append(done, sv)
		}
	}
	s.mu.Unlock()
	if len(done) == 0 {
		return
	}
	slices.SortFunc(done, func(a, b *service) int { return cmp.Compare(a.name, b.name) })
	for _, sv := range done {
		close(sv.removed)
		sv.log.Info("mesos: service removed")
	}
	s.save()
}

// Service is a handle on one service of a farm. It implements
// [scaler.Runner], so each service has its own [scaler.Controller] (its
// own policy, Min and Max). Its methods are safe for concurrent use; once
// the service is removed they fail with [ErrNoService].
type Service struct {
	s    *Scheduler
	name string
}

var _ scaler.Runner = (*Service)(nil)

// Name returns the service's name.
func (h *Service) Name() string { return h.name }

func (h *Service) get() (*service, error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	sv := h.s.services[h.name]
	if sv == nil || sv.removing {
		return nil, fmt.Errorf("%w: %q", ErrNoService, h.name)
	}
	return sv, nil
}

// Status implements [scaler.Runner] for the service, as
// [Scheduler.Status] does.
func (h *Service) Status(ctx context.Context) (scaler.Status, error) {
	if err := ctx.Err(); err != nil {
		return scaler.Status{}, err
	}
	sv, err := h.get()
	if err != nil {
		return scaler.Status{}, err
	}
	return sv.status(), nil
}

// SetDesired implements [scaler.Runner] for the service, as
// [Scheduler.SetDesired] does.
func (h *Service) SetDesired(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sv, err := h.get()
	if err != nil {
		return err
	}
	return sv.setDesired(n)
}

// Tasks returns a snapshot of the service's tasks, oldest first.
func (h *Service) Tasks() []Task {
	sv, err := h.get()
	if err != nil {
		return nil
	}
	return sv.Tasks()
}

// status counts the service's tasks for [scaler.Status].
func (s *service) status() scaler.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := scaler.Status{Desired: s.desired}
	for _, t := range s.tasks {
		if t.gone || t.victim {
			continue
		}
		if t.inLB {
			st.Running++
		} else {
			st.Starting++
		}
	}
	return st
}

// setDesired records n, in the state file too, and wakes the loop.
func (s *service) setDesired(n int) error {
	if n < 0 {
		return fmt.Errorf("mesos: SetDesired(%d): the count must be 0 or more: %w", n, ErrInvalid)
	}
	s.mu.Lock()
	if s.removing {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q (being removed)", ErrNoService, s.name)
	}
	old := s.desired
	s.desired = n
	s.mu.Unlock()
	if old != n {
		s.log.Info("mesos: desired count", "from", old, "to", n)
		s.save()
	}
	s.poke()
	return nil
}

// Tasks returns a snapshot of the service's tasks, oldest first.
func (s *service) Tasks() []Task {
	s.mu.Lock()
	out := s.tasksLocked(nil)
	s.mu.Unlock()
	sortTasks(out)
	return out
}

func (s *service) tasksLocked(out []Task) []Task {
	for _, t := range s.tasks {
		if !t.gone {
			tk := t.snapshot()
			tk.Service = s.name
			out = append(out, tk)
		}
	}
	return out
}

func sortTasks(ts []Task) {
	slices.SortFunc(ts, func(a, b Task) int {
		return cmp.Or(a.Launched.Compare(b.Launched), cmp.Compare(a.ID, b.ID))
	})
}
