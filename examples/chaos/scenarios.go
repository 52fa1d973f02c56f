package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/webfarm/webfarm/mesos"
	"github.com/webfarm/webfarm/scaler"
)

// result is what one scenario injected and measured.
type result struct {
	Name     string
	Injected string
	Measured string
	Requests int64         // load requests completed during the scenario
	Failed   int64         // of which failed
	Skipped  int64         // load requests the schedule could not start: every worker busy
	P99      time.Duration // of the load requests completed during the scenario
	Allowed  string
	Took     time.Duration
	Err      error // nil: every assertion held
}

// scenario is one fault injected into the running farm.
type scenario struct {
	name string
	run  func(ctx context.Context, f *farm, r *result) error
}

// scenarios is the suite, in the order it runs on one farm.
var scenarios = []scenario{
	{"scale events", scaleEvents},
	{"master failover during scale-up", failoverUp},
	{"master failover during scale-down", failoverDown},
	{"agent lost with tasks", agentLost},
	{"scheduler process restarted mid-scale-down", schedulerRestart},
	{"stats socket unavailable", statsOutage},
	{"haproxy restarted by operator", haproxyRestart},
	{"backend task killed", backendKilled},
}

// runScenario runs sc, measures the load around it, and checks that no
// request failed unless the scenario allowed it (r.Allowed set).
func runScenario(ctx context.Context, f *farm, sc scenario) result {
	r := result{Name: sc.name}
	before := f.load.Snapshot()
	start := time.Now()
	err := sc.run(ctx, f, &r)
	r.Took = time.Since(start)
	d := f.load.Snapshot().Since(before)
	r.Requests, r.Failed, r.Skipped, r.P99 = d.Requests, d.Failed, d.Skipped, d.P99
	if r.Requests == 0 {
		err = errors.Join(err, errors.New("no load requests completed during the scenario"))
	}
	if r.Failed > 0 && r.Allowed == "" {
		err = errors.Join(err, fmt.Errorf("%d of %d requests failed (%v), want 0", r.Failed, r.Requests, d.Errors))
	}
	if maxSkipped := f.opt.maxSkipped(); r.Skipped > maxSkipped {
		err = errors.Join(err, fmt.Errorf("the load skipped %d requests (every worker busy), want ≤ %d", r.Skipped, maxSkipped))
	}
	if r.P99 > f.opt.MaxP99 {
		err = errors.Join(err, fmt.Errorf("p99 of the load %s, want ≤ %s", r.P99, f.opt.MaxP99))
	}
	r.Err = err
	return r
}

// scaleTo pins the count and waits until it is served.
func scaleTo(ctx context.Context, f *farm, n int) (time.Duration, error) {
	start := time.Now()
	f.policy.set(n)
	err := f.waitSettled(ctx, n, 60*time.Second)
	return time.Since(start), err
}

