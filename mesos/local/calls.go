package local

import (
	"math"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// validateCall checks a decoded call as validation::scheduler::call::validate
// (src/master/validation.cpp) does; hasType says whether the call carried a
// known type. Its errors are the master's 400 "Failed to validate
// scheduler::Call: ..." answers.
func validateCall(call *scheduler.Call, hasType bool, principal string) *httpError {
	invalid := func(format string, args ...any) *httpError {
		return badRequest("Failed to validate scheduler::Call: "+format, args...)
	}
	need := func(present bool, field string) *httpError {
		if !present {
			return invalid("Expecting '%s' to be present", field)
		}
		return nil
	}
	if !hasType {
		return invalid("Expecting 'type' to be present")
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			return invalid("Expecting 'subscribe' to be present")
		}
		fi := call.Subscribe.FrameworkInfo
		if fi == nil { // decoded calls always have it (a required field)
			return invalid("Not initialized: subscribe.framework_info")
		}
		// FrameworkID equality compares values; an unset ID is "".
		if fi.GetID().GetValue() != call.GetFrameworkID().GetValue() {
			return invalid("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		if principal != "" && fi.Principal != nil && *fi.Principal != principal {
			return invalid("Authenticated principal '%s' does not match principal '%s' set in `FrameworkInfo`", principal, *fi.Principal)
		}
		return nil
	}
	if call.FrameworkID == nil {
		return invalid("Expecting 'framework_id' to be present")
	}
	switch call.Type {
	case scheduler.Call_ACCEPT:
		return need(call.Accept != nil, "accept")
	case scheduler.Call_DECLINE:
		return need(call.Decline != nil, "decline")
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		return need(call.AcceptInverseOffers != nil, "accept_inverse_offers")
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		return need(call.DeclineInverseOffers != nil, "decline_inverse_offers")
	case scheduler.Call_KILL:
		return need(call.Kill != nil, "kill")
	case scheduler.Call_SHUTDOWN:
		return need(call.Shutdown != nil, "shutdown")
	case scheduler.Call_ACKNOWLEDGE:
		if err := need(call.Acknowledge != nil, "acknowledge"); err != nil {
			return err
		}
		if !validUUID(call.Acknowledge.UUID) {
			return invalid("Not a valid UUID")
		}
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		ack := call.AcknowledgeOperationStatus
		if err := need(ack != nil, "acknowledge_operation_status"); err != nil {
			return err
		}
		if !validUUID(ack.UUID) {
			return invalid("Not a valid UUID")
		}
		if ack.AgentID == nil {
			return invalid("Expecting 'agent_id' to be present")
		}
	case scheduler.Call_RECONCILE:
		return need(call.Reconcile != nil, "reconcile")
	case scheduler.Call_RECONCILE_OPERATIONS:
		return need(call.ReconcileOperations != nil, "reconcile_operations")
	case scheduler.Call_MESSAGE:
		return need(call.Message != nil, "message")
	case scheduler.Call_REQUEST:
		return need(call.Request != nil, "request")
	case scheduler.Call_UPDATE_FRAMEWORK:
		if err := need(call.UpdateFramework != nil, "update_framework"); err != nil {
			return err
		}
		if call.UpdateFramework.FrameworkInfo.GetID().GetValue() != call.FrameworkID.Value {
			return invalid("'framework_id' differs from 'update_framework.framework_info.id'")
		}
	}
	return nil
}

// validUUID reports whether b is a UUID as stout's UUID::fromBytes
// (3rdparty/stout/include/stout/uuid.hpp) accepts it: 16 bytes of a known
// version (1 to 5, the versions of the boost the master bundles).
func validUUID(b []byte) bool {
	if len(b) != 16 {
		return false
	}
	v := b[6] >> 4
	return v >= 1 && v <= 5
}

// handleCall runs every call but SUBSCRIBE, with the checks of
// Master::Http::scheduler (src/master/http.cpp) in its order. It returns
// the success status (202, or 200 for UPDATE_FRAMEWORK) or the error.
func (c *Cluster) handleCall(hdr http.Header, call *scheduler.Call) (int, *httpError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, &httpError{code: http.StatusServiceUnavailable, msg: "Master is shutting down"}
	}
	fw := c.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.removed {
		return 0, badRequest("Framework cannot be found")
	}
	if fw.stream == nil {
		return 0, &httpError{code: http.StatusForbidden, msg: "Framework is not subscribed"}
	}
	ids, present := hdr[http.CanonicalHeaderKey("Mesos-Stream-Id")]
	if !present {
		return 0, badRequest("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID := ids[0]; streamID != fw.stream.id {
		return 0, badRequest("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fw.id)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		c.log.Info("framework teardown", "framework", fw.id)
		c.removeFramework(fw)
	case scheduler.Call_ACCEPT:
		if herr := c.accept(fw, call.Accept); herr != nil {
			return 0, herr
		}
	case scheduler.Call_DECLINE:
		c.decline(fw, call.Decline.OfferIDs, call.Decline.Filters)
	case scheduler.Call_REVIVE:
		fw.suppressed = false
		clear(fw.filters)
		c.kick()
	case scheduler.Call_SUPPRESS:
		fw.suppressed = true
	case scheduler.Call_KILL:
		c.kill(fw, call.Kill)
	case scheduler.Call_SHUTDOWN:
		if ex := fw.executors[call.Shutdown.AgentID.Value+"/"+call.Shutdown.ExecutorID.Value]; ex != nil {
			c.shutdownExecutor(ex)
		}
	case scheduler.Call_ACKNOWLEDGE:
		c.acknowledge(fw, call.Acknowledge)
	case scheduler.Call_RECONCILE:
		c.reconcile(fw, call.Reconcile.Tasks)
	case scheduler.Call_MESSAGE:
		if ex := fw.executors[call.Message.AgentID.Value+"/"+call.Message.ExecutorID.Value]; ex != nil {
			c.messageExecutor(ex, call.Message.Data)
		}
	case scheduler.Call_UPDATE_FRAMEWORK:
		if herr := c.updateFramework(fw, call.UpdateFramework); herr != nil {
			return 0, herr
		}
		return http.StatusOK, nil
	case scheduler.Call_REQUEST, scheduler.Call_ACCEPT_INVERSE_OFFERS, scheduler.Call_DECLINE_INVERSE_OFFERS,
		scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, scheduler.Call_RECONCILE_OPERATIONS:
		// Accepted and ignored: no inverse offers or operations exist here.
	default: // UNKNOWN
		return 0, &httpError{code: http.StatusNotImplemented, msg: "501 Not Implemented."}
	}
	return http.StatusAccepted, nil
}

// refuseFor converts Filters to a duration (default 5 s; negative = default).
func refuseFor(f *mesos.Filters) time.Duration {
	s := 5.0
	if f != nil && f.RefuseSeconds != nil && *f.RefuseSeconds >= 0 && !math.IsNaN(*f.RefuseSeconds) {
		s = *f.RefuseSeconds
	}
	const maxRefuse = 365 * 24 * 3600.0
	if s > maxRefuse {
		s = maxRefuse
	}
	return time.Duration(s * float64(time.Second))
}

// decline returns the offers' resources and installs a filter per agent.
func (c *Cluster) decline(fw *framework, ids []mesos.OfferID, f *mesos.Filters) {
	for _, id := range ids {
		o := c.offers[id.Value]
		if o == nil || o.fw != fw {
			continue // Mesos ignores unknown offers in DECLINE
		}
		c.removeOffer(o, false)
		c.addFilter(fw, o.agent, o.resources, refuseFor(f))
	}
	c.kick()
}

func (c *Cluster) addFilter(fw *framework, a *agent, res mesos.Resources, d time.Duration) {
	if d <= 0 || len(res) == 0 {
		return
	}
	fw.filters[a.id] = filter{until: time.Now().Add(d), refused: res.Clone(), agentID: a.id}
}

// kill handles KILL as Master::kill (src/master/master.cpp) does: an
// unknown task is answered by reconciling it, a task of another agent than
// the one named is ignored.
func (c *Cluster) kill(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil {
		c.reconcile(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}})
		return
	}
	if k.AgentID != nil && k.AgentID.Value != t.agent.id {
		c.log.Debug("KILL names another agent than the task's: ignored", "task", t.id(), "agent", k.AgentID.Value)
		return
	}
	if isTerminal(t.state) {
		return
	}
	c.killTask(t, k.KillPolicy, 0)
}

