package mesos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// offersEvent launches what the offers fit, up to the count each service
// still needs, and declines the rest with the long DeclineFor filter. One
// offer may carry tasks of several services; see pickLocked for how a
// short cluster is shared.
func (s *Scheduler) offersEvent(ctx context.Context, offers []mesos.Offer, now time.Time) {
	var decline []mesos.OfferID
	type launch struct {
		offer mesos.OfferID
		tasks []mesos.TaskInfo
		ops   []mesos.Offer_Operation // RESERVE/UNRESERVE before the LAUNCH (reserve.go)
	}
	var launches []launch
	s.mu.Lock()
	s.offersSeen += len(offers)
	gen := s.reviveGen
	needed := s.needAllLocked() > 0 || s.reserveExcessLocked()
	s.mu.Unlock()
	if !needed {
		for i := range offers {
			decline = append(decline, offers[i].ID)
		}
		offers = nil
	}
	// Addresses first, without the lock: resolving a hostname may take
	// time.
	ips := make([]netip.Addr, len(offers))
	for i := range offers {
		ip, err := s.offerAddr(ctx, &offers[i])
		if err != nil {
			s.log.Warn("mesos: no address for offer's agent; declining", "host", offers[i].Hostname, "err", err)
		}
		ips[i] = ip
	}
	s.mu.Lock()
	plans := s.plansLocked()
	for i := range offers {
		o := &offers[i]
		cands := s.candidatesLocked(o, plans)
		if !ips[i].IsValid() {
			cands = nil
		}
		p := newPool(o, s.cfg.Role)
		ops := s.reservationOpsLocked(o, p, len(cands) > 0)
		if len(cands) == 0 && len(ops) == 0 {
			decline = append(decline, o.ID)
			continue
		}
		var infos []mesos.TaskInfo
		for {
			c := s.pickLocked(cands)
			if c == nil {
				break
			}
			lc, ver := c.sv.launchCfgLocked() // deploy.go: a canary launches either version
			ti, ok := p.cut(o, lc)
			if !ok {
				c.room = 0 // its task does not fit what is left
				continue
			}
			c.room--
			c.need--
			c.perHost[o.Hostname]++
			c.perAgent[o.AgentID.Value]++
			c.sv.tasks[ti.TaskID.Value] = &task{
				id: ti.TaskID.Value, agentID: o.AgentID.Value, host: o.Hostname,
				addr:  netip.AddrPortFrom(ips[i], uint16(envPort(ti, 0))),
				state: mesos.TASK_STAGING, launched: now, updated: now, hc: ti.HealthCheck != nil, version: ver,
			}
			infos = append(infos, ti)
		}
		if len(infos) == 0 && len(ops) == 0 {
			decline = append(decline, o.ID)
			continue
		}
		launches = append(launches, launch{o.ID, infos, ops})
	}
	more := false
	for _, pl := range plans {
		more = more || pl.need > 0
	}
	if len(launches) > 0 {
		s.lastNeed = min(s.lastNeed, s.needAllLocked())
	}
	s.mu.Unlock()
	if len(launches) > 0 {
		// Write the addresses before launching: a scheduler that dies right
		// after the ACCEPT still finds its tasks on restart.
		s.save()
	}
	for _, l := range launches {
		refuse := s.cfg.DeclineFor
		if more {
			refuse = 0 // the rest of this offer may fit the next task soon
		}
		ops := calls.OfferOperations(l.ops)
		if len(l.tasks) > 0 {
			ops = append(ops, calls.OpLaunch(l.tasks...))
		}
		acc := calls.Accept(ops.WithOffers(l.offer))
		if refuse > 0 {
			acc = acc.With(calls.RefuseSeconds(refuse))
		}
		err := s.call(ctx, acc)
		for _, ti := range l.tasks {
			if err != nil {
				s.log.Warn("mesos: launch failed", "task", ti.TaskID.Value, "err", err)
				continue
			}
			s.log.Info("mesos: launching task", "task", ti.TaskID.Value, "agent", ti.AgentID.Value,
				"port", envPort(ti, 0))
		}
		if err != nil {
			// The master may or may not have the ACCEPT: reconciliation and
			// the launch timeout settle it. Ask now rather than later.
			ids := make(map[string]string, len(l.tasks))
			for _, ti := range l.tasks {
				ids[ti.TaskID.Value] = ti.AgentID.Value
			}
			if err := s.call(ctx, calls.Reconcile(calls.ReconcileTasks(ids))); err != nil {
				s.log.Debug("mesos: reconcile after failed launch", "err", err)
			}
		}
	}
	if len(decline) > 0 {
		if err := s.call(ctx, calls.Decline(decline...).With(calls.RefuseSeconds(s.cfg.DeclineFor))); err != nil {
			s.log.Warn("mesos: decline failed", "offers", len(decline), "err", err)
		}
		// A REVIVE sent while this DECLINE was decided (the count went up,
		// reconciliation ended) may have reached the master first; its
		// filters would then hide these agents for DeclineFor. REVIVE again
		// after the DECLINE if tasks are needed. (Not after every decline:
		// offers that cannot be used would come back at once, forever.)
		s.mu.Lock()
		if s.reviveGen != gen && s.needAllLocked() > 0 {
			s.lastNeed = 0
		}
		s.mu.Unlock()
	}
	s.poke()
}