// scaleEvents: opt.ScaleEvents changes of the count, up and down, each
// waited for until Mesos, HAProxy and the scheduler agree.
func scaleEvents(ctx context.Context, f *farm, r *result) error {
	rng := rand.New(rand.NewPCG(f.opt.Seed, 1))
	cur := 1
	if _, err := scaleTo(ctx, f, cur); err != nil {
		return err
	}
	var took []time.Duration
	ups, downs := 0, 0
	for i := range f.opt.ScaleEvents {
		// Alternate up and down so that both directions get exercised.
		next := cur
		if i%2 == 0 {
			next = cur + 1 + rng.IntN(f.opt.MaxTasks-cur)
			ups++
		} else {
			next = 1 + rng.IntN(cur-1)
			downs++
		}
		d, err := scaleTo(ctx, f, next)
		if err != nil {
			return fmt.Errorf("event %d (%d → %d): %w", i, cur, next, err)
		}
		took = append(took, d)
		cur = next
	}
	slices.Sort(took)
	r.Injected = fmt.Sprintf("%d scale events (%d up, %d down) between 1 and %d tasks, seed %d", len(took), ups, downs, f.opt.MaxTasks, f.opt.Seed)
	r.Measured = fmt.Sprintf("time to settle: median %s, max %s", took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	return nil
}

// failoverUp changes the count 1 → 3 and fails the master over as soon
// as the scheduler has taken the new count: exactly two tasks launch.
func failoverUp(ctx context.Context, f *farm, r *result) error {
	const from, to = 1, 3
	if _, err := scaleTo(ctx, f, from); err != nil {
		return err
	}
	ids := f.taskIDs()
	start := time.Now()
	f.policy.set(to)
	s := f.sched.get()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := f.waitFor(wctx, "the scheduler to take the new count", func() (bool, string) {
		st, err := s.Status(wctx)
		return err == nil && st.Desired == to, fmt.Sprint(st, err)
	})
	cancel()
	if err != nil {
		return err
	}
	draining, serving := 0, 0
	for _, t := range s.Tasks() {
		if t.Draining {
			draining++
		}
		if t.InLB && !t.Draining {
			serving++
		}
	}
	if err := f.cluster.FailoverMaster(ctx); err != nil {
		return err
	}
	injected := time.Since(start)
	if err := f.waitSettled(ctx, to, 60*time.Second); err != nil {
		return err
	}
	launched := 0
	for id := range f.taskIDs() {
		if !ids[id] {
			launched++
		}
	}
	r.Injected = fmt.Sprintf("%d → %d tasks, master failover as the scheduler took the new count (%s after the script set it; %d serving, %d draining then)",
		from, to, injected.Round(time.Millisecond), serving, draining)
	r.Measured = fmt.Sprintf("settled %s after the change; %d tasks launched", time.Since(start).Round(time.Millisecond), launched)
	if launched != to-from {
		return fmt.Errorf("%d tasks launched for a scale-up by %d (duplicates?)", launched, to-from)
	}
	return nil
}

// failoverDown scales 3 → 1 with every backend kept busy by slow
// requests, so that the two drains are held open, fails the master over
// while they are, and asserts that the drains were in progress across the
// failover, that no other task was chosen as a victim (the survivor never
// drains, before reconciliation or after), that the slow requests on the
// draining backends all finish, and that no task was launched.
func failoverDown(ctx context.Context, f *farm, r *result) error {
	const from, to = 3, 1
	if _, err := scaleTo(ctx, f, from); err != nil {
		return err
	}
	ids := f.taskIDs()
	// Slow requests keep every backend busy, so the drains last about
	// 3 s: the failover lands while they are held open.
	slow := slowRequests(ctx, f, 2*from, 3*time.Second)
	start := time.Now()
	f.policy.set(to)
	s := f.sched.get()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var victims []string
	err := f.waitFor(wctx, "two backends draining", func() (bool, string) {
		victims = drainingInLB(s.Tasks())
		return len(victims) == from-to, fmt.Sprint(s.Tasks())
	})
	cancel()
	if err != nil {
		return err
	}
	// The drains are held open: the victims still have connections.
	var held []string
	for _, id := range victims {
		if n, err := f.driver.ActiveConns(ctx, id); err == nil && n > 0 {
			held = append(held, fmt.Sprintf("%s: %d conns", id, n))
		}
	}
	// Watch every task view from now until the farm settles: a task that
	// drains and is not one of the victims is a new victim.
	watch, stopWatch := context.WithCancel(ctx)
	newVictims := make(chan []string, 1)
	go func() {
		seen := map[string]bool{}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, t := range s.Tasks() {
				if t.Draining && !slices.Contains(victims, t.ID) {
					seen[t.ID] = true
				}
			}
			select {
			case <-watch.Done():
				newVictims <- slices.Sorted(maps.Keys(seen))
				return
			case <-tick.C:
			}
		}
	}()
	if err := f.cluster.FailoverMaster(ctx); err != nil {
		stopWatch()
		return err
	}
	failedOver := time.Since(start)
	stillDraining := drainingInLB(s.Tasks())
	werr := f.waitSettled(ctx, to, 60*time.Second)
	stopWatch()
	extra := <-newVictims
	if werr != nil {
		return werr
	}
	slowOK, slowErrs := slow()
	launched := 0
	for id := range f.taskIDs() {
		if !ids[id] {
			launched++
		}
	}
	r.Injected = fmt.Sprintf("%d → %d tasks, master failover while %v drained held open by slow requests (%v), %s after the change",
		from, to, victims, held, failedOver.Round(time.Millisecond))
	r.Measured = fmt.Sprintf("settled %s after the change; still draining after the failover: %v; other tasks drained: %v; tasks launched: %d; 3 s requests: %d of %d ok",
		time.Since(start).Round(time.Millisecond), stillDraining, extra, launched, slowOK, 2*from)
	var errs []error
	if len(held) == 0 {
		errs = append(errs, fmt.Errorf("no drain was held open when the master failed over: victims %v had no connections", victims))
	}
	if !slices.Equal(stillDraining, victims) {
		errs = append(errs, fmt.Errorf("draining right after the failover: %v, want the victims %v still draining", stillDraining, victims))
	}
	if len(extra) > 0 {
		errs = append(errs, fmt.Errorf("tasks %v drained besides the victims %v: a new victim was chosen across the failover", extra, victims))
	}
	if launched > 0 {
		errs = append(errs, fmt.Errorf("%d tasks launched during a scale-down", launched))
	}
	if len(slowErrs) > 0 {
		errs = append(errs, fmt.Errorf("slow requests on draining backends failed: %v", slowErrs))
	}
	return errors.Join(errs...)
}

