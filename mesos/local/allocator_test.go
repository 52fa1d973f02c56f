package local

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// roleFramework is a FrameworkInfo in role (legacy single role).
func roleFramework(name, role string) mesos.FrameworkInfo {
	fi := frameworkInfo(name)
	fi.Role = ptr(role)
	fi.Principal = ptr("p-" + name)
	return fi
}

// collectOffers reads OFFERS events until it has n offers.
func (s *sched) collectOffers(n int) []mesos.Offer {
	s.t.Helper()
	var out []mesos.Offer
	for len(out) < n {
		out = append(out, s.next(scheduler.Event_OFFERS).Offers.Offers...)
	}
	if len(out) != n {
		s.t.Fatalf("got %d offers, want %d", len(out), n)
	}
	return out
}

// noOffers checks that no OFFERS event arrives within d.
func (s *sched) noOffers(d time.Duration) {
	s.t.Helper()
	for i, ev := range s.backlog {
		if ev.Type == scheduler.Event_OFFERS {
			s.t.Fatalf("unexpected offers: %v", s.backlog[i].Offers.Offers)
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-s.events:
			if ev.Type == scheduler.Event_OFFERS {
				s.t.Fatalf("unexpected offers: %v", ev.Offers.Offers)
			}
		case <-timer.C:
			return
		}
	}
}

func declineAll(s *sched, offers []mesos.Offer, refuse float64) {
	s.t.Helper()
	ids := make([]mesos.OfferID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	s.mustCall(&scheduler.Call{Type: scheduler.Call_DECLINE, Decline: &scheduler.Call_Decline{OfferIDs: ids, Filters: &mesos.Filters{RefuseSeconds: &refuse}}})
}

func sumCPUs(offers []mesos.Offer) float64 {
	total := 0.0
	for _, o := range offers {
		c, _, _ := offerCPUs(o)
		total += c
	}
	return total
}

// TestDRFWeightedRoles follows DRFSorter::calculateShare and
// Node::compareDRF (src/master/allocator/mesos/sorter/drf/sorter.cpp,
// sorter.hpp) and the agent loop of HierarchicalAllocatorProcess::__allocate
// (src/master/allocator/mesos/hierarchical.cpp): each agent goes to the role
// with the lowest dominant share divided by its weight (ties: fewer
// allocations, then name). Four 1-cpu agents, both roles wanting all: with
// equal weights each role gets two agents; with role a at weight 3, a gets
// three and b one.
func TestDRFWeightedRoles(t *testing.T) {
	for _, tc := range []struct {
		name         string
		weights      map[string]float64
		wantA, wantB int
	}{
		{"equal weights", nil, 2, 2},
		{"a weighs 3", map[string]float64{"a": 3}, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 4, CPUs: 1, Mem: 1024, AllocationInterval: time.Hour, Weights: tc.weights})
			a := newSched(t, c, mediaProtobuf)
			a.subscribe(roleFramework("a", "a"))
			first := a.collectOffers(4) // alone: a gets every agent
			b := newSched(t, c, mediaJSON)
			b.subscribe(roleFramework("b", "b"))
			declineAll(a, first, 0) // everything is free again, both roles want it
			offersA := a.collectOffers(tc.wantA)
			offersB := b.collectOffers(tc.wantB)
			if got := sumCPUs(offersA); got != float64(tc.wantA) {
				t.Errorf("role a offered %v cpus, want %d", got, tc.wantA)
			}
			if got := sumCPUs(offersB); got != float64(tc.wantB) {
				t.Errorf("role b offered %v cpus, want %d", got, tc.wantB)
			}
			a.noOffers(100 * time.Millisecond)
		})
	}
}

// TestDRFFrameworksWithinRole follows the framework sorter of a role
// (HierarchicalAllocatorProcess::__allocate sorts frameworks of each role
// with getFrameworkSorter(role)->sort()): two frameworks of one role share
// its agents evenly.
func TestDRFFrameworksWithinRole(t *testing.T) {
	c := startCluster(t, Config{Agents: 4, CPUs: 1, Mem: 1024, AllocationInterval: time.Hour})
	a := newSched(t, c, mediaProtobuf)
	a.subscribe(roleFramework("a", "shared"))
	first := a.collectOffers(4)
	b := newSched(t, c, mediaProtobuf)
	b.subscribe(roleFramework("b", "shared"))
	declineAll(a, first, 0)
	a.collectOffers(2)
	b.collectOffers(2)
}

