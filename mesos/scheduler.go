package mesos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/extras/scheduler/controller"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// Scheduler is a Mesos framework scheduler that runs the web farm's tasks
// and keeps the balancer's pool in step with them. It implements
// [scaler.Runner]. Its methods are safe for concurrent use.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	leader *leader
	caller calls.Caller
	// closeIdle drops the HTTP client's idle connections.
	closeIdle func()
	fw        *mesos.FrameworkInfo
	now       func() time.Time
	kick      chan struct{}

	running    atomic.Bool
	tornDown   atomic.Bool // Stop sent TEARDOWN: never subscribe again
	subscribed atomic.Bool // a SUBSCRIBED arrived since the last registration token

	saveMu sync.Mutex // serialises state-file writes

	mu          sync.Mutex
	frameworkID string
	// services holds the farm's services by name; defName names the one
	// Config's own Task describes ("" if none).
	services map[string]*service
	defName  string
	// orphans holds what the state file kept for services not added
	// (yet): kept in the file until the first reconciliation ended.
	orphans map[string]savedService
	rr      int // round-robin cursor over services for offer ties

	connected bool
	lastEvent time.Time
	heartbeat time.Duration // from SUBSCRIBED; 0 if the master sends none
	subCancel context.CancelFunc
	// abandoned ends the calls sent under the current subscription (see
	// call) once the heartbeat watchdog gave the subscription up; abandon
	// cancels it. A subscription's normal end leaves them be: the master
	// answers a TEARDOWN after it closed the stream.
	abandoned      context.Context
	abandon        context.CancelFunc
	reconciled     bool            // launches allowed
	reconcileStart time.Time       // zero: no reconciliation pending
	pending        map[string]bool // task IDs reconciliation has not answered
	offers         offerMode
	lastNeed       int           // need at the last setOfferMode
	subscriptions  int           // SUBSCRIBED events received
	offersSeen     int           // offers received
	events         int           // events handled
	reviveGen      int           // REVIVEs sent
	resv           *reservations // reserve.go
}

// offerMode is what the scheduler last told the master about offers.
type offerMode int

const (
	offersUnknown offerMode = iota
	offersRevived
	offersSuppressed
)

var _ scaler.Runner = (*Scheduler)(nil)

// New checks cfg, reads its StateFile, and returns a Scheduler that does
// nothing until [Scheduler.Run]. An invalid cfg returns an error wrapping
// [ErrInvalid] that names the field.
func New(ctx context.Context, cfg Config) (*Scheduler, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st, err := cfg.readState(ctx)
	if err != nil {
		return nil, err
	}
	// Fail now, not at the first launch, if the state cannot be kept.
	if err := cfg.writeState(ctx, st); err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg:      cfg,
		log:      cfg.Logger,
		now:      time.Now,
		kick:     make(chan struct{}, 1),
		services: make(map[string]*service),
		orphans:  make(map[string]savedService),
	}
	s.frameworkID = st.FrameworkID
	for name, ss := range st.Services {
		s.orphans[name] = ss
	}
	if cfg.hasDefaultService() {
		sc := cfg.serviceConfig()
		s.defName = sc.Name
		s.orphans[sc.Name] = savedService{Desired: st.Desired, Tasks: st.Tasks, Deploy: st.Deploy}
		if st.FrameworkID == "" && st.taskCount() == 0 && cfg.InitialCount > 0 {
			s.orphans[sc.Name] = savedService{Desired: cfg.InitialCount}
		}
	} else if name := commonService(st.Tasks); name != "" {
		// A one-service state file read by a farm of Services only: the
		// tasks belong to the service their IDs name.
		if _, ok := s.orphans[name]; !ok {
			s.orphans[name] = savedService{Desired: st.Desired, Tasks: st.Tasks}
		}
	}
	for _, sc := range cfg.servicesWithDefault() {
		s.services[sc.Name] = s.newService(sc, s.orphans[sc.Name])
		delete(s.orphans, sc.Name)
	}
	s.leader, err = newLeader(cfg.Masters, s.log)
	if err != nil {
		return nil, err
	}
	s.caller, s.closeIdle = newCaller(&s.cfg, s.leader, s.FrameworkID)
	ft := cfg.FailoverTimeout.Seconds()
	s.fw = &mesos.FrameworkInfo{
		User:            cfg.User,
		Name:            cfg.Name,
		FailoverTimeout: &ft,
		Checkpoint:      proto(true),
		Role:            proto(cfg.Role),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_TASK_KILLING_STATE},
		},
	}
	if cfg.Principal != "" {
		s.fw.Principal = proto(cfg.Principal)
	}
	s.log.Debug("mesos: scheduler configured", "config", cfg, "state_tasks", st.taskCount())
	return s, nil
}

