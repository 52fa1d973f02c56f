package local

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// framework is the master's view of one framework.
type framework struct {
	id             string
	info           mesos.FrameworkInfo
	stream         *stream // nil while disconnected
	suppressed     bool
	removed        bool
	filters        map[string]filter // by agent ID
	failoverTimer  *time.Timer
	tasks          map[string]*task
	executors      map[string]*executor // by agentID + "/" + executorID
	partitionAware bool
	taskKilling    bool
	subscribedAt   time.Time
	count          uint64 // allocations made to it (the DRF sorter's tie-breaker)
}

// filter is a refusal from DECLINE (or the unused part of ACCEPT): the
// agent's resources are not offered again before until, unless they grow
// beyond what was refused.
type filter struct {
	until   time.Time
	refused mesos.Resources
	agentID string
}

func (fw *framework) hasCapability(t mesos.FrameworkInfo_Capability_Type) bool {
	for _, c := range fw.info.Capabilities {
		if c.Type == t {
			return true
		}
	}
	return false
}

// send queues an event on the framework's stream, if it is connected.
func (fw *framework) send(ev *scheduler.Event) {
	if fw.stream != nil {
		fw.stream.send(ev)
	}
}

// subscribe handles SUBSCRIBE as Master::Http::scheduler,
// Master::subscribe and Master::_subscribe (src/master/http.cpp,
// src/master/master.cpp) do: it answers with a RecordIO stream of events
// and serves it until the client goes away or the stream is replaced. A
// FrameworkInfo the master refuses gets 200 with a single ERROR event.
func (c *Cluster) subscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call, principal string) {
	media, herr := acceptMedia(r)
	if herr != nil {
		writeError(w, herr)
		return
	}
	if _, ok := r.Header[http.CanonicalHeaderKey("Mesos-Stream-Id")]; ok {
		writeError(w, badRequest("Subscribe calls should not include the 'Mesos-Stream-Id' header"))
		return
	}
	fi := *call.Subscribe.FrameworkInfo
	if principal != "" && fi.Principal == nil {
		fi.Principal = ptr(principal) // as Master::Http::scheduler does
	}
	st := newStream(media)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		writeError(w, &httpError{code: http.StatusServiceUnavailable, msg: "Master is shutting down"})
		return
	}
	var fw *framework
	subErr := validateFrameworkInfo(&fi)
	if subErr == "" {
		subErr = validateSuppressedRoles(&fi, call.Subscribe.SuppressedRoles)
	}
	if old := c.frameworks[fi.GetID().GetValue()]; subErr == "" && old != nil && !old.removed {
		// Master::_subscribe: preserveImmutableFields, then validateUpdate.
		fi.User = old.info.User
		fi.Checkpoint = old.info.Checkpoint
		subErr = validateFrameworkUpdate(&old.info, &fi)
	}
	switch id := fi.GetID().GetValue(); {
	case subErr != "":
	case id != "" && c.removedFw[id]:
		subErr = "Framework has been removed"
	case id != "" && c.frameworks[id] != nil:
		fw = c.frameworks[id]
		if fw.stream != nil {
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
			fw.stream.close()
			fw.stream = nil
		}
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
			fw.failoverTimer = nil
		}
		c.discardOffersOf(fw) // Master::_failoverFramework: discarded, not rescinded
		c.log.Info("framework failed over", "framework", id)
	default:
		if id == "" {
			id = c.nextID("fw")
		}
		fw = &framework{id: id, filters: map[string]filter{}, tasks: map[string]*task{}, executors: map[string]*executor{}}
		c.frameworks[id] = fw
		c.fwOrder = append(c.fwOrder, id)
		c.log.Info("framework subscribed", "framework", id, "name", fi.Name)
	}
	if fw != nil {
		fi.ID = &mesos.FrameworkID{Value: fw.id}
		fw.info = fi
		fw.partitionAware = fw.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
		fw.taskKilling = fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
		fw.stream = st
		fw.suppressed = len(call.Subscribe.SuppressedRoles) > 0
		fw.subscribedAt = time.Now()
		hb := c.cfg.HeartbeatInterval.Seconds()
		st.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
			FrameworkID:              &mesos.FrameworkID{Value: fw.id},
			HeartbeatIntervalSeconds: &hb,
			MasterInfo:               c.masterInfo(),
		}})
		// Framework::heartbeat starts a ResponseHeartbeater without a
		// delay (src/common/heartbeater.hpp): the first HEARTBEAT follows
		// SUBSCRIBED at once, the next ones every interval.
		st.send(&scheduler.Event{Type: scheduler.Event_HEARTBEAT})
		for _, t := range fw.tasks { // updates not yet acknowledged are resent at once
			if len(t.pending) > 0 {
				c.sendPending(t)
			}
		}
		c.kick()
	} else {
		st.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: subErr}})
		st.close()
	}
	c.mu.Unlock()

	w.Header().Set("Content-Type", media)
	w.Header().Set("Mesos-Stream-Id", st.id)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	heartbeat, _ := marshal(media, &scheduler.Event{Type: scheduler.Event_HEARTBEAT})
	err := st.serve(r.Context(), w, c.cfg.HeartbeatInterval, heartbeat)
	if fw == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fw.stream != st { // replaced by a failover or removed
		return
	}
	fw.stream = nil
	c.log.Info("framework disconnected", "framework", fw.id, "reason", err)
	c.rescindOffersOf(fw)
	if !c.closed {
		c.startFailoverTimer(fw)
	}
}

