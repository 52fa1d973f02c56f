package local

import (
	"net/http"
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

// allocationRole is the role offers are allocated to for MULTI_ROLE
// frameworks (their resources carry allocation_info, as from a real
// master); "" for others.
func (fw *framework) allocationRole() string {
	if !fw.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE) {
		return ""
	}
	for _, r := range fw.info.Roles {
		if r != "" {
			return r
		}
	}
	if r := fw.info.GetRole(); r != "" {
		return r
	}
	return "*"
}

// send queues an event on the framework's stream, if it is connected.
func (fw *framework) send(ev *scheduler.Event) {
	if fw.stream != nil {
		fw.stream.send(ev)
	}
}

// subscribe handles SUBSCRIBE: it answers with a RecordIO stream of events
// and serves it until the client goes away or the stream is replaced.
func (c *Cluster) subscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call) {
	media, herr := acceptMedia(r)
	if herr != nil {
		writeError(w, herr)
		return
	}
	if r.Header.Get("Mesos-Stream-Id") != "" {
		writeError(w, badRequest("Subscribe calls should not include the 'Mesos-Stream-Id' header"))
		return
	}
	fi := *call.Subscribe.FrameworkInfo
	if c.cfg.Auth != nil && fi.Principal != nil && *fi.Principal != c.cfg.Auth.Principal {
		writeError(w, &httpError{http.StatusForbidden, "Authenticated principal '" + c.cfg.Auth.Principal +
			"' does not match principal '" + *fi.Principal + "' set in `FrameworkInfo`"})
		return
	}
	if fi.FailoverTimeout != nil && (*fi.FailoverTimeout < 0 || *fi.FailoverTimeout > 1e9 || *fi.FailoverTimeout != *fi.FailoverTimeout) {
		writeError(w, badRequest("Invalid 'framework_info.failover_timeout' %v", *fi.FailoverTimeout))
		return
	}
	st := newStream(media)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		writeError(w, &httpError{http.StatusServiceUnavailable, "Master is shutting down"})
		return
	}
	var fw *framework
	var subErr string
	switch id := fi.GetID().GetValue(); {
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
		c.rescindOffersOf(fw)
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
	c.rescindOffersOf(fw)
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
