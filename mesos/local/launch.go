package local

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// accept handles ACCEPT: LAUNCH, LAUNCH_GROUP, RESERVE and UNRESERVE
// operations on offers of one agent and role, applied in order (a LAUNCH
// may use what a RESERVE before it reserved). Operations of other types are
// refused up front (501) so that nothing is half applied.
func (c *Cluster) accept(fw *framework, acc *scheduler.Call_Accept) *httpError {
	for i, op := range acc.Operations {
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			if op.Launch == nil {
				return badRequest("Expecting 'accept.operations[%d].launch' to be present", i)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			if op.LaunchGroup == nil {
				return badRequest("Expecting 'accept.operations[%d].launch_group' to be present", i)
			}
		case mesos.Offer_Operation_RESERVE:
			if op.Reserve == nil {
				return badRequest("Expecting 'accept.operations[%d].reserve' to be present", i)
			}
		case mesos.Offer_Operation_UNRESERVE:
			if op.Unreserve == nil {
				return badRequest("Expecting 'accept.operations[%d].unreserve' to be present", i)
			}
		default:
			return &httpError{code: http.StatusNotImplemented, msg: fmt.Sprintf("Offer operation %s is not supported by mesos/local", op.Type)}
		}
	}
	var (
		a       *agent
		invalid string
		taken   []*offer
		seen    = map[string]bool{}
	)
	if len(acc.OfferIDs) == 0 {
		invalid = "No offers specified"
	}
	for _, id := range acc.OfferIDs {
		o := c.offers[id.Value]
		switch {
		case seen[id.Value]:
			invalid = "Duplicate offer " + id.Value + " in the same call"
		case o == nil:
			invalid = "Offer " + id.Value + " is no longer valid"
		case o.fw != fw:
			invalid = "Offer " + id.Value + " is not for framework " + fw.id
		case a != nil && o.agent != a:
			invalid = "Aggregated offers must belong to the same agent"
		case len(taken) > 0 && o.role != taken[0].role:
			// validation::offer::validateAllocationRole (src/master/validation.cpp).
			invalid = "Aggregated offers must be allocated to the same role. Offer " + id.Value + " uses role '" + o.role + " but another is using role '" + taken[0].role
		default:
			a = o.agent
			taken = append(taken, o)
		}
		seen[id.Value] = true
	}
	if invalid != "" {
		for _, o := range taken {
			c.removeOffer(o, false)
		}
		state := mesos.TASK_LOST
		if fw.partitionAware {
			state = mesos.TASK_DROPPED
		}
		for _, op := range acc.Operations {
			for _, ti := range opTasks(op) {
				st := c.masterStatus(fw, ti.TaskID, &ti.AgentID, state, mesos.REASON_INVALID_OFFERS, "Task launched with invalid offers: "+invalid)
				fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
			}
		}
		c.kick()
		return nil
	}
	var avail mesos.Resources
	role := taken[0].role
	for _, o := range taken {
		delete(c.offers, o.id)
		avail.Add(o.resources...)
	}
	for _, op := range acc.Operations {
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			for _, ti := range op.Launch.TaskInfos {
				c.launch(fw, a, role, &avail, []mesos.TaskInfo{ti}, ti.Executor, false)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			ex := op.LaunchGroup.Executor
			c.launch(fw, a, role, &avail, op.LaunchGroup.TaskGroup.Tasks, &ex, true)
		case mesos.Offer_Operation_RESERVE, mesos.Offer_Operation_UNRESERVE:
			c.applyReservation(fw, a, role, &avail, op)
		}
	}
	if !a.stopped {
		a.free.Add(avail...)
		c.addFilter(fw, a, avail, refuseFor(acc.Filters))
	}
	c.kick()
	return nil
}

// unallocated copies resources without their allocation_info (which
// MULTI_ROLE frameworks echo from offers) and with reservations in the
// post-refinement format the master keeps, for accounting.
func unallocated(rs []mesos.Resource) mesos.Resources {
	if up, msg := upgrade(rs); msg == "" {
		return up.Unallocate()
	}
	return mesos.Resources(rs).Clone().Unallocate()
}

func opTasks(op mesos.Offer_Operation) []mesos.TaskInfo {
	switch {
	case op.Launch != nil:
		return op.Launch.TaskInfos
	case op.LaunchGroup != nil:
		return op.LaunchGroup.TaskGroup.Tasks
	}
	return nil
}

