package local

import (
	"fmt"
	"slices"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// The master keeps resources in the post-refinement format: a reservation
// is an entry of Resource.reservations. Frameworks without the
// RESERVATION_REFINEMENT capability see and send the older format
// (Resource.role plus Resource.reservation), converted as
// downgradeResources and upgradeResources (src/common/resources_utils.cpp)
// convert it.

// downgrade converts resources with at most one reservation to the
// pre-refinement format.
func downgrade(rs mesos.Resources) mesos.Resources {
	out := rs.Clone()
	for i := range out {
		r := &out[i]
		if len(r.Reservations) != 1 {
			continue
		}
		ri := r.Reservations[0]
		r.Role = ri.Role
		if ri.GetType() == mesos.Resource_ReservationInfo_DYNAMIC {
			r.Reservation = &mesos.Resource_ReservationInfo{Principal: ri.Principal, Labels: ri.Labels}
		}
		r.Reservations = nil
	}
	return out
}

// upgrade converts resources in the pre-refinement format (role,
// reservation) to the post-refinement one; resources already in that format
// are kept. A resource that mixes both formats is an error, as
// Resources::validate has it.
func upgrade(rs []mesos.Resource) (mesos.Resources, string) {
	out := mesos.Resources(rs).Clone()
	for i := range out {
		r := &out[i]
		pre := (r.Role != nil && *r.Role != "*") || r.Reservation != nil
		if !pre {
			r.Role = nil
			continue
		}
		if len(r.Reservations) > 0 {
			return nil, fmt.Sprintf("Resource %s: 'Resource.role' and 'Resource.reservation' must not be set with 'Resource.reservations'", r.Name)
		}
		if r.Role == nil || *r.Role == "*" {
			return nil, fmt.Sprintf("Resource %s: a reserved resource must have a role other than '*'", r.Name)
		}
		ri := mesos.Resource_ReservationInfo{Role: r.Role, Type: mesos.Resource_ReservationInfo_STATIC.Enum()}
		if r.Reservation != nil {
			ri.Type = mesos.Resource_ReservationInfo_DYNAMIC.Enum()
			ri.Principal = r.Reservation.Principal
			ri.Labels = r.Reservation.Labels
		}
		r.Role, r.Reservation = nil, nil
		r.Reservations = []mesos.Resource_ReservationInfo{ri}
	}
	return out, ""
}

// injectAllocation sets allocation_info to role on resources that have
// none, as protobuf::injectAllocationInfo does for an ACCEPT's operations.
func injectAllocation(rs []mesos.Resource, role string) {
	for i := range rs {
		if rs[i].AllocationInfo == nil {
			rs[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: ptr(role)}
		}
	}
}

// validateReservations checks the reservations of operation resources as
// resource::validate (src/master/validation.cpp) does: each a valid role
// other than "*", a type, and mesos/local supports a single
// (unrefined) reservation.
func validateReservations(rs mesos.Resources) string {
	if err := resources.Validate(rs...); err != nil {
		return "Invalid resources: " + err.Error()
	}
	for _, r := range rs {
		for _, ri := range r.Reservations {
			if ri.Type == nil {
				return "Invalid resources: Invalid reservation: 'Resource.ReservationInfo.type' must be set"
			}
			if msg := validateRole(ri.GetRole()); msg != "" || ri.GetRole() == "*" {
				if msg == "" {
					msg = "role '*' cannot be reserved"
				}
				return fmt.Sprintf("Invalid resources: Invalid reservation role: %s", msg)
			}
		}
		if len(r.Reservations) > 1 {
			return fmt.Sprintf("Resource %s has refined reservations, which mesos/local does not emulate", r.Name)
		}
	}
	return ""
}

// validateReserve checks a RESERVE of a framework as
// validation::operation::validate(Reserve) (src/master/validation.cpp)
// does and returns the error message or ""; rs are the upgraded resources with their allocation_info.
func validateReserve(fw *framework, rs mesos.Resources) string {
	if msg := validateReservations(rs); msg != "" {
		return msg
	}
	roles := fw.roles()
	allocRole := ""
	for i, r := range rs {
		if !r.IsDynamicallyReserved() {
			return fmt.Sprintf("Resource %s is not dynamically reserved", r.Name)
		}
		ri := r.Reservations[len(r.Reservations)-1]
		if p := fw.info.Principal; p != nil {
			if ri.Principal == nil {
				return fmt.Sprintf("A reserve operation was attempted by principal '%s', but there is a reserved resource in the request with no principal set", *p)
			}
			if *ri.Principal != *p {
				return fmt.Sprintf("A reserve operation was attempted by authenticated principal '%s', which does not match a reserved resource in the request with principal '%s'", *p, *ri.Principal)
			}
		}
		if r.AllocationInfo == nil || r.AllocationInfo.Role == nil {
			return fmt.Sprintf("A reserve operation was attempted on unallocated resource %s, but frameworks can only perform reservations on allocated resources", r.Name)
		}
		role := *r.AllocationInfo.Role
		if role != r.ReservationRole() {
			return fmt.Sprintf("A reserve operation was attempted for a resource with role '%s', but the resource was allocated to role '%s'", r.ReservationRole(), role)
		}
		if !slices.Contains(roles, role) {
			return fmt.Sprintf("A reserve operation was attempted for a resource allocated to role '%s', but the framework only has roles '%s'", role, stringifySet(roles))
		}
		if i == 0 {
			allocRole = role
		} else if role != allocRole {
			return "Invalid reservation resources: Expected all resources to be allocated to the same role"
		}
	}
	return ""
}

// validateUnreserve checks an UNRESERVE as
// validation::operation::validate(Unreserve) does.
func validateUnreserve(rs mesos.Resources) string {
	if msg := validateReservations(rs); msg != "" {
		return msg
	}
	for _, r := range rs {
		if !r.IsDynamicallyReserved() {
			return fmt.Sprintf("Resource %s is not dynamically reserved", r.Name)
		}
		if r.IsPersistentVolume() {
			return fmt.Sprintf("A dynamically reserved persistent volume %s cannot be unreserved directly. Please destroy the persistent volume first then unreserve the resource", r.Name)
		}
	}
	return ""
}

// applyReservation runs a RESERVE or UNRESERVE of an ACCEPT on the
// remaining offered resources avail (unallocated), as Master::_accept does:
// the operation is validated, then its conversion (consumed → converted,
// getResourceConversions) must apply to avail. A failing operation is
// dropped (Master::drop: logged, and an UPDATE_OPERATION_STATUS
// OPERATION_ERROR event when the operation has an id); the ACCEPT's other
// operations go on.
func (c *Cluster) applyReservation(fw *framework, a *agent, role string, avail *mesos.Resources, op mesos.Offer_Operation) {
	var in []mesos.Resource
	if op.Type == mesos.Offer_Operation_RESERVE {
		in = op.Reserve.Resources
	} else {
		in = op.Unreserve.Resources
	}
	drop := func(msg string) {
		msg += "; on agent " + a.id + " (" + a.hostname + ")"
		c.log.Warn("dropping "+op.Type.String()+" operation", "framework", fw.id, "reason", msg)
		if op.ID != nil {
			fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE_OPERATION_STATUS, UpdateOperationStatus: &scheduler.Event_UpdateOperationStatus{
				Status: mesos.OperationStatus{State: mesos.OPERATION_ERROR, OperationID: op.ID, Message: ptr(msg)}}})
		}
	}
	rs, msg := upgrade(in)
	if msg != "" {
		drop("Invalid resources: " + msg)
		return
	}
	injectAllocation(rs, role)
	var consumed, converted mesos.Resources
	if op.Type == mesos.Offer_Operation_RESERVE {
		if msg := validateReserve(fw, rs); msg != "" {
			drop(msg)
			return
		}
		converted = rs.Clone().Unallocate()
		consumed = converted.PopReservation()
	} else {
		if msg := validateUnreserve(rs); msg != "" {
			drop(msg)
			return
		}
		consumed = rs.Clone().Unallocate()
		converted = consumed.PopReservation()
	}
	if !containsAll(*avail, consumed) {
		drop(fmt.Sprintf("Invalid %s Operation: %s does not contain %s", op.Type, *avail, consumed))
		return
	}
	avail.Subtract(consumed...)
	avail.Add(converted...)
	c.log.Info("applying "+op.Type.String()+" operation", "framework", fw.id, "agent", a.id, "resources", converted.String())
}