// TestQuotaHeadroom follows the two stages of
// HierarchicalAllocatorProcess::__allocate: in stage 2 unreserved resources
// are shrunk to "availableHeadroom - requiredHeadroom" (required headroom
// = sum of guarantee - consumed quota over quota roles), so a batch role
// cannot take what a quota role's guarantee needs even while that role has
// no framework; in stage 1 the quota role gets its guarantee first.
func TestQuotaHeadroom(t *testing.T) {
	c := startCluster(t, Config{Agents: 4, CPUs: 1, Mem: 1024, AllocationInterval: 50 * time.Millisecond,
		Quota: map[string]Quota{"web": {CPUs: 2}}})
	batch := newSched(t, c, mediaProtobuf)
	batch.subscribe(roleFramework("batch", "batch"))
	offers := batch.collectOffers(4) // 2 cpus held back: two agents offer mem and ports only
	if got := sumCPUs(offers); got != 2 {
		t.Fatalf("batch offered %v cpus of 4, want 2 (2 held back for web's guarantee)", got)
	}
	web := newSched(t, c, mediaJSON)
	web.subscribe(roleFramework("web", "web"))
	var webOffers []mesos.Offer
	for sumCPUs(webOffers) < 2 {
		webOffers = append(webOffers, web.next(scheduler.Event_OFFERS).Offers.Offers...)
	}
	if got := sumCPUs(webOffers); got != 2 {
		t.Errorf("web offered %v cpus, want its guarantee 2", got)
	}
	for _, o := range webOffers {
		for _, r := range o.Resources {
			if r.GetRole() != "*" && r.Role != nil {
				t.Errorf("web's offer carries a reserved resource %v", r)
			}
		}
	}
}

// reserveOp reserves cpus and mem for role in the pre-refinement format a
// framework without RESERVATION_REFINEMENT sends.
func reserveOp(role, principal string, cpus, mem float64) mesos.Offer_Operation {
	res := mesos.Resources{scalar("cpus", cpus), scalar("mem", mem)}
	for i := range res {
		res[i].Role = ptr(role)
		res[i].Reservation = &mesos.Resource_ReservationInfo{Principal: ptr(principal)}
	}
	return mesos.Offer_Operation{Type: mesos.Offer_Operation_RESERVE, Reserve: &mesos.Offer_Operation_Reserve{Resources: res}}
}

func reservedCPUs(o mesos.Offer, role string) (cpus float64) {
	for _, r := range o.Resources {
		if r.Name == "cpus" && r.GetRole() == role && r.Reservation != nil {
			cpus += r.GetScalar().GetValue()
		}
	}
	return cpus
}

// TestReserveUnreserve follows Master::_accept (src/master/master.cpp):
// a RESERVE converts offered unreserved resources into resources reserved
// for the framework's role, later operations of the same ACCEPT (a LAUNCH)
// may use them, the rest goes back to the agent still reserved; the
// allocator offers reserved resources only to their role
// (Resources::allocatableTo in __allocate), in the pre-refinement format to
// frameworks without RESERVATION_REFINEMENT (downgradeResources); UNRESERVE
// gives them back to every role.
func TestReserveUnreserve(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, CPUs: 2, Mem: 1024, AllocationInterval: 50 * time.Millisecond})
	web := newSched(t, c, mediaProtobuf)
	web.subscribe(roleFramework("web", "web"))
	o := web.collectOffers(1)[0]
	task := cmdTask(o, "on-reserved", "sleep 30", nil)
	task.Resources = mesos.Resources{scalar("cpus", 0.5), scalar("mem", 64)}
	for i := range task.Resources {
		task.Resources[i].Role = ptr("web")
		task.Resources[i].Reservation = &mesos.Resource_ReservationInfo{Principal: ptr("p-web")}
	}
	refuse := 0.0
	web.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
		OfferIDs: []mesos.OfferID{o.ID},
		Operations: []mesos.Offer_Operation{
			reserveOp("web", "p-web", 1, 128),
			{Type: mesos.Offer_Operation_LAUNCH, Launch: &mesos.Offer_Operation_Launch{TaskInfos: []mesos.TaskInfo{task}}},
		},
		Filters: &mesos.Filters{RefuseSeconds: &refuse},
	}})
	web.update("on-reserved", mesos.TASK_RUNNING)
	o = web.collectOffers(1)[0]
	if got := reservedCPUs(o, "web"); got != 0.5 {
		t.Fatalf("web's next offer has %v reserved cpus, want the 0.5 its task does not use: %v", got, o.Resources)
	}
	for _, r := range o.Resources {
		if len(r.Reservations) > 0 {
			t.Errorf("offer to a framework without RESERVATION_REFINEMENT uses the reservations field: %v", r)
		}
	}
	// web declines for long; batch must not see web's reservation.
	web.decline(o, 3600)
	batch := newSched(t, c, mediaJSON)
	batch.subscribe(roleFramework("batch", "batch"))
	bo := batch.collectOffers(1)[0]
	if got := sumCPUs([]mesos.Offer{bo}); math.Abs(got-1) > 1e-9 {
		t.Errorf("batch offered %v cpus, want 1 (2 - 1 reserved for web): %v", got, bo.Resources)
	}
	if got := reservedCPUs(bo, "web"); got != 0 {
		t.Errorf("batch was offered web's reservation: %v", bo.Resources)
	}
	batch.decline(bo, 3600)

	// web unreserves what it does not use; batch is offered it.
	web.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE})
	o = web.collectOffers(1)[0]
	unres := mesos.Offer_Operation{Type: mesos.Offer_Operation_UNRESERVE, Unreserve: &mesos.Offer_Operation_Unreserve{}}
	for _, r := range o.Resources {
		if r.GetRole() == "web" && r.GetType() == mesos.SCALAR {
			unres.Unreserve.Resources = append(unres.Unreserve.Resources, r)
		}
	}
	long := 3600.0
	web.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
		OfferIDs: []mesos.OfferID{o.ID}, Operations: []mesos.Offer_Operation{unres}, Filters: &mesos.Filters{RefuseSeconds: &long}}})
	batch.mustCall(&scheduler.Call{Type: scheduler.Call_REVIVE})
	bo = batch.collectOffers(1)[0]
	if got := sumCPUs([]mesos.Offer{bo}); math.Abs(got-1.5) > 1e-9 {
		t.Errorf("after UNRESERVE batch offered %v cpus, want 1.5 (only the task's 0.5 stays reserved): %v", got, bo.Resources)
	}
}