func proto[T any](v T) *T { return &v }

// commonService returns the service name all of ts's IDs share (an ID is
// name.hex), or "" if they name none or several.
func commonService(ts []savedTask) string {
	name := ""
	for _, t := range ts {
		i := strings.LastIndexByte(t.ID, '.')
		if i <= 0 || (name != "" && t.ID[:i] != name) {
			return ""
		}
		name = t.ID[:i]
	}
	return name
}

// FrameworkID returns the framework ID Mesos assigned, or "" before the
// first subscription of a new framework.
func (s *Scheduler) FrameworkID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frameworkID
}

// Leader returns the scheduler endpoint of the master the scheduler talks
// to now.
func (s *Scheduler) Leader() string { return s.leader.URL() }

// Connected reports whether the scheduler holds a subscription.
func (s *Scheduler) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// Status implements [scaler.Runner] for the default service (the one
// Config's own Task describes): Running counts the tasks in the balancer
// that are not being removed, Starting those launched but not serving
// yet. Without a default service it fails with [ErrNoService]; use
// [Scheduler.Service].
func (s *Scheduler) Status(ctx context.Context) (scaler.Status, error) {
	if err := ctx.Err(); err != nil {
		return scaler.Status{}, err
	}
	sv := s.def()
	if sv == nil {
		return scaler.Status{}, fmt.Errorf("%w: no default service", ErrNoService)
	}
	return sv.status(), nil
}

// SetDesired implements [scaler.Runner] for the default service. It
// records n (in the state file too, so a restart keeps it) and returns;
// the tasks follow. Without a default service it fails with
// [ErrNoService].
func (s *Scheduler) SetDesired(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("mesos: SetDesired(%d): the count must be 0 or more: %w", n, ErrInvalid)
	}
	sv := s.def()
	if sv == nil {
		return fmt.Errorf("%w: no default service", ErrNoService)
	}
	return sv.setDesired(n)
}

// Tasks returns a snapshot of the tasks of every service, oldest first.
func (s *Scheduler) Tasks() []Task {
	s.mu.Lock()
	var out []Task
	for _, sv := range s.services {
		out = sv.tasksLocked(out)
	}
	s.mu.Unlock()
	sortTasks(out)
	return out
}