// validateTask checks one task of a LAUNCH or LAUNCH_GROUP as
// validation::task::internal::validateTask and validateExecutor
// (src/master/validation.cpp) do, in their order and with their messages,
// then what mesos/local cannot run (containers other than MESOS without an
// image). It returns the message of the first problem, or "".
func (c *Cluster) validateTask(fw *framework, a *agent, ti *mesos.TaskInfo, group bool) string {
	if msg := validateID(ti.TaskID.Value); msg != "" {
		return msg
	}
	if old := fw.tasks[ti.TaskID.Value]; old != nil {
		return fmt.Sprintf("Task has duplicate ID: %s", ti.TaskID.Value)
	}
	if ti.AgentID.Value != a.id {
		return fmt.Sprintf("Task uses invalid agent %s while agent %s is expected", ti.AgentID.Value, a.id)
	}
	if kp := ti.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
		return ("Task's 'kill_policy.grace_period' must be non-negative")
	}
	if mct := ti.MaxCompletionTime; mct != nil && mct.Nanoseconds < 0 {
		return ("Task's `max_completion_time` must be non-negative")
	}
	if err := validateHealthCheck(ti.HealthCheck); err != nil {
		return fmt.Sprintf("Task uses invalid health check: %v", err)
	}
	if len(ti.Resources) == 0 {
		return ("Task uses no resources")
	}
	if err := resources.Validate(ti.Resources...); err != nil {
		return fmt.Sprintf("Task uses invalid resources: %v", err)
	}
	if ti.Command != nil {
		if _, _, err := commandArgv(ti.Command); err != nil {
			return fmt.Sprintf("Task's `CommandInfo` is invalid: %v", err)
		}
		if _, err := commandEnv(nil, ti.Command); err != nil {
			return fmt.Sprintf("Task's `CommandInfo` is invalid: %v", err)
		}
	}
	if group {
		if ti.Executor != nil {
			return ("'TaskInfo.executor' must not be set in a task group")
		}
		if ti.Command == nil {
			return ("'TaskInfo.command' must be set (mesos/local runs task group tasks as commands)")
		}
	} else if (ti.Command == nil) == (ti.Executor == nil) {
		return ("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present")
	}
	if ti.Container != nil && ti.Container.GetType() != mesos.ContainerInfo_MESOS {
		return fmt.Sprintf("container type %s is not supported by mesos/local", ti.Container.GetType())
	}
	if ti.Container != nil && ti.Container.Mesos != nil && ti.Container.Mesos.Image != nil {
		return ("container images are not supported by mesos/local (tasks run on the host)")
	}
	return ""
}

// launch validates and starts tasks (one for LAUNCH, a group for
// LAUNCH_GROUP) taking their resources from avail. A group is all or nothing.
func (c *Cluster) launch(fw *framework, a *agent, role string, avail *mesos.Resources, tis []mesos.TaskInfo, ei *mesos.ExecutorInfo, group bool) {
	var ex *executor
	var need mesos.Resources
	var verr string // the first problem found
	if ei != nil {
		if msg := validateID(ei.ExecutorID.Value); msg != "" {
			verr = msg
		}
		if ei.FrameworkID != nil && ei.FrameworkID.Value != fw.id {
			verr = fmt.Sprintf("executor has an invalid framework ID %s", ei.FrameworkID.Value)
		}
		switch {
		case group && ei.Type != mesos.ExecutorInfo_DEFAULT:
			verr = "'ExecutorInfo.type' must be 'DEFAULT' for LAUNCH_GROUP"
		case !group && ei.Type == mesos.ExecutorInfo_DEFAULT:
			verr = "'ExecutorInfo.type' must be 'CUSTOM' for LAUNCH (use LAUNCH_GROUP for the default executor)"
		case !group && ei.Command == nil:
			verr = fmt.Sprintf("custom executor %s has no command", ei.ExecutorID.Value)
		}
		if err := resources.Validate(ei.Resources...); err != nil {
			verr = fmt.Sprintf("executor uses invalid resources: %v", err)
		}
		ex = fw.executors[a.id+"/"+ei.ExecutorID.Value]
		if ex != nil && (ex.terminated || ex.custom == group) {
			verr = fmt.Sprintf("executor %s is terminating or of another type", ei.ExecutorID.Value)
		}
		if ex == nil {
			need.Add(unallocated(ei.Resources)...)
		}
	}
	if len(tis) == 0 {
		verr = "task group is empty"
	}
	ids := map[string]bool{}
	for i := range tis {
		if verr != "" {
			break
		}
		if ids[tis[i].TaskID.Value] {
			verr = fmt.Sprintf("task group has duplicate task ID %s", tis[i].TaskID.Value)
			break
		}
		ids[tis[i].TaskID.Value] = true
		if msg := c.validateTask(fw, a, &tis[i], group); msg != "" {
			verr = msg
		}
		need.Add(unallocated(tis[i].Resources)...)
	}
	if verr == "" && !containsAll(*avail, need) {
		if group {
			verr = fmt.Sprintf("task group uses more resources %s than available %s", need, *avail)
		} else {
			verr = fmt.Sprintf("Total resources %s required by task and its executor is more than available %s", need, *avail)
		}
	}
	if verr != "" {
		reason := mesos.REASON_TASK_INVALID
		if group {
			reason = mesos.REASON_TASK_GROUP_INVALID
		}
		for _, ti := range tis {
			// As Mesos, a duplicate ID gets TASK_ERROR too; the running
			// task with that ID is not touched.
			st := c.masterStatus(fw, ti.TaskID, &ti.AgentID, mesos.TASK_ERROR, reason, verr)
			fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
		}
		return
	}
	avail.Subtract(need...)
	if ei != nil && ex == nil {
		ex = c.newExecutor(fw, a, *ei, !group)
		ex.role = role
	}
	var launched []*task
	for _, ti := range tis {
		t := &task{fw: fw, agent: a, info: ti, res: unallocated(ti.Resources), role: role, state: mesos.TASK_STAGING, exec: ex, launched: time.Now()}
		t.latest = mesos.TaskStatus{TaskID: ti.TaskID, State: mesos.TASK_STAGING.Enum(), AgentID: &mesos.AgentID{Value: a.id}, Timestamp: ptr(nowSeconds())}
		fw.tasks[ti.TaskID.Value] = t
		launched = append(launched, t)
		c.log.Info("task launched", "framework", fw.id, "task", t.id(), "agent", a.id)
	}
	switch {
	case ex == nil:
		c.startCommandTask(launched[0], filepath.Join("agents", a.id, "frameworks", fw.id, "executors", launched[0].id(), "runs", newUUIDString()))
	case ex.custom:
		c.executorLaunch(ex, launched[0])
	default:
		ex.tasks = append(ex.tasks, launched...)
		for _, t := range launched {
			c.startCommandTask(t, filepath.Join(ex.sandboxRel, "tasks", t.id()))
		}
	}
}