// TestReserveValidation follows validation::operation::validate(Reserve,
// Unreserve) (src/master/validation.cpp) and Master::drop
// (src/master/master.cpp): an invalid operation is dropped, with an
// UPDATE_OPERATION_STATUS OPERATION_ERROR when it has an id, and the ACCEPT
// goes on.
func TestReserveValidation(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, CPUs: 2, Mem: 1024, AllocationInterval: 50 * time.Millisecond})
	web := newSched(t, c, mediaProtobuf)
	web.subscribe(roleFramework("web", "web"))
	static := reserveOp("web", "p-web", 1, 64)
	for i := range static.Reserve.Resources {
		static.Reserve.Resources[i].Reservation = nil
	}
	unreserveUnreserved := mesos.Offer_Operation{Type: mesos.Offer_Operation_UNRESERVE, Unreserve: &mesos.Offer_Operation_Unreserve{
		Resources: mesos.Resources{scalar("cpus", 1)}}}
	o := web.collectOffers(1)[0]
	for _, tc := range []struct {
		name string
		op   mesos.Offer_Operation
		want string
	}{
		{"static reservation", static, "is not dynamically reserved"},
		{"another role", reserveOp("other", "p-web", 1, 64), "A reserve operation was attempted for a resource with role 'other', but the resource was allocated to role 'web'"},
		{"another principal", reserveOp("web", "someone", 1, 64), "A reserve operation was attempted by authenticated principal 'p-web', which does not match a reserved resource in the request with principal 'someone'"},
		{"more than offered", reserveOp("web", "p-web", 3, 64), "does not contain"},
		{"unreserve of unreserved", unreserveUnreserved, "is not dynamically reserved"},
		{"unreserve of what is not reserved", func() mesos.Offer_Operation {
			op := reserveOp("web", "p-web", 1, 64)
			return mesos.Offer_Operation{Type: mesos.Offer_Operation_UNRESERVE, Unreserve: &mesos.Offer_Operation_Unreserve{Resources: op.Reserve.Resources}}
		}(), "does not contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer web.use(t)()
			tc.op.ID = &mesos.OperationID{Value: "op-" + strings.ReplaceAll(tc.name, " ", "-")}
			refuse := 0.0
			web.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
				OfferIDs: []mesos.OfferID{o.ID}, Operations: []mesos.Offer_Operation{tc.op}, Filters: &mesos.Filters{RefuseSeconds: &refuse}}})
			ev := web.next(scheduler.Event_UPDATE_OPERATION_STATUS)
			st := ev.UpdateOperationStatus.Status
			if st.State != mesos.OPERATION_ERROR || st.OperationID.Value != tc.op.ID.Value || !strings.Contains(st.GetMessage(), tc.want) {
				t.Errorf("got %v %v %q, want OPERATION_ERROR %s containing %q", st.State, st.OperationID, st.GetMessage(), tc.op.ID.Value, tc.want)
			}
			// Nothing was applied: the whole agent, unreserved, is offered again.
			o = web.collectOffers(1)[0]
			if got := sumCPUs([]mesos.Offer{o}); got != 2 || reservedCPUs(o, "web") != 0 {
				t.Errorf("after a dropped operation the offer is %v, want 2 unreserved cpus", o.Resources)
			}
		})
	}
}