// plan is one service's shortfall and placement while an OFFERS event is
// cut into tasks: counted once per event, then kept up to date as tasks
// are cut, so that the cost of an event grows with its offers and the
// tasks launched, not with offers × running tasks.
type plan struct {
	sv                *service
	idx               int // the service's place in name order (for round-robin)
	need              int // tasks the service still needs (its shortfall)
	perHost, perAgent map[string]int
}

// plansLocked returns the services' plans in round-robin order (starting
// after the service that was picked last), for those that need tasks.
func (s *Scheduler) plansLocked() []*plan {
	list := s.serviceListLocked()
	var out []*plan
	for i := range list {
		idx := (s.rr + i) % len(list)
		sv := list[idx]
		if need := sv.needLocked(); need > 0 {
			perHost, perAgent := sv.placedLocked()
			out = append(out, &plan{sv: sv, idx: idx, need: need, perHost: perHost, perAgent: perAgent})
		}
	}
	return out
}

// candidate is a service that may take tasks from one offer: room is how
// many it may place on the offer's agent.
type candidate struct {
	*plan
	room int
}

// candidatesLocked lists the plans that may place a task on o's agent,
// in the plans' order.
func (s *Scheduler) candidatesLocked(o *mesos.Offer, plans []*plan) []*candidate {
	var out []*candidate
	for _, pl := range plans {
		room := pl.need
		if pl.sv.cfg.MaxPerHost > 0 {
			room = min(room, pl.sv.cfg.MaxPerHost-pl.perHost[o.Hostname])
		}
		if pl.sv.cfg.MaxPerAgent > 0 {
			room = min(room, pl.sv.cfg.MaxPerAgent-pl.perAgent[o.AgentID.Value])
		}
		if room > 0 {
			out = append(out, &candidate{plan: pl, room: room})
		}
	}
	return out
}

// pickLocked chooses the service that gets the next task cut from an
// offer, or nil when none has room. This is how services share a short
// cluster: the service furthest below its desired count, as a fraction of
// it, goes first (3 of 10 running beats 1 of 2), so every service with a
// shortfall gets tasks in proportion to its desired count and none
// starves; a tie goes to the service first in round-robin order, which
// moves past each service picked. A task taken lowers its service's
// shortfall, so the services take turns within one offer.
func (s *Scheduler) pickLocked(cands []*candidate) *candidate {
	var best *candidate
	var bestHave, bestWant int
	for _, c := range cands {
		if c.room <= 0 || c.need <= 0 {
			continue
		}
		want := c.sv.targetLocked()
		have := want - c.need
		// have/want < bestHave/bestWant, without division.
		if best == nil || have*bestWant < bestHave*want {
			best, bestHave, bestWant = c, have, want
		}
	}
	if best != nil {
		s.rr = best.idx + 1
	}
	return best
}

// needAllLocked is the number of tasks all services need launched now.
func (s *Scheduler) needAllLocked() int {
	n := 0
	for _, sv := range s.services {
		n += max(0, sv.needLocked())
	}
	return n
}

// needLocked is the number of tasks to launch now: none before
// reconciliation ended or while relaunches are held back, and none for
// the victims resumeVictims will put back into service.
func (s *service) needLocked() int {
	if !s.reconciled || s.now().Before(s.holdUntil) {
		return 0
	}
	return s.targetLocked() - s.liveLocked() - s.resumableCountLocked()
}

// liveLocked counts the tasks that are neither ended nor being removed.
func (s *service) liveLocked() int {
	n := 0
	for _, t := range s.tasks {
		if !t.gone && !t.victim {
			n++
		}
	}
	return n
}

// placedLocked counts the service's tasks that still occupy each host and
// agent.
func (s *service) placedLocked() (perHost, perAgent map[string]int) {
	perHost, perAgent = make(map[string]int), make(map[string]int)
	for _, t := range s.tasks {
		if !t.gone {
			perHost[t.host]++
			perAgent[t.agentID]++
		}
	}
	return perHost, perAgent
}