// startFailoverTimer arms the removal of a disconnected framework after its
// failover_timeout; c.mu must be held.
func (c *Cluster) startFailoverTimer(fw *framework) {
	d := time.Duration(fw.info.GetFailoverTimeout() * float64(time.Second))
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	fw.failoverTimer = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || fw.stream != nil || fw.removed {
			return
		}
		c.log.Info("framework failover timeout expired", "framework", fw.id, "failover_timeout", d)
		c.removeFramework(fw)
	})
}

// removeFramework tears a framework down: its offers are removed, its tasks
// killed and its executors shut down; c.mu must be held.
func (c *Cluster) removeFramework(fw *framework) {
	if fw.removed {
		return
	}
	fw.removed = true
	c.removedFw[fw.id] = true
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
	}
	// Master::removeFramework deactivates without rescinding: the stream
	// just closes, with no RESCIND events.
	c.discardOffersOf(fw)
	if fw.stream != nil {
		fw.stream.close()
		fw.stream = nil
	}
	for _, t := range fw.tasks {
		t.pending = nil
		t.stopRetry()
		if !isTerminal(t.state) {
			c.killTask(t, nil, mesos.REASON_FRAMEWORK_REMOVED)
		}
	}
	for _, ex := range fw.executors {
		c.shutdownExecutor(ex)
	}
	c.maybeForgetFramework(fw)
	c.kick()
}

// maybeForgetFramework drops a removed framework once nothing of it runs.
func (c *Cluster) maybeForgetFramework(fw *framework) {
	if !fw.removed {
		return
	}
	for _, t := range fw.tasks {
		if !isTerminal(t.state) {
			return
		}
		c.forgetTask(t)
	}
	if len(fw.executors) > 0 {
		return
	}
	delete(c.frameworks, fw.id)
	for i, id := range c.fwOrder {
		if id == fw.id {
			c.fwOrder = append(c.fwOrder[:i], c.fwOrder[i+1:]...)
			break
		}
	}
}

func (c *Cluster) masterInfo() *mesos.MasterInfo {
	host, port := splitHostPort(c.masters[c.leader].addr)
	p32 := uint32(port)
	return &mesos.MasterInfo{
		ID:       c.masterID,
		IP:       0x0100007f, // 127.0.0.1 in network order, as Mesos stores it
		Port:     &p32,
		Hostname: ptr(host),
		Version:  ptr("1.11.0"),
		Address:  &mesos.Address{Hostname: ptr(host), IP: ptr(host), Port: int32(port)},
	}
}

// updateFramework handles UPDATE_FRAMEWORK as Master::updateFramework
// (src/master/master.cpp) does; nil means 200 OK.
func (c *Cluster) updateFramework(fw *framework, u *scheduler.Call_UpdateFramework) *httpError {
	fi := u.FrameworkInfo
	if msg := validateFrameworkInfo(&fi); msg != "" {
		return badRequest("Supplied FrameworkInfo is not valid: %s", msg)
	}
	if msg := validateFrameworkUpdate(&fw.info, &fi); msg != "" {
		return badRequest("FrameworkInfo update is not valid: %s", msg)
	}
	if msg := validateSuppressedRoles(&fi, u.SuppressedRoles); msg != "" {
		return badRequest("'UpdateFramework' call is not valid: %s", msg)
	}
	fw.info = fi
	fw.partitionAware = fw.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	fw.taskKilling = fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	fw.suppressed = len(u.SuppressedRoles) > 0
	return nil
}

// frameworkRoles returns the roles of a FrameworkInfo as
// protobuf::framework::getRoles does.
func frameworkRoles(fi *mesos.FrameworkInfo) []string {
	for _, c := range fi.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			return fi.Roles
		}
	}
	return []string{fi.GetRole()}
}

