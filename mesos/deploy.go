package mesos

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/webfarm/webfarm/lb"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// ErrDeploying is returned by [Scheduler.Deploy] while another deployment
// of the service is under way, and by [Scheduler.UpdateService] for a new
// task template during one.
var ErrDeploying = errors.New("mesos: a deployment is under way")

// ErrNoDeployment is returned for a service that has no deployment to
// pause, resume or roll back.
var ErrNoDeployment = errors.New("mesos: no deployment")

// DeployOptions tunes a rolling deployment. A zero DeployOptions is valid:
// it uses the defaults documented on each field.
type DeployOptions struct {
	// MaxSurge is how many tasks may run above the desired count while
	// new tasks start. If it and MaxUnavailable are both zero, 1 is used.
	MaxSurge int
	// MaxUnavailable is how many tasks below the desired count may serve
	// while old tasks are replaced: an old task may be drained before
	// its replacement is ready. Zero means none: every old task stays in
	// service until a new one is ready.
	MaxUnavailable int
	// MinReady is how long a new task must have served (after its slow
	// start, when the balancer weighs backends) before an old task is
	// drained for it. If zero, none.
	MinReady time.Duration
	// HealthTimeout is how long a new task may run without serving (not
	// yet healthy) before it counts as failed and is killed. If zero,
	// 5 minutes is used.
	HealthTimeout time.Duration
	// MaxFailures is how many new tasks may fail (end before serving,
	// stay unhealthy past HealthTimeout, or turn unhealthy after serving)
	// before the deployment is rolled back automatically. If zero, 3 is
	// used; a negative value never rolls back automatically.
	MaxFailures int
	// ErrorMargin, if > 0, rolls the deployment back automatically when
	// the new version's error rate (5xx responses over requests, from
	// the balancer's per-backend counters, lb.BackendStats.Errors) is
	// worse than the old version's by more than ErrorMargin (0.05: five
	// points), once the new version has served MinRequests. The
	// counters are read every ErrorCheckEvery. A balancer that reads no
	// per-backend 5xx counters (Errors stays 0) never triggers it.
	ErrorMargin float64
	// MinRequests is how many requests the new version must have served
	// before its error rate is judged. If zero, 20 is used.
	MinRequests int
	// ErrorCheckEvery is the time between two reads of the counters. If
	// zero, 500ms is used.
	ErrorCheckEvery time.Duration
}

func (o DeployOptions) withDefaults() DeployOptions {
	if o.MaxSurge == 0 && o.MaxUnavailable == 0 {
		o.MaxSurge = 1
	}
	if o.HealthTimeout == 0 {
		o.HealthTimeout = 5 * time.Minute
	}
	if o.MaxFailures == 0 {
		o.MaxFailures = 3
	}
	if o.MinRequests == 0 {
		o.MinRequests = 20
	}
	if o.ErrorCheckEvery == 0 {
		o.ErrorCheckEvery = 500 * time.Millisecond
	}
	return o
}

func (o DeployOptions) validate() error {
	switch {
	case o.MaxSurge < 0:
		return fieldErr("DeployOptions.MaxSurge", o.MaxSurge, "must be 0 or more")
	case o.MaxUnavailable < 0:
		return fieldErr("DeployOptions.MaxUnavailable", o.MaxUnavailable, "must be 0 or more")
	case o.MinReady < 0:
		return fieldErr("DeployOptions.MinReady", o.MinReady, "must be 0 or more")
	case o.HealthTimeout < 0:
		return fieldErr("DeployOptions.HealthTimeout", o.HealthTimeout, "must be 0 or more")
	case !(o.ErrorMargin >= 0 && o.ErrorMargin <= 1): // NaN too
		return fieldErr("DeployOptions.ErrorMargin", o.ErrorMargin, "must be in [0, 1]")
	case o.MinRequests < 0:
		return fieldErr("DeployOptions.MinRequests", o.MinRequests, "must be 0 or more")
	case o.ErrorCheckEvery < 0:
		return fieldErr("DeployOptions.ErrorCheckEvery", o.ErrorCheckEvery, "must be 0 or more")
	}
	return nil
}

// DeployState is where a deployment stands.
type DeployState string