// drainingInLB returns the IDs of the tasks that drain while still in the
// balancer's pool, sorted.
func drainingInLB(ts []mesos.Task) []string {
	var out []string
	for _, t := range ts {
		if t.Draining && t.InLB {
			out = append(out, t.ID)
		}
	}
	slices.Sort(out)
	return out
}

// agentLost stops the agent holding the most tasks: Mesos reports them
// lost; the scheduler takes them out of HAProxy and replaces them.
func agentLost(ctx context.Context, f *farm, r *result) error {
	const n = 3
	if _, err := scaleTo(ctx, f, n); err != nil {
		return err
	}
	byAgent := map[string][]string{}
	for _, t := range f.sched.get().Tasks() {
		byAgent[t.AgentID] = append(byAgent[t.AgentID], t.ID)
	}
	agent := ""
	for a, ts := range byAgent {
		if agent == "" || len(ts) > len(byAgent[agent]) || (len(ts) == len(byAgent[agent]) && a < agent) {
			agent = a
		}
	}
	lost := byAgent[agent]
	r.Allowed = "tasks killed without warning: in-flight requests to them"
	t0 := time.Now()
	if err := f.cluster.StopAgent(ctx, agent); err != nil {
		return err
	}
	outOfLB, err := waitGone(ctx, f, lost, t0)
	if err != nil {
		return err
	}
	if err := f.waitSettled(ctx, n, 60*time.Second); err != nil {
		return err
	}
	replaced := time.Since(t0)
	r.Injected = fmt.Sprintf("agent %s stopped with %d of %d tasks (%v)", agent, len(lost), n, lost)
	return killedChecks(ctx, f, r, t0, outOfLB, replaced)
}

// waitGone waits until none of ids is in HAProxy's pool and returns how
// long after t0 that was.
func waitGone(ctx context.Context, f *farm, ids []string, t0 time.Time) (time.Duration, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := f.waitFor(wctx, fmt.Sprintf("%v out of HAProxy", ids), func() (bool, string) {
		pool, err := f.pool(wctx)
		if err != nil {
			return false, err.Error()
		}
		for _, id := range ids {
			if slices.Contains(pool, id) {
				return false, fmt.Sprint(pool)
			}
		}
		return true, ""
	})
	return time.Since(t0), err
}