// poke wakes the converge loop.
func (s *Scheduler) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// save writes the state file, if there is one. Failures are logged: the
// scheduler keeps running on its in-memory state. The default service's
// count and tasks are kept at the top level (the one-service format);
// the others' under "services".
func (s *Scheduler) save() {
	if s.cfg.StateFile == "" && s.cfg.State == nil {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	st := savedState{FrameworkID: s.frameworkID}
	put := func(name string, ss savedService) {
		if name == s.defName {
			st.Desired, st.Tasks, st.Deploy = ss.Desired, ss.Tasks, ss.Deploy
			return
		}
		if st.Services == nil {
			st.Services = make(map[string]savedService)
		}
		st.Services[name] = ss
	}
	for name, sv := range s.services {
		put(name, sv.savedLocked())
	}
	if !s.reconciled {
		// Not added yet: keep their tasks for a later AddService until
		// reconciliation has decided about them.
		for name, ss := range s.orphans {
			if _, ok := s.services[name]; !ok {
				put(name, ss)
			}
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
	defer cancel()
	if err := s.cfg.writeState(ctx, st); err != nil {
		s.log.Error("mesos: cannot save state", "file", s.cfg.StateFile, "err", err)
	}
}

// savedLocked is what the state file keeps of the service.
func (s *service) savedLocked() savedService {
	ss := savedService{Desired: s.desired, Deploy: s.deploy.saved()}
	if s.removing {
		ss.Desired = 0
	}
	for _, t := range s.tasks {
		if !t.gone {
			ss.Tasks = append(ss.Tasks, savedTask{ID: t.id, AgentID: t.agentID, Host: t.host, Addr: t.addr, Version: t.version})
		}
	}
	for id, k := range s.known { // not yet confirmed: keep until reconciliation decides
		if _, ok := s.tasks[id]; !ok {
			ss.Tasks = append(ss.Tasks, k)
		}
	}
	slices.SortFunc(ss.Tasks, func(a, b savedTask) int { return cmp.Compare(a.ID, b.ID) })
	return ss
}

// ErrRunning is returned by a second call of [Scheduler.Run].
var ErrRunning = errors.New("mesos: scheduler already running")

// Run subscribes to the master and runs the framework until ctx is done,
// then returns ctx's error. It re-subscribes with backoff whenever the
// subscription ends (master failover, network loss, missed heartbeats),
// following the leading master. Run reads the balancer's pool first, so
// that a restarted scheduler adopts its running tasks instead of
// launching new ones.
//
// When ctx ends Run only stops: it sends nothing to Mesos. The tasks keep
// running and serving in the balancer, and the framework stays registered
// for FailoverTimeout (7 days by default), so a scheduler started again
// with the same StateFile or State re-subscribes as the same framework
// and adopts them. To stop the farm itself, call [Scheduler.Stop] (scale
// to zero with drains, wait for the kills, optionally TEARDOWN) before
// ending ctx.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	if err := s.readBalancer(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.convergeLoop(ctx) })
	wg.Go(func() { s.watchdogLoop(ctx) })
	wg.Go(func() { s.runZK(ctx) })
	defer wg.Wait()

	done := make(chan struct{})
	defer close(done)
	err := controller.Run(ctx, s.fw, calls.CallerFunc(s.callSubscribe),
		controller.WithEventHandler(events.HandlerFunc(s.safeHandleEvent)),
		controller.WithFrameworkID(s.FrameworkID),
		controller.WithRegistrationTokens(s.tokens(done)),
		controller.WithSubscriptionTerminated(func(err error) {
			s.mu.Lock()
			was := s.connected
			s.connected = false
			// Tasks may end while the scheduler is away: no launch and no
			// new victim until the next subscription is reconciled.
			s.reconciled = false
			s.reconcileStart, s.pending = time.Time{}, nil
			cancel := s.subCancel
			s.subCancel = nil
			s.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			s.closeIdle()
			if ctx.Err() == nil {
				s.log.Warn("mesos: subscription ended", "master", s.leader.URL(), "was_subscribed", was, "err", err)
			}
		}),
	)
	s.mu.Lock()
	if s.subCancel != nil {
		s.subCancel()
		s.subCancel = nil
	}
	s.connected = false
	s.mu.Unlock()
	s.closeIdle()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// callSubscribe gives every SUBSCRIBE its own context, which the heartbeat
// watchdog cancels to drop a silent subscription.
func (s *Scheduler) callSubscribe(ctx context.Context, c *scheduler.Call) (mesos.Response, error) {
	if c.GetType() != scheduler.Call_SUBSCRIBE {
		return s.caller.Call(ctx, c)
	}
	if s.tornDown.Load() {
		return nil, ErrTornDown
	}
	// controller.Run reuses one SUBSCRIBE and never clears the framework ID
	// it once set; send the ID in force now ("" after the master removed
	// the framework).
	sub := *c.Subscribe
	fi := *sub.FrameworkInfo
	sub.FrameworkInfo = &fi
	c2 := *c
	c2.Subscribe = &sub
	fid := s.FrameworkID()
	c2.With(calls.SubscribeTo(fid))
	sctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.subCancel != nil {
		s.subCancel()
	}
	s.subCancel = cancel
	s.abandoned, s.abandon = context.WithCancel(context.Background())
	s.mu.Unlock()
	s.log.Debug("mesos: subscribing", "master", s.leader.URL(), "framework_id", fid)
	resp, err := s.caller.Call(sctx, &c2)
	if resp != nil {
		resp = safeResponse{Response: resp, s: s}
	}
	return resp, err
}

// safeHandleEvent is the event handler given to mesos-go: a panic while
// handling an event is logged and ends the subscription with an error, so
// that the scheduler re-subscribes (and reconciles) instead of crashing.
func (s *Scheduler) safeHandleEvent(ctx context.Context, e *scheduler.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered("handling "+e.GetType().String(), p)
		}
	}()
	s.handleEvent(ctx, e)
	return nil
}

// tokens yields a registration token at once, then after a delay that
// doubles from ReconnectMin to ReconnectMax, and falls back to
// ReconnectMin once a subscription succeeded.
func (s *Scheduler) tokens(done <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		delay := time.Duration(0)
		for {
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-t.C:
				case <-done:
					t.Stop()
					return
				}
			}
			select {
			case ch <- struct{}{}:
			case <-done:
				return
			}
			switch {
			case s.subscribed.Swap(false):
				delay = s.cfg.ReconnectMin
			case delay == 0:
				delay = s.cfg.ReconnectMin
			default:
				delay = min(2*delay, s.cfg.ReconnectMax)
			}
		}
	}()
	return ch
}