// startCommandTask runs a command task (or a task of a group) as a process;
// c.mu must be held. It sends TASK_STARTING, then TASK_RUNNING or TASK_FAILED.
func (c *Cluster) startCommandTask(t *task, rel string) {
	dir, err := c.sandboxDir(rel)
	if err == nil {
		t.sandbox = dir
	}
	c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_STARTING.Enum()})
	if err == nil && len(t.info.Command.URIs) > 0 {
		// Fetching may be slow: do it without the lock, then start.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			ferr := fetchURIs(c.ctx, t.info.Command.URIs, dir)
			c.mu.Lock()
			defer c.mu.Unlock()
			c.execCommandTask(t, ferr)
		}()
		return
	}
	c.execCommandTask(t, err)
}

func (c *Cluster) execCommandTask(t *task, err error) {
	if c.closed || isTerminal(t.state) {
		return
	}
	if t.killing {
		c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_KILLED.Enum(), Reason: mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(), Message: ptr("Task killed before it was launched")})
		return
	}
	if err == nil {
		env := map[string]string{
			"MESOS_SANDBOX":      t.sandbox,
			"MESOS_DIRECTORY":    t.sandbox,
			"MESOS_TASK_ID":      t.id(),
			"MESOS_FRAMEWORK_ID": t.fw.id,
			"MESOS_AGENT_ID":     t.agent.id,
			"MESOS_EXECUTOR_ID":  t.id(),
		}
		if t.exec != nil {
			env["MESOS_EXECUTOR_ID"] = t.exec.id
		}
		t.proc, err = c.startTaskProcess(t, env)
	}
	if err != nil {
		c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), Reason: mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum(),
			Source: mesos.SOURCE_AGENT.Enum(), Message: ptr("Failed to launch container: " + err.Error())})
		return
	}
	// The agent adds the container status (agentContainerStatus).
	c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_RUNNING.Enum()})
	if t.info.HealthCheck != nil {
		c.startHealthCheck(t)
	}
	if mct := t.info.MaxCompletionTime; mct != nil {
		t.deadline = time.AfterFunc(time.Duration(mct.Nanoseconds), func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if !isTerminal(t.state) && !c.closed {
				c.killTask(t, &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{}}, mesos.REASON_MAX_COMPLETION_TIME_REACHED)
			}
		})
	}
}

// commandExited reports the end of a command task's process.
func (c *Cluster) commandExited(t *task, p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.lost || c.closed {
		return
	}
	code, msg := describeExit(p.exit)
	st := mesos.TaskStatus{Message: ptr(msg)}
	switch {
	case t.killing && t.killWhy == mesos.REASON_MAX_COMPLETION_TIME_REACHED:
		st.State = mesos.TASK_FAILED.Enum()
		st.Reason = t.killWhy.Enum()
		st.Message = ptr("Task reached its max completion time")
	case t.killing:
		// CommandExecutor::reaped (src/launcher/executor.cpp): TASK_KILLED
		// without a reason; healthy=false only when a failing health check
		// killed it.
		st.State = mesos.TASK_KILLED.Enum()
		if t.killWhy == mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
			st.Healthy = ptr(false)
		}
	case code == 0:
		st.State = mesos.TASK_FINISHED.Enum()
	default:
		st.State = mesos.TASK_FAILED.Enum()
	}
	c.statusUpdate(t, st)
}