// killedChecks asserts the rules for backends that die without warning:
// out of the pool within one poll, failures ending within one poll. It
// first watches the load for two more polls.
func killedChecks(ctx context.Context, f *farm, r *result, t0 time.Time, outOfLB, replaced time.Duration) error {
	poll := f.opt.Interval
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * poll):
	}
	lastFail := f.lastFailure()
	failWindow := "none"
	if lastFail.After(t0) {
		failWindow = lastFail.Sub(t0).Round(time.Millisecond).String()
	}
	r.Measured = fmt.Sprintf("out of HAProxy after %s (one poll = %s), replaced and serving after %s; last failed request %s after the kill",
		outOfLB.Round(time.Millisecond), poll, replaced.Round(time.Millisecond), failWindow)
	var errs []error
	if outOfLB > poll {
		errs = append(errs, fmt.Errorf("dead backends left HAProxy after %s, more than one poll (%s)", outOfLB, poll))
	}
	// The sampler sees a failure within 20 ms of the load counting it.
	if lastFail.After(t0) && lastFail.Sub(t0) > poll+50*time.Millisecond {
		errs = append(errs, fmt.Errorf("requests still failed %s after the kill, more than one poll (%s)", lastFail.Sub(t0), poll))
	}
	if maxFail := int64(f.opt.Rate*poll.Seconds()) + 32; r.Failed > maxFail {
		errs = append(errs, fmt.Errorf("%d requests failed, more than one poll of load plus the in-flight ones (%d)", r.Failed, maxFail))
	}
	return errors.Join(errs...)
}

// schedulerRestart stops the control plane (driver, scheduler,
// controller: one webfarm process) while backends drain, and starts a new
// one on the same state file, as a process restart would.
func schedulerRestart(ctx context.Context, f *farm, r *result) error {
	if _, err := scaleTo(ctx, f, 4); err != nil {
		return err
	}
	ids := f.taskIDs()
	// Slow requests keep every backend busy, so the drains last about
	// 3 s: the restart lands mid-scale-down, and they must all complete.
	slow := slowRequests(ctx, f, 8, 3*time.Second)
	f.policy.set(1)
	s := f.sched.get()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	var draining []string
	err := f.waitFor(wctx, "a backend draining", func() (bool, string) {
		draining = drainingInLB(s.Tasks())
		return len(draining) > 0, fmt.Sprint(s.Tasks())
	})
	cancel()
	if err != nil {
		return err
	}
	f.stopControl()
	stopped := time.Now()
	// Down for one poll, then a new incarnation: new driver, scheduler
	// and controller, on the same state file.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.opt.Interval):
	}
	if err := f.startControl(ctx, 1); err != nil {
		return err
	}
	if err := f.waitSettled(ctx, 1, 60*time.Second); err != nil {
		return err
	}
	slowOK, slowErrs := slow()
	var launched []string
	for id := range f.taskIDs() {
		if !ids[id] {
			launched = append(launched, id)
		}
	}
	pool, _ := f.pool(ctx)
	r.Injected = fmt.Sprintf("4 → 1 tasks; driver, scheduler and controller stopped while %v drained, new ones started %s later on the state file", draining, f.opt.Interval)
	r.Measured = fmt.Sprintf("settled %s after the stop; tasks launched: %d; HAProxy pool %v = Mesos %v; 3 s requests on draining backends: %d of 8 ok",
		time.Since(stopped).Round(time.Millisecond), len(launched), pool, f.live(), slowOK)
	var errs []error
	if len(launched) > 0 {
		errs = append(errs, fmt.Errorf("tasks launched during a scale-down across a restart: %v", launched))
	}
	if len(slowErrs) > 0 {
		errs = append(errs, fmt.Errorf("slow requests on draining backends failed: %v", slowErrs))
	}
	return errors.Join(errs...)
}

// slowRequests starts n requests of length d through HAProxy and returns a
// function that waits for them and reports how many succeeded.
func slowRequests(ctx context.Context, f *farm, n int, d time.Duration) func() (int, []error) {
	type res struct{ err error }
	done := make(chan res, n)
	cl := &http.Client{Timeout: d + 10*time.Second}
	url := fmt.Sprintf("%sslow?ms=%d", f.proc.URL(), d.Milliseconds())
	for range n {
		go func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err == nil {
				var resp *http.Response
				if resp, err = cl.Do(req); err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
			}
			done <- res{err}
		}()
	}
	// Wait until HAProxy has handed them all to backends.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = f.waitFor(wctx, "slow requests in flight", func() (bool, string) {
		st, err := f.driver.Stats(wctx)
		return err == nil && st.Active >= n, fmt.Sprint(st.Active, err)
	})
	cancel()
	return func() (int, []error) {
		ok := 0
		var errs []error
		for range n {
			if r := <-done; r.err != nil {
				errs = append(errs, r.err)
			} else {
				ok++
			}
		}
		return ok, errs
	}
}