const (
	// DeployRunning: old tasks are being replaced.
	DeployRunning DeployState = "running"
	// DeployPaused: no old task is drained and no surge task launched
	// until [Scheduler.ResumeDeploy]; the policy's count still applies.
	DeployPaused DeployState = "paused"
	// DeployDone: every task of the service runs the new template, and
	// at least the desired count of them serve.
	DeployDone DeployState = "done"
	// DeployRolledBack: the deployment was undone; a rollback deployment
	// (Rollback true) replaced it.
	DeployRolledBack DeployState = "rolled back"
	// DeployCanary: a few tasks of the new template run beside the old
	// ones and get a set share of the traffic through balancer weights,
	// until [Scheduler.Promote] or [Scheduler.Rollback].
	DeployCanary DeployState = "canary"
)

// DeployStatus is a deployment's progress, for status pages and tests.
type DeployStatus struct {
	// State is where the deployment stands.
	State DeployState
	// From and To are the old and new templates' versions (a hash of the
	// template; see [TemplateVersion]).
	From, To string
	// Rollback reports that this deployment undoes an earlier one (asked
	// for, or automatic); Reason says why.
	Rollback bool
	Reason   string
	// Desired is the service's desired count; Old and New count the live
	// tasks of each version (those being drained included), Ready the new
	// ones that serve at full weight.
	Desired, Old, New, Ready int
	// Failures counts new tasks that failed (see DeployOptions.MaxFailures).
	Failures int
	// Share is the new version's share of the serving tasks' balancer
	// weights (of the serving tasks, without an [lb.Weighter]): the part
	// of the traffic it is set to get, 0–1. For a canary it is
	// CanaryOptions.Percent/100 up to the weights' rounding.
	Share float64
	// OldRequests, OldErrors, NewRequests and NewErrors count each
	// version's requests and 5xx answers since the deployment began,
	// from the balancer's per-backend counters (read every
	// ErrorCheckEvery; 0 where the balancer has none).
	OldRequests, OldErrors, NewRequests, NewErrors uint64
	// Started is when the deployment began; Finished when it ended (zero
	// while it runs).
	Started, Finished time.Time
}

// String is a one-line summary for logs and status pages, e.g.
// "deployment running 3f2a…→9bc1…: 4 new (3 ready), 2 old of 6, 60 % of
// the traffic".
func (st DeployStatus) String() string {
	kind := "deployment"
	if st.Rollback {
		kind = "rollback"
	}
	s := fmt.Sprintf("%s %s %s→%s: %d new (%d ready), %d old of %d, %.0f %% of the traffic",
		kind, st.State, st.From, st.To, st.New, st.Ready, st.Old, st.Desired, 100*st.Share)
	if st.Failures > 0 {
		s += fmt.Sprintf(", %d failed", st.Failures)
	}
	if st.OldRequests+st.NewRequests > 0 {
		s += fmt.Sprintf("; 5xx: new %d of %d, old %d of %d", st.NewErrors, st.NewRequests, st.OldErrors, st.OldRequests)
	}
	if st.Reason != "" {
		s += " (" + st.Reason + ")"
	}
	return s
}