// offerAddr is the IP the balancer reaches the offer's agent at: the
// agent URL's IP, the hostname if it is an IP, else the hostname
// resolved.
func (s *Scheduler) offerAddr(ctx context.Context, o *mesos.Offer) (netip.Addr, error) {
	if u := o.GetURL(); u != nil {
		if ip, err := netip.ParseAddr(u.Address.GetIP()); err == nil {
			return ip.Unmap(), nil
		}
	}
	if ip, err := netip.ParseAddr(o.Hostname); err == nil {
		return ip.Unmap(), nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	ip, err := s.cfg.Resolve(ctx, o.Hostname)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %q: %w", o.Hostname, err)
	}
	return ip.Unmap(), nil
}

// pool is what is left of an offer's usable resources while tasks are
// cut from it.
type pool struct {
	cpus, mem []mesos.Resource // scalar entries, amounts decremented in place
	ports     []mesos.Resource // range entries
	used      map[uint64]bool  // ports taken
}

// usable reports whether the scheduler may use r: its role's or
// unreserved, not revocable, not shared, not a disk source.
func usable(r *mesos.Resource, role string) bool {
	if r.Revocable != nil || r.Shared != nil || r.Disk != nil || r.ProviderID != nil {
		return false
	}
	if rr := r.GetRole(); rr != "*" && rr != role {
		return false
	}
	for _, rv := range r.Reservations {
		if rv.GetRole() != role {
			return false
		}
	}
	return true
}

func newPool(o *mesos.Offer, role string) *pool {
	p := &pool{used: make(map[uint64]bool)}
	for _, r := range o.Resources {
		if !usable(&r, role) {
			continue
		}
		switch {
		case r.Name == "cpus" && r.GetType() == mesos.SCALAR && r.Scalar != nil:
			p.cpus = append(p.cpus, cloneResource(r))
		case r.Name == "mem" && r.GetType() == mesos.SCALAR && r.Scalar != nil:
			p.mem = append(p.mem, cloneResource(r))
		case r.Name == "ports" && r.GetType() == mesos.RANGES && r.Ranges != nil:
			p.ports = append(p.ports, cloneResource(r))
		}
	}
	return p
}

func cloneResource(r mesos.Resource) mesos.Resource {
	c := r
	if r.Scalar != nil {
		c.Scalar = &mesos.Value_Scalar{Value: r.Scalar.Value}
	}
	if r.Ranges != nil {
		c.Ranges = &mesos.Value_Ranges{Range: append([]mesos.Value_Range(nil), r.Ranges.Range...)}
	}
	return c
}

// Mesos keeps scalars at three decimals; compare with that resolution.
const epsilon = 0.0005

func total(rs []mesos.Resource) float64 {
	var t float64
	for _, r := range rs {
		t += r.Scalar.Value
	}
	return t
}

// takeScalar removes amount from rs and returns the resources taken, each
// keeping its entry's role and reservation.
func takeScalar(rs []mesos.Resource, amount float64) []mesos.Resource {
	var out []mesos.Resource
	for i := range rs {
		if amount <= epsilon {
			break
		}
		have := rs[i].Scalar.Value
		if have <= epsilon {
			continue
		}
		n := math.Min(have, amount)
		n = math.Round(n*1000) / 1000
		rs[i].Scalar.Value = have - n
		amount -= n
		r := cloneResource(rs[i])
		r.Scalar.Value = n
		out = append(out, r)
	}
	return out
}

// takePorts picks n free ports, lowest first, and returns them with the
// resources that hold them.
func (p *pool) takePorts(n int) ([]uint64, []mesos.Resource, bool) {
	var ports []uint64
	var out []mesos.Resource
	for i := range p.ports {
		var picked []uint64
		for _, rg := range p.ports[i].Ranges.Range {
			lo, hi := max(rg.Begin, 1), min(rg.End, math.MaxUint16)
			for port := lo; port <= hi && len(ports)+len(picked) < n; port++ {
				if !p.used[port] {
					picked = append(picked, port)
				}
			}
		}
		if len(picked) == 0 {
			continue
		}
		r := cloneResource(p.ports[i])
		r.Ranges = &mesos.Value_Ranges{}
		for _, port := range picked {
			r.Ranges.Range = append(r.Ranges.Range, mesos.Value_Range{Begin: port, End: port})
		}
		out = append(out, r)
		ports = append(ports, picked...)
		if len(ports) == n {
			break
		}
	}
	if len(ports) < n {
		return nil, nil, false
	}
	for _, port := range ports {
		p.used[port] = true
	}
	return ports, out, true
}

// fitOffer cuts up to n tasks of c's template from the offer.
func fitOffer(o *mesos.Offer, c *Config, n int) []mesos.TaskInfo {
	p := newPool(o, c.Role)
	var out []mesos.TaskInfo
	for len(out) < n {
		ti, ok := p.cut(o, c)
		if !ok {
			break
		}
		out = append(out, ti)
	}
	return out
}