// statsOutage hides HAProxy's stats socket (the path disappears; HAProxy
// keeps serving) under the tracking policy.
func statsOutage(ctx context.Context, f *farm, r *result) error {
	if _, err := scaleTo(ctx, f, 2); err != nil {
		return err
	}
	f.policy.set(-1) // target tracking decides from here
	defer func() {
		if st, err := f.sched.Status(ctx); err == nil {
			f.policy.set(st.Desired)
		}
	}()
	warm := time.Now()
	if err := waitReports(ctx, f, warm, 3, func(rp scaler.Report) bool { return rp.Rate != nil }); err != nil {
		return fmt.Errorf("tracking policy warm-up: %w", err)
	}
	st, err := f.sched.Status(ctx)
	if err != nil {
		return err
	}
	sock := f.proc.Socket()
	hidden := sock + ".away"
	if err := os.Rename(sock, hidden); err != nil {
		return err
	}
	t0 := time.Now()
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		return os.Rename(hidden, sock)
	}
	defer restore()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(f.opt.Outage):
	}
	during := f.reportsSince(t0)
	if err := restore(); err != nil {
		return err
	}
	t1 := time.Now()
	if err := waitReports(ctx, f, t1, 2, func(rp scaler.Report) bool { return rp.Rate != nil }); err != nil {
		return fmt.Errorf("readings after the outage: %w", err)
	}
	low, fails := st.Desired, 0
	var errs []error
	for _, rp := range during {
		if rp.Rate == nil {
			fails++
		}
		if rp.Direction() == scaler.Down || rp.Count < 1 {
			errs = append(errs, fmt.Errorf("decision during the outage: %d → %d (%s)", rp.Current, rp.Count, rp.Reason))
		}
		low = min(low, rp.Count)
	}
	after := f.reportsSince(t1)
	maxRate := 0.0
	for _, rp := range after {
		if rp.Rate != nil {
			maxRate = max(maxRate, rp.Rate.PerSecond)
			if rp.Rate.PerSecond < 0 || rp.Rate.PerSecond > 3*f.opt.Rate+50 {
				errs = append(errs, fmt.Errorf("rate after the outage %.1f/s, load is %.0f/s", rp.Rate.PerSecond, f.opt.Rate))
			}
		}
	}
	if fails == 0 {
		errs = append(errs, errors.New("no poll failed during the outage: the socket was not hidden"))
	}
	r.Injected = fmt.Sprintf("stats socket path removed for %s with %d tasks under target tracking", f.opt.Outage, st.Desired)
	r.Measured = fmt.Sprintf("%d of %d polls failed, lowest count %d, no scale-down; rate %.0f/s once back", fails, len(during), low, maxRate)
	return errors.Join(errs...)
}

// waitReports waits for n reports since t that satisfy ok.
func waitReports(ctx context.Context, f *farm, t time.Time, n int, ok func(scaler.Report) bool) error {
	wctx, cancel := context.WithTimeout(ctx, time.Duration(n+10)*f.opt.Interval)
	defer cancel()
	return f.waitFor(wctx, fmt.Sprintf("%d controller reports", n), func() (bool, string) {
		got := 0
		for _, rp := range f.reportsSince(t) {
			if ok(rp) {
				got++
			}
		}
		return got >= n, fmt.Sprintf("%d so far", got)
	})
}

