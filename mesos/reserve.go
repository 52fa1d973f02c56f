package mesos

import (
	"cmp"
	"fmt"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Dynamic reservations for the farm's Min (Config.ReserveMin,
// ServiceConfig.ReserveMin).
//
// The farm keeps the cpus and mem of ReserveMin tasks of each service
// dynamically reserved for its role, so that after its tasks die (an
// agent fails, tasks are killed) the freed resources are offered to its
// role only and it gets back to Min without waiting for other
// frameworks' tasks to end. Shapes follow include/mesos/v1/mesos.proto
// (Offer.Operation.Reserve / Unreserve: "resources" to convert) and
// docs/reservation.md ("Offer::Operation::Reserve": each resource carries
// the reservation for the framework's role, with the framework's
// principal; "Offer::Operation::Unreserve": the reserved resources as
// offered). A framework with the RESERVATION_REFINEMENT capability sends
// the post-refinement format (Resource.reservations, one
// ReservationInfo{type: DYNAMIC, role, principal}); without it, as this
// scheduler subscribes, the pre-refinement one (Resource.role and
// Resource.reservation{principal}), as the master converts between them
// in src/common/resources_utils.cpp (upgradeResources,
// downgradeResources).
//
// The reservation is made in the ACCEPT that launches tasks, before the
// LAUNCH, from the offer's unreserved cpus and mem, one task's worth at a
// time while the farm holds less than the services' ReserveMin × (CPUs,
// Mem) on all agents; tasks are cut from reserved resources first. What
// the farm holds above that (ReserveMin lowered, a service removed, the
// farm stopped) is UNRESERVEd when the master offers it back, that is
// once no task uses it; while the farm holds such excess it keeps offers
// revived, and declines (with DeclineFor) what it cannot use.
//
// The farm's reservations carry the label ReservationLabel; it counts and
// releases only those (an operator's reservations for its role are used,
// never released). It counts them per agent in memory: what it
// reserved and unreserved, and at least what offers show it reserved (so a restarted scheduler learns its free reservations from
// offers; those its running tasks use it learns when they come back in
// offers). An agent that fails (FAILURE event without an executor) takes
// its reservations with it.

// quant is an amount of cpus and mem.
type quant struct{ cpus, mem float64 }

func (q quant) add(o quant) quant { return quant{q.cpus + o.cpus, q.mem + o.mem} }
func (q quant) sub(o quant) quant { return quant{q.cpus - o.cpus, q.mem - o.mem} }
func (q quant) positive() bool    { return q.cpus > epsilon || q.mem > epsilon }

// reservations is the farm's ledger of its dynamic reservations.
type reservations struct {
	perAgent map[string]quant
	off      bool // Stop: release everything
}

// validateReserveMin checks a ReserveMin setting against the role.
func validateReserveMin(field string, n int, role string) error {
	if n < 0 {
		return fieldErr(field, n, "must not be negative")
	}
	if n > 0 && (role == "" || role == "*") {
		return fieldErr(field, n, "needs a Role other than \"*\" (reservations are made for the framework's role)")
	}
	return nil
}

// checkReserveLocked checks sc's ReserveMin against the farm's role.
func (s *Scheduler) checkReserveLocked(sc ServiceConfig) error {
	return validateReserveMin("Service "+sc.Name+" ReserveMin", sc.ReserveMin, s.cfg.Role)
}

func (s *Scheduler) resvLocked() *reservations {
	if s.resv == nil {
		s.resv = &reservations{perAgent: map[string]quant{}}
	}
	return s.resv
}

// reserveTargetLocked is what the farm should hold reserved: each
// service's ReserveMin tasks' worth, nothing once stopping.
func (s *Scheduler) reserveTargetLocked() quant {
	var q quant
	if s.resvLocked().off {
		return q
	}
	for _, sv := range s.services {
		if sv.removing || sv.cfg.ReserveMin <= 0 {
			continue
		}
		n := float64(sv.cfg.ReserveMin)
		q = q.add(quant{n * sv.cfg.Task.CPUs, n * sv.cfg.Task.Mem})
	}
	return q
}

// reservedLocked is what the farm holds reserved on all agents.
func (s *Scheduler) reservedLocked() quant {
	var q quant
	for _, a := range s.resvLocked().perAgent {
		q = q.add(a)
	}
	return q
}

// reserveExcessLocked reports whether the farm holds reservations it no
// longer needs (and so wants offers to release them).
func (s *Scheduler) reserveExcessLocked() bool {
	return s.reservedLocked().sub(s.reserveTargetLocked()).positive()
}

// Reserved returns the cpus and mem (MiB) the farm holds dynamically
// reserved for its role, as far as it knows (see Config.ReserveMin).
func (s *Scheduler) Reserved() (cpus, mem float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.reservedLocked()
	return q.cpus, q.mem
}

// releaseReservations makes the farm give back all its reservations (Stop).
func (s *Scheduler) releaseReservations() {
	s.mu.Lock()
	s.resvLocked().off = true
	s.mu.Unlock()
}

// agentFailed forgets the reservations of an agent that failed.
func (s *Scheduler) agentFailed(agentID string) {
	s.mu.Lock()
	delete(s.resvLocked().perAgent, agentID)
	s.mu.Unlock()
}

// refinement reports whether the framework declared
// RESERVATION_REFINEMENT (then it sends and is offered the
// post-refinement format).
func (s *Scheduler) refinement() bool {
	return slices.ContainsFunc(s.fw.Capabilities, func(c mesos.FrameworkInfo_Capability) bool {
		return c.Type == mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT
	})
}

// ReservationLabel labels the reservations the farm makes
// (ReservationInfo.labels), so that it counts and releases only its own,
// never those an operator made for its role.
const ReservationLabel = "webfarm.reservation"

// ours reports whether r is reserved by the farm (carries ReservationLabel).
func ours(r *mesos.Resource) bool {
	ri := r.Reservation
	if n := len(r.Reservations); n > 0 {
		ri = &r.Reservations[n-1]
	}
	for _, l := range ri.GetLabels().GetLabels() {
		if l.Key == ReservationLabel {
			return true
		}
	}
	return false
}

// isReserved reports whether r is reserved (for any role).
func isReserved(r *mesos.Resource) bool {
	return (r.Role != nil && *r.Role != "*") || len(r.Reservations) > 0
}

// reservedAs returns r reserved for the framework's role with its
// principal, in the format the framework uses.
func (s *Scheduler) reservedAs(r mesos.Resource) mesos.Resource {
	c := cloneResource(r)
	role := s.cfg.Role
	var principal *string
	if s.cfg.Principal != "" {
		principal = proto(s.cfg.Principal)
	}
	labels := &mesos.Labels{Labels: []mesos.Label{{Key: ReservationLabel, Value: proto("min")}}}
	if s.refinement() {
		c.Role, c.Reservation = nil, nil
		c.Reservations = []mesos.Resource_ReservationInfo{{
			Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto(role), Principal: principal, Labels: labels,
		}}
	} else {
		c.Role = proto(role)
		c.Reservation = &mesos.Resource_ReservationInfo{Principal: principal, Labels: labels}
		c.Reservations = nil
	}
	return c
}

// unreservedAs returns r without its reservation.
func unreservedAs(r mesos.Resource) mesos.Resource {
	c := cloneResource(r)
	c.Role, c.Reservation, c.Reservations = nil, nil, nil
	return c
}

// reservationOpsLocked adjusts the farm's reservations with offer o, whose
// usable resources are in p: it UNRESERVEs reserved resources the farm no
// longer needs, and, when launching (tasks may be cut from o), RESERVEs
// unreserved cpus and mem while the farm holds less than its target. p is
// updated to what the operations leave, reserved resources first, so
// tasks cut from it use reservations first. The operations go before
// the LAUNCH in the same ACCEPT.
func (s *Scheduler) reservationOpsLocked(o *mesos.Offer, p *pool, launching bool) []mesos.Offer_Operation {
	rv := s.resvLocked()
	agent := o.AgentID.Value
	// What the offer shows reserved for the role is reserved.
	var offered quant
	for _, r := range p.cpus {
		if ours(&r) {
			offered.cpus += r.Scalar.Value
		}
	}
	for _, r := range p.mem {
		if ours(&r) {
			offered.mem += r.Scalar.Value
		}
	}
	have := rv.perAgent[agent]
	have = quant{max(have.cpus, offered.cpus), max(have.mem, offered.mem)}
	if have.positive() {
		rv.perAgent[agent] = have
	}
	target := s.reserveTargetLocked()
	var ops []mesos.Offer_Operation
	if excess := s.reservedLocked().sub(target); excess.positive() && offered.positive() {
		give := quant{min(max(excess.cpus, 0), offered.cpus), min(max(excess.mem, 0), offered.mem)}
		var res []mesos.Resource
		for _, x := range []struct {
			rs     *[]mesos.Resource
			amount float64
		}{{&p.cpus, give.cpus}, {&p.mem, give.mem}} {
			taken := takeOurs(*x.rs, x.amount)
			res = append(res, taken...)
			for _, r := range taken {
				u := unreservedAs(r)
				if r.Name == "cpus" {
					p.cpus = append(p.cpus, u)
				} else {
					p.mem = append(p.mem, u)
				}
			}
		}
		if len(res) > 0 {
			ops = append(ops, mesos.Offer_Operation{Type: mesos.Offer_Operation_UNRESERVE,
				Unreserve: &mesos.Offer_Operation_Unreserve{Resources: res}})
			have = have.sub(give)
			s.log.Info("mesos: unreserving", "agent", agent, "cpus", give.cpus, "mem", give.mem)
		}
	}
	if short := target.sub(s.reservedLocked().sub(rv.perAgent[agent]).add(have)); launching && short.positive() {
		var res []mesos.Resource
		var got quant
		for _, sv := range s.serviceListLocked() {
			if sv.removing || sv.cfg.ReserveMin <= 0 {
				continue
			}
			chunk := quant{sv.cfg.Task.CPUs, sv.cfg.Task.Mem}
			for short.positive() && unreservedTotal(p.cpus)+epsilon >= chunk.cpus && unreservedTotal(p.mem)+epsilon >= chunk.mem {
				for _, x := range []struct {
					rs     *[]mesos.Resource
					amount float64
				}{{&p.cpus, chunk.cpus}, {&p.mem, chunk.mem}} {
					for _, r := range takeFrom(*x.rs, x.amount) {
						rr := s.reservedAs(r)
						res = append(res, cloneResource(rr)) // the pool's copy is cut into tasks
						*x.rs = append(*x.rs, rr)
					}
				}
				short, got = short.sub(chunk), got.add(chunk)
			}
		}
		if len(res) > 0 {
			ops = append(ops, mesos.Offer_Operation{Type: mesos.Offer_Operation_RESERVE,
				Reserve: &mesos.Offer_Operation_Reserve{Resources: res}})
			have = have.add(got)
			s.log.Info("mesos: reserving", "agent", agent, "role", s.cfg.Role, "cpus", got.cpus, "mem", got.mem)
		}
	}
	if have.positive() {
		rv.perAgent[agent] = have
	} else {
		delete(rv.perAgent, agent)
	}
	// Reserved first: tasks are cut from reservations before the rest.
	first := func(a, b mesos.Resource) int {
		return cmp.Compare(boolInt(!isReserved(&a)), boolInt(!isReserved(&b)))
	}
	slices.SortStableFunc(p.cpus, first)
	slices.SortStableFunc(p.mem, first)
	return ops
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// unreservedTotal sums the unreserved entries of rs.
func unreservedTotal(rs []mesos.Resource) float64 {
	var t float64
	for _, r := range rs {
		if !isReserved(&r) {
			t += r.Scalar.Value
		}
	}
	return t
}

// takeOurs removes amount from the entries of rs the farm reserved.
func takeOurs(rs []mesos.Resource, amount float64) []mesos.Resource {
	return takeWhere(rs, amount, ours)
}

// takeFrom removes amount from the unreserved entries of rs.
func takeFrom(rs []mesos.Resource, amount float64) []mesos.Resource {
	return takeWhere(rs, amount, func(r *mesos.Resource) bool { return !isReserved(r) })
}

// takeWhere removes amount from the entries of rs that match, as
// takeScalar does, and returns the resources taken.
func takeWhere(rs []mesos.Resource, amount float64, match func(*mesos.Resource) bool) []mesos.Resource {
	var idx []int
	var sub []mesos.Resource
	for i := range rs {
		if match(&rs[i]) {
			idx = append(idx, i)
			sub = append(sub, rs[i])
		}
	}
	out := takeScalar(sub, amount)
	for j, i := range idx {
		rs[i].Scalar.Value = sub[j].Scalar.Value
	}
	return out
}

// reserveSummary describes the farm's reservations for logs and tests.
func (s *Scheduler) reserveSummary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, t := s.reservedLocked(), s.reserveTargetLocked()
	return fmt.Sprintf("reserved %.3g cpus %.4g MiB of %.3g cpus %.4g MiB", q.cpus, q.mem, t.cpus, t.mem)
}

// reserveExcess is reserveExcessLocked with the lock.
func (s *Scheduler) reserveExcess() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserveExcessLocked()
}