// readBalancer reads every service's pool once at start, retrying with
// backoff until each read succeeds or ctx is done.
func (s *Scheduler) readBalancer(ctx context.Context) error {
	for _, sv := range s.serviceList() {
		s.mu.Lock()
		done := sv.lbRead
		s.mu.Unlock()
		if done {
			continue
		}
		if err := sv.readBalancer(ctx); err != nil {
			return err
		}
	}
	return nil
}

// readBalancer reads the service's pool, retrying with backoff until it
// succeeds or ctx is done.
func (s *service) readBalancer(ctx context.Context) error {
	delay := s.cfg.ReconnectMin
	for {
		err := s.readPool(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("mesos: cannot read the balancer's pool; retrying", "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.ReconnectMax)
	}
}

// readPool reads the service's pool once: its entries become tasks the
// service may adopt, and those draining a scale-down to resume.
func (s *service) readPool(ctx context.Context) error {
	pool, err := s.lb.Backends(ctx)
	if err != nil {
		return err
	}
	draining := make(map[string]bool)
	if st, err := s.lb.Stats(ctx); err == nil {
		for id, b := range st.Backends {
			if b.State == lb.StateDraining {
				draining[id] = true
			}
		}
	}
	s.mu.Lock()
	s.poolAtStart = make(map[string]bool, len(pool))
	for _, b := range pool {
		k := s.known[b.ID]
		k.ID, k.Addr = b.ID, b.Addr
		s.known[b.ID] = k
		s.poolAtStart[b.ID] = true
	}
	s.drainingAtStart = draining
	s.lbRead = true
	s.lastPoolSync = s.now()
	s.mu.Unlock()
	if len(pool) > 0 {
		s.log.Info("mesos: balancer pool at start", "backends", len(pool), "draining", len(draining))
	}
	return nil
}

// call sends c to the master, bounded by RequestTimeout, and ended when
// the heartbeat watchdog gives up the subscription it was sent under: a
// call sent into a partition hangs until RequestTimeout, and would hold
// back the event handler (and with it mesos-go's next SUBSCRIBE, sent
// only once the handler returns) or the next converge that long after the
// watchdog dropped the subscription. Mesos would reject the calls of that
// subscription (their Mesos-Stream-Id is stale) anyway. A call sent once
// the watchdog already gave up is bounded by RequestTimeout only.
func (s *Scheduler) call(ctx context.Context, c *scheduler.Call) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	s.mu.Lock()
	abandoned := s.abandoned
	s.mu.Unlock()
	if abandoned != nil && abandoned.Err() == nil {
		defer context.AfterFunc(abandoned, cancel)()
	}
	if err := calls.CallNoData(ctx, s.caller, c); err != nil {
		return fmt.Errorf("mesos: %s: %w", c.GetType(), err)
	}
	return nil
}

// sortedIDs returns m's keys in order, for stable logs and calls.
func sortedIDs[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