// cut takes one task of c's template from what is left of the offer, if
// it fits.
func (p *pool) cut(o *mesos.Offer, c *Config) (mesos.TaskInfo, bool) {
	if total(p.cpus)+epsilon < c.Task.CPUs || total(p.mem)+epsilon < c.Task.Mem {
		return mesos.TaskInfo{}, false
	}
	ports, portRes, ok := p.takePorts(c.Task.Ports)
	if !ok {
		return mesos.TaskInfo{}, false
	}
	res := takeScalar(p.cpus, c.Task.CPUs)
	res = append(res, takeScalar(p.mem, c.Task.Mem)...)
	res = append(res, portRes...)
	return buildTask(c, o, newTaskID(c.Task.Name), ports, res), true
}

// ServiceLabel is the Mesos task label that names a task's service.
const ServiceLabel = "webfarm.service"

// newTaskID returns name.<random hex>: unique, and safe in any shell
// or path although it is never passed through one.
func newTaskID(name string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return name + "." + hex.EncodeToString(b[:])
}

// buildTask fills a TaskInfo from the template: the command as an
// argument vector (no shell), HOST and PORTn in the environment, the
// health check on its port and the kill grace period.
func buildTask(c *Config, o *mesos.Offer, id string, ports []uint64, res []mesos.Resource) mesos.TaskInfo {
	tt := &c.Task
	env := &mesos.Environment{}
	add := func(k, v string) {
		env.Variables = append(env.Variables, mesos.Environment_Variable{Name: k, Value: proto(v)})
	}
	add("HOST", o.Hostname)
	add("PORT", strconv.FormatUint(ports[0], 10))
	for i, p := range ports {
		add("PORT"+strconv.Itoa(i), strconv.FormatUint(p, 10))
	}
	for _, k := range sortedIDs(tt.Env) {
		add(k, tt.Env[k])
	}
	cmd := &mesos.CommandInfo{Shell: proto(false), Environment: env}
	if len(tt.Command) > 0 {
		cmd.Value = proto(tt.Command[0])
		cmd.Arguments = append([]string(nil), tt.Command...)
	}
	ti := mesos.TaskInfo{
		Name:      id,
		TaskID:    mesos.TaskID{Value: id},
		AgentID:   o.AgentID,
		Resources: res,
		Command:   cmd,
		Labels:    &mesos.Labels{Labels: []mesos.Label{{Key: ServiceLabel, Value: proto(tt.Name)}}},
	}
	if tt.Image != "" {
		ti.Container = &mesos.ContainerInfo{
			Type: mesos.ContainerInfo_MESOS.Enum(),
			Mesos: &mesos.ContainerInfo_MesosInfo{Image: &mesos.Image{
				Type:   mesos.Image_DOCKER.Enum(),
				Docker: &mesos.Image_Docker{Name: tt.Image},
			}},
		}
	}
	if tt.KillGracePeriod > 0 {
		ti.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: tt.KillGracePeriod.Nanoseconds()}}
	}
	if hc := tt.HealthCheck; hc != nil {
		secs := func(d, def time.Duration) *float64 {
			if d == 0 {
				d = def
			}
			return proto(d.Seconds())
		}
		failures := uint32(3)
		if hc.ConsecutiveFailures > 0 {
			failures = uint32(min(hc.ConsecutiveFailures, math.MaxUint32))
		}
		ti.HealthCheck = &mesos.HealthCheck{
			Type: mesos.HealthCheck_HTTP,
			HTTP: &mesos.HealthCheck_HTTPCheckInfo{
				Scheme: proto(cmpOr(hc.Scheme, "http")),
				Port:   uint32(ports[hc.PortIndex]),
				Path:   proto(cmpOr(hc.Path, "/")),
			},
			DelaySeconds:        secs(hc.Delay, 0),
			IntervalSeconds:     secs(hc.Interval, 10*time.Second),
			TimeoutSeconds:      secs(hc.Timeout, 20*time.Second),
			GracePeriodSeconds:  secs(hc.GracePeriod, 10*time.Second),
			ConsecutiveFailures: &failures,
		}
	}
	return ti
}

// envPort returns the task's PORTi from its environment, 0 if absent.
func envPort(ti mesos.TaskInfo, i int) uint64 {
	name := "PORT" + strconv.Itoa(i)
	for _, v := range ti.GetCommand().GetEnvironment().GetVariables() {
		if v.Name == name {
			p, _ := strconv.ParseUint(v.GetValue(), 10, 16)
			return p
		}
	}
	return 0
}