// masterStatus builds a master-generated status update (no uuid, not acknowledged).
func (c *Cluster) masterStatus(fw *framework, id mesos.TaskID, agentID *mesos.AgentID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) mesos.TaskStatus {
	return mesos.TaskStatus{
		TaskID:    id,
		State:     state.Enum(),
		Source:    mesos.SOURCE_MASTER.Enum(),
		Reason:    reason.Enum(),
		Message:   ptr(msg),
		AgentID:   agentID,
		Timestamp: ptr(nowSeconds()),
	}
}

// reconcile handles RECONCILE as Master::reconcile (src/master/master.cpp)
// does. A known task reports its status_update_state: the state of the
// update the master last received from the agent (the oldest one not yet
// acknowledged), never a later one still queued on the agent. An unknown
// task reports TASK_GONE on a registered agent, TASK_UNREACHABLE on an
// unreachable (stopped) one and TASK_UNKNOWN otherwise, each TASK_LOST for
// frameworks without PARTITION_AWARE.
func (c *Cluster) reconcile(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	send := func(st mesos.TaskStatus) {
		fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
	lost := func(state mesos.TaskState) mesos.TaskState {
		if fw.partitionAware {
			return state
		}
		return mesos.TASK_LOST
	}
	if len(tasks) == 0 {
		for _, t := range fw.tasks {
			send(c.reconciledStatus(t))
		}
		return
	}
	for _, rt := range tasks {
		t := fw.tasks[rt.TaskID.Value]
		var a *agent
		if rt.AgentID != nil {
			a = c.agentByID(rt.AgentID.Value)
		}
		_, unreachable := c.unreachable[rt.AgentID.GetValue()]
		switch {
		case t != nil:
			send(c.reconciledStatus(t))
		case a != nil && !a.stopped:
			send(c.masterStatus(fw, rt.TaskID, rt.AgentID, lost(mesos.TASK_GONE), mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown to the agent"))
		case rt.AgentID != nil && unreachable:
			st := c.masterStatus(fw, rt.TaskID, rt.AgentID, lost(mesos.TASK_UNREACHABLE), mesos.REASON_RECONCILIATION, "Reconciliation: Task is unreachable")
			st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: c.unreachable[rt.AgentID.Value].UnixNano()}
			send(st)
		default:
			send(c.masterStatus(fw, rt.TaskID, rt.AgentID, lost(mesos.TASK_UNKNOWN), mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown"))
		}
	}
}

// reconciledStatus is the master's answer about a known task, built as
// protobuf::createStatusUpdate is in Master::reconcile: the state, health
// and container status the master holds, no uuid, data or labels.
func (c *Cluster) reconciledStatus(t *task) mesos.TaskStatus {
	state, from := t.state, t.forwarded
	if from.State != nil {
		state = from.GetState()
	}
	st := c.masterStatus(t.fw, t.info.TaskID, &mesos.AgentID{Value: t.agent.id}, state, mesos.REASON_RECONCILIATION, "Reconciliation: Latest task state")
	if t.exec != nil {
		st.ExecutorID = &mesos.ExecutorID{Value: t.exec.id}
	}
	st.Healthy = from.Healthy
	st.ContainerStatus = t.containerStatus
	return st
}

// acknowledge handles ACKNOWLEDGE of an agent-originated update.
func (c *Cluster) acknowledge(fw *framework, ack *scheduler.Call_Acknowledge) {
	t := fw.tasks[ack.TaskID.Value]
	if t == nil || t.agent.id != ack.AgentID.Value || len(t.pending) == 0 {
		c.log.Debug("acknowledgement for an unknown update ignored", "framework", fw.id, "task", ack.TaskID.Value)
		return
	}
	head := t.pending[0]
	if string(head.UUID) != string(ack.UUID) {
		c.log.Debug("acknowledgement of an update that is not the oldest pending one ignored", "task", t.id())
		return
	}
	t.pending = t.pending[1:]
	t.stopRetry()
	if t.exec != nil && t.exec.custom {
		c.executorAcknowledged(t.exec, t.info.TaskID, ack.UUID)
	}
	if len(t.pending) > 0 {
		t.retryDelay = 0
		c.sendPending(t)
		return
	}
	if isTerminal(t.state) {
		c.forgetTask(t)
	}
}
