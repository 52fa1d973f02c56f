package local

import (
	"fmt"
	"math"
	"net/http"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// validateCall checks a decoded call as the master's call validation does.
func validateCall(call *scheduler.Call) *httpError {
	need := func(present bool, field string) *httpError {
		if !present {
			return badRequest("Expecting '%s' to be present", field)
		}
		return nil
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		if call.Subscribe == nil {
			return badRequest("Expecting 'subscribe' to be present")
		}
		fi := call.Subscribe.FrameworkInfo
		if fi == nil {
			return badRequest("Expecting 'subscribe.framework_info' to be present")
		}
		if call.FrameworkID != nil && fi.ID != nil && call.FrameworkID.Value != fi.ID.Value {
			return badRequest("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		if call.FrameworkID != nil && fi.ID == nil {
			return badRequest("'framework_id' differs from 'subscribe.framework_info.id'")
		}
		return nil
	}
	if call.Type == scheduler.Call_UNKNOWN {
		return &httpError{http.StatusNotImplemented, "Received 'UNKNOWN' call"}
	}
	if _, ok := scheduler.Call_Type_name[int32(call.Type)]; !ok {
		return &httpError{http.StatusNotImplemented, fmt.Sprintf("Received unknown call type %d", call.Type)}
	}
	if call.FrameworkID == nil || call.FrameworkID.Value == "" {
		return badRequest("Expecting 'framework_id' to be present")
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
		if err := need(call.Kill != nil, "kill"); err != nil {
			return err
		}
		if kp := call.Kill.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
			return badRequest("Invalid 'kill.kill_policy.grace_period': must not be negative")
		}
	case scheduler.Call_SHUTDOWN:
		return need(call.Shutdown != nil, "shutdown")
	case scheduler.Call_ACKNOWLEDGE:
		if err := need(call.Acknowledge != nil, "acknowledge"); err != nil {
			return err
		}
		if len(call.Acknowledge.UUID) != 16 {
			return badRequest("Failed to parse UUID: expected 16 bytes, got %d", len(call.Acknowledge.UUID))
		}
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		return need(call.AcknowledgeOperationStatus != nil, "acknowledge_operation_status")
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
			return badRequest("'framework_id' differs from 'update_framework.framework_info.id'")
		}
	}
	return nil
}

// handleCall runs every call but SUBSCRIBE. It returns nil for 202.
func (c *Cluster) handleCall(streamID string, call *scheduler.Call) *httpError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return &httpError{http.StatusServiceUnavailable, "Master is shutting down"}
	}
	fw := c.frameworks[call.FrameworkID.Value]
	if fw == nil || fw.removed {
		return badRequest("Framework cannot be found")
	}
	if fw.stream == nil {
		return &httpError{http.StatusForbidden, "Framework is not subscribed"}
	}
	if streamID == "" {
		return badRequest("All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	}
	if streamID != fw.stream.id {
		return badRequest("The stream ID '%s' included in this request didn't match the stream ID currently associated with framework ID %s", streamID, fw.id)
	}
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		c.log.Info("framework teardown", "framework", fw.id)
		c.removeFramework(fw)
	case scheduler.Call_ACCEPT:
		return c.accept(fw, call.Accept)
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
		fi := call.UpdateFramework.FrameworkInfo
		fw.info = fi
		fw.partitionAware = fw.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
		fw.taskKilling = fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	case scheduler.Call_REQUEST, scheduler.Call_ACCEPT_INVERSE_OFFERS, scheduler.Call_DECLINE_INVERSE_OFFERS,
		scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, scheduler.Call_RECONCILE_OPERATIONS:
		// Accepted and ignored: no inverse offers or operations exist here.
	}
	return nil
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

// kill handles KILL.
func (c *Cluster) kill(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil {
		st := c.masterStatus(fw, k.TaskID, k.AgentID, unknownState(fw), mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown")
		fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
		return
	}
	if isTerminal(t.state) {
		return
	}
	c.killTask(t, k.KillPolicy, 0)
}

func unknownState(fw *framework) mesos.TaskState {
	if fw.partitionAware {
		return mesos.TASK_UNKNOWN
	}
	return mesos.TASK_LOST
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

// reconcile handles RECONCILE, explicit (tasks listed) or implicit (none).
func (c *Cluster) reconcile(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	send := func(st mesos.TaskStatus) {
		fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
	}
	latest := func(t *task) mesos.TaskStatus {
		st := t.latest
		st.UUID = nil
		st.Source = mesos.SOURCE_MASTER.Enum()
		st.Reason = mesos.REASON_RECONCILIATION.Enum()
		st.Message = ptr("Reconciliation: Latest task state")
		st.Timestamp = ptr(nowSeconds())
		return st
	}
	if len(tasks) == 0 {
		for _, t := range fw.tasks {
			send(latest(t))
		}
		return
	}
	for _, rt := range tasks {
		t := fw.tasks[rt.TaskID.Value]
		switch {
		case t != nil:
			send(latest(t))
		case rt.AgentID != nil && c.agentByID(rt.AgentID.Value) == nil:
			state := mesos.TASK_LOST
			if fw.partitionAware {
				state = mesos.TASK_GONE
			}
			send(c.masterStatus(fw, rt.TaskID, rt.AgentID, state, mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown to the agent"))
		default:
			send(c.masterStatus(fw, rt.TaskID, rt.AgentID, unknownState(fw), mesos.REASON_RECONCILIATION, "Reconciliation: Task is unknown"))
		}
	}
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