// TemplateVersion returns the version of a task template: the first 12
// hex digits of the SHA-256 of its JSON form. Two templates have the same
// version exactly when every field is equal.
func TemplateVersion(t TaskTemplate) string {
	b, err := json.Marshal(t)
	if err != nil { // cannot happen: TaskTemplate has only plain fields
		return "invalid"
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// deployment is a service's rolling deployment. Guarded by Scheduler.mu.
type deployment struct {
	from, to          TaskTemplate // the service's templates, Name set
	fromVer, toVer    string
	opts              DeployOptions // with defaults
	state             DeployState
	rollback          bool
	reason            string
	failed            map[string]bool // new tasks counted as failed
	started, finished time.Time
	// drainOld retires every old task at once, serving or not: an
	// automatic rollback takes a failing version out of traffic first.
	drainOld bool
	// Error-rate watch (ErrorMargin): the last read, and each backend's
	// counters at the last read (zero for a new task when first seen,
	// the counters then for an old one).
	lastRead time.Time
	base     map[string]lb.BackendStats
	// The versions' requests and 5xx since the deployment began.
	oldReq, oldErr, newReq, newErr uint64
	// A canary's share of the traffic (0–1) and task count; fromCfg is
	// the service's Config with the old template, for launches of old
	// tasks beside the canary.
	canaryShare float64
	canaryCount int
	fromCfg     Config
	// resetWeights: a canary ran; every serving task gets the full
	// weight (set explicitly: a balancer's default for a new backend,
	// HAProxy's 1, is not the full weight the others now have).
	resetWeights bool
}

// savedDeploy is what StateFile keeps of a service's last deployment.
// The templates are kept whole (Env included: the state file is written
// with mode 0600), so a restarted scheduler finishes the deployment
// without being told again.
type savedDeploy struct {
	From        TaskTemplate  `json:"from"`
	To          TaskTemplate  `json:"to"`
	Opts        DeployOptions `json:"opts"`
	State       DeployState   `json:"state"`
	Rollback    bool          `json:"rollback,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	Failed      []string      `json:"failed,omitempty"`
	DrainOld    bool          `json:"drain_old,omitempty"`
	CanaryShare float64       `json:"canary_share,omitempty"`
	CanaryCount int           `json:"canary_count,omitempty"`
	Started     time.Time     `json:"started"`
	Finished    time.Time     `json:"finished,omitzero"`
}

func (d *deployment) saved() *savedDeploy {
	if d == nil {
		return nil
	}
	sd := &savedDeploy{From: d.from, To: d.to, Opts: d.opts, State: d.state, Rollback: d.rollback,
		Reason: d.reason, Started: d.started, Finished: d.finished, DrainOld: d.drainOld,
		CanaryShare: d.canaryShare, CanaryCount: d.canaryCount}
	sd.Failed = sortedIDs(d.failed)
	return sd
}

// restoreDeploy rebuilds the deployment the state file kept for sv and
// puts its template in force. A deployment whose templates are neither
// the one the program configured now is dropped: the program's
// configuration wins. sv.mu need not be held (sv is not shared yet).
func (sv *service) restoreDeploy(sd *savedDeploy) {
	if sd == nil {
		return
	}
	switch sd.State {
	case DeployRunning, DeployPaused, DeployDone, DeployRolledBack:
	case DeployCanary:
		if !(sd.CanaryShare > 0 && sd.CanaryShare < 1) || sd.CanaryCount < 1 {
			sv.log.Warn("mesos: state file: bad canary; dropped", "share", sd.CanaryShare, "count", sd.CanaryCount)
			return
		}
	default:
		sv.log.Warn("mesos: state file: unknown deployment state; dropped", "state", sd.State)
		return
	}
	from, to := sv.normalize(sd.From), sv.normalize(sd.To)
	d := &deployment{from: from, to: to, fromVer: TemplateVersion(from), toVer: TemplateVersion(to),
		opts: sd.Opts.withDefaults(), state: sd.State, rollback: sd.Rollback, reason: sd.Reason,
		failed: make(map[string]bool), started: sd.Started, finished: sd.Finished, drainOld: sd.DrainOld,
		canaryShare: sd.CanaryShare, canaryCount: sd.CanaryCount}
	for _, id := range sd.Failed {
		d.failed[id] = true
	}
	cur := TemplateVersion(sv.cfg.Task)
	if cur != d.fromVer && cur != d.toVer {
		sv.log.Warn("mesos: the configured task template is neither side of the saved deployment; deployment dropped",
			"configured", cur, "from", d.fromVer, "to", d.toVer)
		return
	}
	if d.state == DeployRolledBack {
		// Only a record: the rollback that followed is the deployment.
		sv.deploy = d
		return
	}
	if cur != d.toVer {
		sv.log.Info("mesos: deployment restored from the state file; its template is in force",
			"from", d.fromVer, "to", d.toVer, "state", d.state)
	}
	sc := sv.sc
	sc.Task = d.from
	d.fromCfg = serviceCfg(sv.Scheduler.cfg, sc)
	sv.sc.Task = d.to
	sv.cfg = serviceCfg(sv.Scheduler.cfg, sv.sc)
	sv.version = d.toVer
	sv.deploy = d
}

// activeLocked reports whether d replaces tasks now (running or paused).
func (d *deployment) activeLocked() bool {
	return d != nil && (d.state == DeployRunning || d.state == DeployPaused || d.state == DeployCanary)
}

// launchCfgLocked returns the Config the service's next task is launched
// from, and its version: the service's own, but during a canary the old
// template's once the canary tasks run.
func (s *service) launchCfgLocked() (*Config, string) {
	d := s.deploy
	if d == nil || d.state != DeployCanary {
		return &s.cfg, s.version
	}
	n := 0
	for _, t := range s.tasks {
		if !t.gone && !t.victim && t.version == d.toVer {
			n++
		}
	}
	if n < min(d.canaryCount, s.desired) {
		return &s.cfg, s.version
	}
	return &d.fromCfg, d.fromVer
}

// replacingLocked reports whether t is an old task a deployment of s
// replaces.
func (s *service) replacingLocked(t *task) bool {
	return s.deploy.activeLocked() && t.version != s.deploy.toVer
}

// readyLocked reports whether t serves at full weight, long enough.
func (s *service) readyLocked(t *task, now time.Time) bool {
	if t.gone || t.victim || !t.inLB || !t.rampStart.IsZero() {
		return false
	}
	if s.deploy != nil && s.deploy.opts.MinReady > 0 && t.version == s.deploy.toVer {
		return !t.servedAt.IsZero() && now.Sub(t.servedAt) >= s.deploy.opts.MinReady
	}
	return true
}

// targetLocked is the count the service's tasks are brought to: the
// desired count, or during a deployment the count that makes its next
// step. While old tasks remain, it is the live count less the old tasks
// that may go now (those not serving, and as many as keep at least
// desired − MaxUnavailable tasks ready), or else, to launch new tasks,
// desired + MaxSurge (at most desired + the old tasks left). Victims are
// taken from the old tasks first (see pickVictims), launches use the new
// template.
func (s *service) targetLocked() int {
	d := s.deploy
	if !d.activeLocked() || s.removing {
		return s.desired
	}
	now := s.now()
	n := s.desired
	var live, old, oldIdle, ready int
	for _, t := range s.tasks {
		if t.gone || t.victim {
			continue
		}
		live++
		isOld := t.version != d.toVer
		if isOld {
			old++
		}
		switch {
		case s.readyLocked(t, now) && !(isOld && d.drainOld):
			ready++
		case isOld && (!t.inLB || d.drainOld):
			oldIdle++
		}
	}
	// A canary keeps desired − canaryCount old tasks; a rollout none.
	excess := old
	if d.state == DeployCanary {
		excess = old - (n - min(d.canaryCount, n))
	}
	if excess <= 0 {
		return n
	}
	if d.state == DeployPaused {
		return min(max(live, n), n+d.opts.MaxSurge)
	}
	if retire := min(excess, oldIdle+max(0, ready-(n-d.opts.MaxUnavailable))); retire > 0 {
		return live - retire
	}
	return min(n+d.opts.MaxSurge, n+excess)
}

// healthCheckOfLocked reports whether the template of version v has a
// health check, as far as the service knows (its current template's
// otherwise).
func (s *service) healthCheckOfLocked(v string) bool {
	if d := s.deploy; d != nil && v != s.version {
		switch v {
		case d.fromVer:
			return d.from.HealthCheck != nil
		case d.toVer:
			return d.to.HealthCheck != nil
		}
	}
	return s.cfg.Task.HealthCheck != nil
}

// victimReasonLocked is the reason recorded for a victim chosen by
// pickVictims.
func (s *service) victimReasonLocked(t *task) string {
	if s.replacingLocked(t) {
		return "deploy: replaced by version " + s.deploy.toVer
	}
	return reasonScaleDown
}

// deployStep watches the service's deployment, once per converge before
// the other steps: it counts new tasks that fail, kills those that stay
// unhealthy past HealthTimeout, rolls the deployment back after
// MaxFailures, and marks it done once no old task is left.
func (s *service) deployStep(now time.Time) {
	s.mu.Lock()
	d := s.deploy
	if !d.activeLocked() || !s.reconciled {
		s.mu.Unlock()
		return
	}
	old, ready := 0, 0
	var failedNow []string
	for _, t := range s.tasks {
		if t.version != d.toVer {
			if !t.gone {
				old++
			}
			continue
		}
		if s.readyLocked(t, now) {
			ready++
		}
		if d.failed[t.id] {
			continue
		}
		why := ""
		switch {
		case t.gone && t.servedAt.IsZero() && !t.victim:
			why = "ended before serving: " + t.state.String()
		case !t.gone && !t.victim && t.servedAt.IsZero() && now.Sub(t.launched) > d.opts.HealthTimeout:
			why = "not healthy within " + d.opts.HealthTimeout.String()
			t.victim, t.reason = true, "deploy: new task failed its health check"
		case !t.gone && !t.victim && !t.servedAt.IsZero() && t.state == mesos.TASK_RUNNING && !t.serving():
			why = "turned unhealthy"
		}
		if why != "" {
			d.failed[t.id] = true
			failedNow = append(failedNow, t.id+" ("+why+")")
		}
	}
	rollback, done := false, false
	switch {
	case len(failedNow) > 0 && d.opts.MaxFailures > 0 && len(d.failed) >= d.opts.MaxFailures && !d.rollback:
		rollback = true
		d.state, d.finished = DeployRolledBack, now
		s.startDeployLocked(d.to, d.from, d.opts, true,
			fmt.Sprintf("automatic: %d new tasks failed", len(d.failed)), now)
		s.deploy.drainOld = true
	case old == 0 && ready >= s.desired && d.state != DeployCanary:
		done = true
		d.state, d.finished = DeployDone, now
	}
	desired := s.desired
	s.mu.Unlock()
	for _, f := range failedNow {
		s.log.Warn("mesos: deployment: new task failed", "task", f, "version", d.toVer)
	}
	switch {
	case rollback:
		s.log.Warn("mesos: deployment rolled back", "from", d.toVer, "to", d.fromVer, "failures", len(d.failed))
	case done:
		s.log.Info("mesos: deployment done", "version", d.toVer, "rollback", d.rollback,
			"desired", desired, "took", now.Sub(d.started).Round(time.Millisecond))
	}
	if rollback || done || len(failedNow) > 0 {
		s.save()
		s.poke()
	}
}

// deployErrors reads the balancer's per-backend counters while a
// deployment runs, at most once per ErrorCheckEvery, and sums each
// version's requests and 5xx (for DeployStatus); with an ErrorMargin it
// rolls the deployment back when the new version's error rate is worse
// than the old one's by more than the margin.
func (s *service) deployErrors(ctx context.Context, now time.Time) {
	s.mu.Lock()
	d := s.deploy
	if d == nil || (d.state != DeployRunning && d.state != DeployCanary) || now.Sub(d.lastRead) < d.opts.ErrorCheckEvery {
		s.mu.Unlock()
		return
	}
	d.lastRead = now
	isNew := make(map[string]bool, len(s.tasks))
	for id, t := range s.tasks {
		if !t.gone {
			isNew[id] = t.version == d.toVer
		}
	}
	s.mu.Unlock()
	st, err := s.lb.Stats(ctx)
	if err != nil || st.Backends == nil {
		return
	}
	s.mu.Lock()
	if s.deploy != d || (d.state != DeployRunning && d.state != DeployCanary) {
		s.mu.Unlock()
		return
	}
	if d.base == nil {
		d.base = make(map[string]lb.BackendStats)
	}
	for _, id := range sortedIDs(st.Backends) {
		bs := st.Backends[id]
		nw, ours := isNew[id]
		if !ours {
			continue
		}
		base, seen := d.base[id]
		if !seen && !nw {
			base = bs // an old task: count from now on
		}
		if bs.Requests < base.Requests || bs.Errors < base.Errors { // the balancer restarted
			base = lb.BackendStats{}
		}
		req, errs := bs.Requests-base.Requests, bs.Errors-base.Errors
		if nw {
			d.newReq, d.newErr = d.newReq+req, d.newErr+errs
		} else {
			d.oldReq, d.oldErr = d.oldReq+req, d.oldErr+errs
		}
		d.base[id] = lb.BackendStats{Requests: bs.Requests, Errors: bs.Errors}
	}
	oldRate, newRate := ratio(d.oldErr, d.oldReq), ratio(d.newErr, d.newReq)
	bad := d.opts.ErrorMargin > 0 && !d.rollback &&
		d.newReq >= uint64(d.opts.MinRequests) && newRate > oldRate+d.opts.ErrorMargin
	var reason string
	if bad {
		reason = fmt.Sprintf("automatic: error rate %.1f%% (%d of %d) vs %.1f%% (%d of %d) of the old version",
			100*newRate, d.newErr, d.newReq, 100*oldRate, d.oldErr, d.oldReq)
		d.state, d.finished = DeployRolledBack, now
		s.startDeployLocked(d.to, d.from, d.opts, true, reason, now)
		s.deploy.drainOld = true
	}
	s.mu.Unlock()
	if bad {
		s.log.Warn("mesos: deployment rolled back", "from", d.toVer, "to", d.fromVer, "reason", reason)
		s.save()
		s.poke()
	}
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// startDeployLocked makes to the service's template and starts replacing
// the tasks of other versions.
func (s *service) startDeployLocked(from, to TaskTemplate, opts DeployOptions, rollback bool, reason string, now time.Time) {
	from, to = s.normalize(from), s.normalize(to)
	wasCanary := s.deploy != nil && (s.deploy.canaryShare > 0 || s.deploy.resetWeights)
	s.deploy = &deployment{from: from, to: to, fromVer: TemplateVersion(from), toVer: TemplateVersion(to),
		opts: opts, state: DeployRunning, rollback: rollback, reason: reason,
		failed: make(map[string]bool), started: now, resetWeights: wasCanary}
	sc := s.sc
	sc.Task = from
	s.deploy.fromCfg = serviceCfg(s.Scheduler.cfg, sc)
	s.sc.Task = to
	s.cfg = serviceCfg(s.Scheduler.cfg, s.sc)
	s.version = s.deploy.toVer
}

// normalize returns t as the service runs it (its name and defaults set),
// the form versions are computed from.
func (s *service) normalize(t TaskTemplate) TaskTemplate {
	sc := s.sc
	sc.Task = t
	return serviceCfg(s.Scheduler.cfg, sc).Task
}

// Deploy starts a rolling deployment of tmpl to the named service and
// returns once it is under way (see [Scheduler.WaitDeploy]). From then
// on the service launches tmpl's tasks, and replaces its tasks of other
// versions in steps: at most opts.MaxSurge tasks above the desired count
// start at once; each new task joins the balancer once healthy (and, when
// the balancer weighs backends, slow-starts) before an old task is
// drained and killed, keeping at least desired − opts.MaxUnavailable
// tasks serving. The policy keeps setting the desired count, which is
// the total of both versions. Progress is kept in the state file, so a
// restarted scheduler finishes the deployment.
//
// Deploying the template a running deployment already deploys does
// nothing. It fails with [ErrNoService], with [ErrDeploying] while
// another deployment runs (roll it back or wait for it), and with
// [ErrInvalid] for a bad template or options.
func (s *Scheduler) Deploy(ctx context.Context, service string, tmpl TaskTemplate, opts DeployOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := opts.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	sv, err := s.serviceLocked(service)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sc := sv.sc
	sc.Task = tmpl
	s.mu.Unlock()
	if err := sc.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	if sv != s.services[service] || sv.removing {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNoService, service)
	}
	ver := TemplateVersion(sv.normalize(tmpl))
	if d := sv.deploy; d.activeLocked() {
		s.mu.Unlock()
		if d.toVer == ver {
			return nil
		}
		return fmt.Errorf("%w: service %s, to version %s", ErrDeploying, service, d.toVer)
	}
	from := sv.cfg.Task
	sv.startDeployLocked(from, tmpl, opts.withDefaults(), false, "", s.now())
	d := sv.deploy
	s.mu.Unlock()
	sv.log.Info("mesos: deployment started", "from", d.fromVer, "to", d.toVer,
		"max_surge", d.opts.MaxSurge, "max_unavailable", d.opts.MaxUnavailable)
	s.save()
	s.poke()
	return nil
}

// serviceLocked returns the named service, or ErrNoService.
func (s *Scheduler) serviceLocked(name string) (*service, error) {
	sv := s.services[name]
	if sv == nil || sv.removing {
		return nil, fmt.Errorf("%w: %q", ErrNoService, name)
	}
	return sv, nil
}

// PauseDeploy pauses the service's running deployment: no more old tasks
// are drained and no surge task is launched until [Scheduler.ResumeDeploy].
// The desired count still applies (new launches use the new template).
// It fails with [ErrNoService], or [ErrNoDeployment] if none runs.
func (s *Scheduler) PauseDeploy(service string) error {
	return s.setDeployState(service, DeployRunning, DeployPaused)
}

// ResumeDeploy resumes a paused deployment. It fails with [ErrNoService],
// or [ErrNoDeployment] if none is paused.
func (s *Scheduler) ResumeDeploy(service string) error {
	return s.setDeployState(service, DeployPaused, DeployRunning)
}

func (s *Scheduler) setDeployState(name string, from, to DeployState) error {
	return s.changeDeploy(context.Background(), name, func(sv *service, d *deployment) error {
		if d == nil || d.state != from {
			return fmt.Errorf("%w: service %s has no %s deployment", ErrNoDeployment, name, from)
		}
		d.state = to
		sv.log.Info("mesos: deployment "+string(to), "version", d.toVer)
		return nil
	})
}

// changeDeploy runs f on the named service and its deployment (nil if
// none) under the lock; unless f fails, it saves the state and wakes the
// loop. f may log (the lock is not the logger's).
func (s *Scheduler) changeDeploy(ctx context.Context, name string, f func(sv *service, d *deployment) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	sv, err := s.serviceLocked(name)
	if err == nil {
		err = f(sv, sv.deploy)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.save()
	s.poke()
	return nil
}

// Rollback undoes the service's last deployment, running or finished: a
// deployment back to the template it replaced starts (with the same
// options) and the undone one is marked [DeployRolledBack]. It fails with
// [ErrNoService], or [ErrNoDeployment] if there is nothing to undo.
func (s *Scheduler) Rollback(ctx context.Context, name string) error {
	return s.changeDeploy(ctx, name, func(sv *service, d *deployment) error {
		if d == nil || d.state == DeployRolledBack {
			return fmt.Errorf("%w: service %s has nothing to roll back", ErrNoDeployment, name)
		}
		now := s.now()
		d.state, d.finished = DeployRolledBack, now
		sv.startDeployLocked(d.to, d.from, d.opts, true, "asked", now)
		sv.log.Info("mesos: deployment rolled back", "from", d.toVer, "to", d.fromVer, "reason", "asked")
		return nil
	})
}

// DeployStatus returns the progress of the service's last deployment. It
// fails with [ErrNoService], or [ErrNoDeployment] if the service never
// had one.
func (s *Scheduler) DeployStatus(service string) (DeployStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.services[service]
	if sv == nil {
		return DeployStatus{}, fmt.Errorf("%w: %q", ErrNoService, service)
	}
	d := sv.deploy
	if d == nil {
		return DeployStatus{}, fmt.Errorf("%w: service %s", ErrNoDeployment, service)
	}
	st := DeployStatus{State: d.state, From: d.fromVer, To: d.toVer, Rollback: d.rollback, Reason: d.reason,
		Desired: sv.desired, Failures: len(d.failed), Started: d.started, Finished: d.finished,
		OldRequests: d.oldReq, OldErrors: d.oldErr, NewRequests: d.newReq, NewErrors: d.newErr}
	now := s.now()
	_, weighs := sv.lb.(lb.Weighter)
	var wAll, wNew int
	for _, t := range sv.tasks {
		if t.gone {
			continue
		}
		w := 0
		if t.inLB && !t.victim {
			w = 1
			if weighs {
				w = cmp.Or(t.weight, sv.cfg.Weight)
			}
		}
		wAll += w
		if t.version != d.toVer {
			st.Old++
			continue
		}
		wNew += w
		st.New++
		if sv.readyLocked(t, now) {
			st.Ready++
		}
	}
	if wAll > 0 {
		st.Share = float64(wNew) / float64(wAll)
	}
	return st, nil
}

// WaitDeploy waits until the service's deployment has ended, or ctx. A
// deployment rolled back ends when its rollback does: the status returned
// then has Rollback set. It fails with [ErrNoService] (for instance, the
// service was removed), [ErrNoDeployment], or ctx's error.
func (s *Scheduler) WaitDeploy(ctx context.Context, service string) (DeployStatus, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := s.DeployStatus(service)
		if err != nil || st.State == DeployDone {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}

// CanaryOptions configures a canary: a few tasks of a new template beside
// the old ones, with a set share of the traffic.
type CanaryOptions struct {
	// Percent is the share of requests the canary tasks get together,
	// in (0, 100). Required.
	Percent float64
	// Count is the number of canary tasks. If zero, 1 is used; it is
	// capped by the desired count.
	Count int
	// Deploy tunes how the canary tasks start and are checked
	// (MaxSurge, MaxUnavailable, MinReady, HealthTimeout, MaxFailures,
	// ErrorMargin …), and the rollout [Scheduler.Promote] starts.
	Deploy DeployOptions
}

// Canary starts a canary of tmpl on the named service: Count tasks of
// tmpl replace as many old ones (one at a time, health-gated, as
// [Scheduler.Deploy] does) and get Percent of the requests together
// through balancer weights ([lb.Weighter]: HAProxy and IPVS set them;
// without one the canary gets its tasks' share, Count/desired, which
// [DeployStatus].Share reports). The weights are set again
// whenever either version's count changes, so the share holds as the
// policy scales the service; new tasks beyond the canary's run the old
// template. [Scheduler.Promote] rolls the rest of the service to tmpl;
// [Scheduler.Rollback] aborts. Automatic rollback (MaxFailures,
// ErrorMargin) applies to the canary. Errors are as Deploy's, and
// [ErrInvalid] for a Percent outside (0, 100).
//
// ELB target groups hold no per-target weight: lb/elb has no Weighter,
// so a canary there gets Count/desired of the requests. An ALB listener
// rule can forward to two target groups with weights (ForwardConfig's
// TargetGroups[].Weight); a farm with one service per version, each on
// its own target group, could split traffic that way, which this
// package does not do.
func (s *Scheduler) Canary(ctx context.Context, service string, tmpl TaskTemplate, opts CanaryOptions) error {
	if !(opts.Percent > 0 && opts.Percent < 100) {
		return fieldErr("CanaryOptions.Percent", opts.Percent, "must be in (0, 100)")
	}
	if opts.Count < 0 {
		return fieldErr("CanaryOptions.Count", opts.Count, "must be 0 or more")
	}
	if err := s.Deploy(ctx, service, tmpl, opts.Deploy); err != nil {
		return err
	}
	s.mu.Lock()
	sv := s.services[service]
	d := sv.deploy
	if d.canaryShare == 0 && d.state == DeployRunning {
		d.state = DeployCanary
		d.canaryShare, d.canaryCount = opts.Percent/100, max(1, opts.Count)
	}
	s.mu.Unlock()
	sv.log.Info("mesos: canary", "version", d.toVer, "percent", opts.Percent, "count", d.canaryCount)
	s.save()
	s.poke()
	return nil
}

// Promote ends the service's canary: the rest of its tasks roll to the
// canary's template (with the canary's DeployOptions) and every weight
// goes back to full. It fails with [ErrNoService], or [ErrNoDeployment]
// if no canary runs.
func (s *Scheduler) Promote(ctx context.Context, name string) error {
	return s.changeDeploy(ctx, name, func(sv *service, d *deployment) error {
		if d == nil || d.state != DeployCanary {
			return fmt.Errorf("%w: service %s has no canary", ErrNoDeployment, name)
		}
		d.state, d.canaryShare, d.resetWeights = DeployRunning, 0, true
		sv.log.Info("mesos: canary promoted", "version", d.toVer)
		return nil
	})
}

// canaryWeights returns the weights that give nNew canary tasks share
// of the traffic beside nOld old ones: old tasks at full (1–256) where
// the canary's weight fits in 1–256, else the nearest that does.
func canaryWeights(share float64, nOld, nNew, full int) (wOld, wNew int) {
	r := share / (1 - share) // canary weight over old weight, in all
	per := r * float64(nOld*full) / float64(nNew)
	switch {
	case per > 256:
		return max(1, int(math.Round(256*float64(nNew)/(r*float64(nOld))))), 256
	case per < 1:
		return min(256, max(1, int(math.Round(float64(nNew)/(r*float64(nOld)))))), 1
	}
	return full, int(math.Round(per))
}

// weigh sets the weights a canary asks for on the balancer, and once a
// canary ended keeps every weight at full. A slow-starting task
// ramps up to its canary weight, no further.
func (s *service) weigh(ctx context.Context) {
	w, ok := s.lb.(lb.Weighter)
	s.mu.Lock()
	d := s.deploy
	if !ok || d == nil || (d.state != DeployCanary && !d.resetWeights) {
		s.mu.Unlock()
		return
	}
	wOld, wNew := s.cfg.Weight, s.cfg.Weight
	if d.state == DeployCanary {
		var nOld, nNew int
		for _, t := range s.tasks {
			if !t.gone && !t.victim && t.inLB {
				if t.version == d.toVer {
					nNew++
				} else {
					nOld++
				}
			}
		}
		if nOld > 0 && nNew > 0 {
			wOld, wNew = canaryWeights(d.canaryShare, nOld, nNew, s.cfg.Weight)
		}
	}
	type set struct {
		t *task
		w int
	}
	var sets []set
	for _, t := range s.tasks {
		if t.gone || t.victim || !t.inLB {
			continue
		}
		want := wOld
		if t.version == d.toVer {
			want = wNew
		}
		if !t.rampStart.IsZero() {
			if t.weight < want {
				continue // still ramping up to it
			}
			t.rampStart = time.Time{}
		}
		if t.weight != want {
			sets = append(sets, set{t, want})
		}
	}
	s.mu.Unlock()
	for _, st := range sets {
		if err := w.SetWeight(ctx, st.t.id, st.w); err != nil {
			s.log.Warn("mesos: cannot set weight", "backend", st.t.id, "weight", st.w, "err", err)
			continue
		}
		s.mu.Lock()
		st.t.weight = st.w
		s.mu.Unlock()
	}
	if len(sets) > 0 {
		s.log.Debug("mesos: weights set", "old", wOld, "new", wNew, "backends", len(sets))
	}
}