// haproxyRestart restarts HAProxy as an operator would (a new process,
// -sf the old one) under the tracking policy: counters reset, and the new
// process reads the pool from haproxy.cfg, where the driver keeps it
// (Config.ConfigFile). No request may fail, and the new process's pool
// must equal the live tasks as soon as it answers, before any poll.
func haproxyRestart(ctx context.Context, f *farm, r *result) error {
	f.policy.set(-1)
	defer func() {
		if st, err := f.sched.Status(ctx); err == nil {
			f.policy.set(st.Desired)
		}
	}()
	// Let the tracking policy settle on the load first.
	var n int
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := f.waitFor(wctx, "tracking policy steady", func() (bool, string) {
		st, err := f.sched.Status(wctx)
		if err != nil {
			return false, err.Error()
		}
		n = st.Desired
		ok, state := f.settled(wctx, n)
		rs := f.reportsSince(time.Now().Add(-3 * f.opt.Interval))
		for _, rp := range rs {
			ok = ok && rp.Rate != nil && rp.Direction() == scaler.Hold
		}
		return ok && len(rs) >= 3, state
	})
	cancel()
	if err != nil {
		return err
	}
	oldPID := f.proc.PID()
	liveBefore := f.live()
	t0 := time.Now()
	if err := f.proc.Restart(ctx); err != nil {
		return err
	}
	restarted := time.Now()
	// Backends lists the new process's servers without taking a reading,
	// so nothing has been restored yet.
	poolAfter, perr := f.pool(ctx)
	liveAfter := f.live()
	if err := f.waitSettled(ctx, n, 30*time.Second); err != nil {
		return err
	}
	if err := waitReports(ctx, f, restarted, 4, func(rp scaler.Report) bool { return rp.Rate != nil }); err != nil {
		return err
	}
	var errs []error
	maxRate, minRate := 0.0, -1.0
	for _, rp := range f.reportsSince(t0) {
		if rp.Direction() == scaler.Down {
			errs = append(errs, fmt.Errorf("scale-down across the restart: %s", rp.Decision))
		}
		if rp.Rate == nil {
			continue
		}
		p := rp.Rate.PerSecond
		maxRate = max(maxRate, p)
		if minRate < 0 || p < minRate {
			minRate = p
		}
		if p < 0 || p > 3*f.opt.Rate+50 {
			errs = append(errs, fmt.Errorf("rate across the restart %.1f/s, load is %.0f/s", p, f.opt.Rate))
		}
	}
	switch {
	case perr != nil:
		errs = append(errs, fmt.Errorf("listing the new process's pool: %w", perr))
	case !slices.Equal(poolAfter, liveAfter) || !slices.Equal(liveAfter, liveBefore):
		errs = append(errs, fmt.Errorf("new HAProxy's pool %v straight after the restart, live tasks %v (before: %v): want equal", poolAfter, liveAfter, liveBefore))
	}
	r.Injected = fmt.Sprintf("haproxy -sf restart (pid %d → %d) with %d tasks under target tracking", oldPID, f.proc.PID(), n)
	r.Measured = fmt.Sprintf("new process's pool straight after the restart %v, live tasks %v; rates read %.0f–%.0f/s (load %.0f/s), no scale-down",
		poolAfter, liveAfter, minRate, maxRate, f.opt.Rate)
	return errors.Join(errs...)
}

// backendKilled SIGKILLs one task's process from outside.
func backendKilled(ctx context.Context, f *farm, r *result) error {
	const n = 3
	if _, err := scaleTo(ctx, f, n); err != nil {
		return err
	}
	live := f.live()
	victim := live[len(live)/2]
	r.Allowed = "a task killed without warning: its in-flight requests"
	t0 := time.Now()
	if err := f.cluster.KillTaskProcess(ctx, f.sched.get().FrameworkID(), victim, syscall.SIGKILL); err != nil {
		return err
	}
	outOfLB, err := waitGone(ctx, f, []string{victim}, t0)
	if err != nil {
		return err
	}
	if err := f.waitSettled(ctx, n, 60*time.Second); err != nil {
		return err
	}
	replaced := time.Since(t0)
	r.Injected = "SIGKILL to task " + victim + "'s process"
	return killedChecks(ctx, f, r, t0, outOfLB, replaced)
}