// validateFrameworkInfo checks a FrameworkInfo as
// validation::framework::validate (src/master/validation.cpp) does: its
// role(s), ID and failover timeout. It returns the error message or "".
func validateFrameworkInfo(fi *mesos.FrameworkInfo) string {
	multiRole := false
	for _, c := range fi.Capabilities {
		multiRole = multiRole || c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE
	}
	if multiRole && fi.Role != nil {
		return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
	}
	if !multiRole && len(fi.Roles) > 0 {
		return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
	}
	if multiRole {
		seen := map[string]bool{}
		var dups []string
		for _, r := range fi.Roles {
			if seen[r] && !slices.Contains(dups, r) {
				dups = append(dups, r)
			}
			seen[r] = true
		}
		if len(dups) > 0 {
			return "'FrameworkInfo.roles' contains duplicate items: " + stringifySet(dups)
		}
		for _, r := range fi.Roles {
			if msg := validateRole(r); msg != "" {
				return "'FrameworkInfo.roles' contains invalid role: " + msg
			}
		}
	} else if msg := validateRole(fi.GetRole()); msg != "" {
		return "'FrameworkInfo.role' is not a valid role: " + msg
	}
	if id := fi.GetID().GetValue(); id != "" {
		if msg := validateID(id); msg != "" {
			return msg
		}
	}
	// Duration::create (3rdparty/stout/include/stout/duration.hpp) fails
	// outside int64 nanoseconds; NaN is refused here too.
	if ft := fi.GetFailoverTimeout(); math.IsNaN(ft) || ft*1e9 > math.MaxInt64 || ft*1e9 < math.MinInt64 {
		return "The framework failover_timeout (" + strconv.FormatFloat(ft, 'g', 6, 64) + ") is invalid"
	}
	return ""
}

// validateFrameworkUpdate checks a FrameworkInfo replacing old as
// validation::framework::validateUpdate does.
func validateFrameworkUpdate(old, fi *mesos.FrameworkInfo) string {
	if (old.Principal == nil) != (fi.Principal == nil) || old.GetPrincipal() != fi.GetPrincipal() {
		return "Changing framework's principal is not allowed."
	}
	if fi.User != old.User {
		return "Updating 'FrameworkInfo.user' is unsupported; attempted to update from '" + old.User + "' to '" + fi.User + "'"
	}
	if fi.GetCheckpoint() != old.GetCheckpoint() {
		return fmt.Sprintf("Updating 'FrameworkInfo.checkpoint' is unsupported; attempted to update from '%v' to '%v'", old.GetCheckpoint(), fi.GetCheckpoint())
	}
	return ""
}

// validateSuppressedRoles checks suppressed roles as
// validation::framework::validateSuppressedRoles does.
func validateSuppressedRoles(fi *mesos.FrameworkInfo, suppressed []string) string {
	roles := frameworkRoles(fi)
	var bad []string
	for _, r := range suppressed {
		if !slices.Contains(roles, r) && !slices.Contains(bad, r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return "Suppressed roles " + stringifySet(bad) + " are not contained in the set of roles"
	}
	return ""
}

// stringifySet formats a set of strings as stout's stringify(std::set) does.
func stringifySet(items []string) string {
	items = slices.Clone(items)
	slices.Sort(items)
	return "{ " + strings.Join(items, ", ") + " }"
}

// validateRole checks a role name as roles::validate (src/common/roles.cpp)
// does; it returns the error message or "".
func validateRole(role string) string {
	if role == "*" {
		return ""
	}
	switch {
	case strings.HasPrefix(role, "/"):
		return "Role '" + role + "' cannot start with a slash"
	case strings.HasSuffix(role, "/"):
		return "Role '" + role + "' cannot end with a slash"
	case strings.Contains(role, "//"):
		return "Role '" + role + "' cannot contain two adjacent slashes"
	case role == "":
		return "Role names cannot be the empty string"
	}
	for _, comp := range strings.Split(role, "/") {
		switch {
		case comp == ".":
			return "Role '" + role + "' cannot include '.' as a component"
		case comp == "..":
			return "Role '" + role + "' cannot include '..' as a component"
		case comp == "*":
			return "Role '" + role + "' cannot include '*' as a component"
		case strings.HasPrefix(comp, "-"):
			return "Role component '" + comp + "' is invalid because it starts with a dash"
		case strings.ContainsAny(comp, "\t\n\v\f\r \x7f"):
			return "Role component '" + comp + "' is invalid because it contains backspace or whitespace"
		}
	}
	return ""
}

// validateID checks an ID as common::validation::validateID
// (src/common/validation.cpp) does; it returns the error message or "".
func validateID(id string) string {
	const nameMax = 255 // NAME_MAX on Linux
	switch {
	case id == "":
		return "ID must not be empty"
	case len(id) > nameMax:
		return "ID must not be greater than " + strconv.Itoa(nameMax) + " characters"
	case id == "." || id == "..":
		return "'" + id + "' is disallowed"
	}
	for i := range len(id) {
		if b := id[i]; b < 0x20 || b == 0x7f || b == '/' || b == '\\' {
			return "'" + id + "' contains invalid characters"
		}
	}
	return ""
}