// TestConfigWeightsQuota: bad weights and quotas are refused by Start.
func TestConfigWeightsQuota(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"zero weight", Config{Weights: map[string]float64{"a": 0}}, `invalid Weights["a"] 0`},
		{"NaN weight", Config{Weights: map[string]float64{"a": math.NaN()}}, `invalid Weights["a"] NaN`},
		{"bad weight role", Config{Weights: map[string]float64{"a b": 1}}, `invalid Weights role "a b"`},
		{"quota on *", Config{Quota: map[string]Quota{"*": {CPUs: 1}}}, `invalid Quota role "*"`},
		{"negative quota", Config{Quota: map[string]Quota{"web": {Mem: -1}}}, `invalid Quota["web"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(t.Context(), tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start: %v, want ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

// TestShares: Shares reports what each framework holds per role (offers
// and tasks) as a fraction of the cluster, as the allocator counts it.
func TestShares(t *testing.T) {
	c := startCluster(t, Config{Agents: 2, CPUs: 1, Mem: 1000, AllocationInterval: time.Hour})
	a := newSched(t, c, mediaProtobuf)
	a.subscribe(roleFramework("a", "a"))
	offers := a.collectOffers(2)
	got := c.Shares()
	if len(got) != 1 || got[0].Role != "a" || got[0].Name != "a" || got[0].CPUs != 2 || got[0].Mem != 2000 || got[0].Share != 1 {
		t.Fatalf("Shares() with a holding every offer = %+v, want a holding 2 cpus, 2000 MiB, share 1", got)
	}
	task := cmdTask(offers[0], "t1", "sleep 30", nil)
	task.Resources = mesos.Resources{scalar("cpus", 0.5), scalar("mem", 100)}
	a.mustCall(launchCall(offers[0], 3600, task))
	declineAll(a, offers[1:], 3600)
	a.update("t1", mesos.TASK_RUNNING)
	got = c.Shares()
	if len(got) != 1 || got[0].CPUs != 0.5 || got[0].Mem != 100 || got[0].Share != 0.25 {
		t.Fatalf("Shares() with one task of 0.5 cpus = %+v, want 0.5 cpus, 100 MiB, share 0.25", got)
	}
}

// TestReserveRefinementFormat: a framework with the RESERVATION_REFINEMENT
// and MULTI_ROLE capabilities reserves with Resource.reservations and
// allocation_info and is offered its reservation in that format
// (Master::offer downgrades resources only for frameworks without the
// capability: downgradeResources in src/common/resources_utils.cpp).
func TestReserveRefinementFormat(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, CPUs: 2, Mem: 1024, AllocationInterval: 50 * time.Millisecond})
	fi := frameworkInfo("web")
	fi.Roles = []string{"web"}
	fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}, {Type: mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT}}
	web := newSched(t, c, mediaJSON)
	web.subscribe(fi)
	o := web.collectOffers(1)[0]
	res := mesos.Resources{scalar("cpus", 1), scalar("mem", 128)}
	for i := range res {
		res[i].Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("web")}}
		res[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr("web")}
	}
	refuse := 0.0
	web.mustCall(&scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
		OfferIDs:   []mesos.OfferID{o.ID},
		Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_RESERVE, Reserve: &mesos.Offer_Operation_Reserve{Resources: res}}},
		Filters:    &mesos.Filters{RefuseSeconds: &refuse},
	}})
	o = web.collectOffers(1)[0]
	var reserved float64
	for _, r := range o.Resources {
		if r.GetAllocationInfo().GetRole() != "web" {
			t.Errorf("offered resource without allocation_info for web: %v", r)
		}
		if r.Name == "cpus" && len(r.Reservations) == 1 && r.Reservations[0].GetRole() == "web" {
			reserved += r.GetScalar().GetValue()
			if r.Role != nil || r.Reservation != nil {
				t.Errorf("refinement-format resource also carries role/reservation: %v", r)
			}
		}
	}
	if reserved != 1 {
		t.Errorf("offer has %v cpus reserved for web in Resource.reservations, want 1: %v", reserved, o.Resources)
	}
}
