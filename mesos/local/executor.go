package local

import (
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mexec "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// executorRegistrationTimeout is the agent's --executor_registration_timeout default.
const executorRegistrationTimeout = time.Minute

// executor is a custom executor (a process speaking /api/v1/executor) or the
// default executor of a task group (emulated: its tasks run as processes).
type executor struct {
	id         string
	fw         *framework
	agent      *agent
	info       mesos.ExecutorInfo
	custom     bool
	res        mesos.Resources // unallocated, returned to the agent when it ends
	role       string          // the role its resources are allocated to
	sandbox    string
	sandboxRel string
	container  string
	proc       *process
	stream     *stream
	queued     []*task // launched before the executor subscribed
	tasks      []*task
	terminated bool
	freed      bool
	timer      *time.Timer // registration timeout, then shutdown grace
}

func (c *Cluster) newExecutor(fw *framework, a *agent, ei mesos.ExecutorInfo, custom bool) *executor {
	ex := &executor{id: ei.ExecutorID.Value, fw: fw, agent: a, info: ei, custom: custom, res: unallocated(ei.Resources), container: newUUIDString()}
	ex.info.FrameworkID = &mesos.FrameworkID{Value: fw.id}
	ex.sandboxRel = filepath.Join("agents", a.id, "frameworks", fw.id, "executors", ex.id, "runs", ex.container)
	fw.executors[a.id+"/"+ex.id] = ex
	dir, err := c.sandboxDir(ex.sandboxRel)
	ex.sandbox = dir
	if !custom {
		return ex
	}
	if err != nil {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.executorStartFailed(ex, err) }()
		return ex
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := fetchURIs(c.ctx, ei.Command.URIs, dir); err != nil {
			c.executorStartFailed(ex, fmt.Errorf("fetch: %w", err))
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed || ex.terminated {
			return
		}
		env := map[string]string{
			"MESOS_FRAMEWORK_ID":                   fw.id,
			"MESOS_EXECUTOR_ID":                    ex.id,
			"MESOS_AGENT_ID":                       a.id,
			"MESOS_SLAVE_ID":                       a.id,
			"MESOS_DIRECTORY":                      dir,
			"MESOS_SANDBOX":                        dir,
			"MESOS_AGENT_ENDPOINT":                 a.endpoint,
			"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": fmt.Sprintf("%dsecs", int(c.cfg.ExecutorShutdownGracePeriod.Seconds())),
			"MESOS_CHECKPOINT":                     "0",
			"MESOS_HTTP_COMMAND_EXECUTOR":          "0",
		}
		if fw.info.GetCheckpoint() { // what a real agent adds for checkpointing frameworks
			env["MESOS_CHECKPOINT"] = "1"
			env["MESOS_RECOVERY_TIMEOUT"] = "15mins"
			env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "2secs"
		}
		p, err := startProcess(ei.Command, dir, env, func(p *process) { c.executorExited(ex, p) })
		if err != nil {
			c.mu.Unlock()
			c.executorStartFailed(ex, err)
			c.mu.Lock()
			return
		}
		ex.proc = p
		ex.timer = time.AfterFunc(executorRegistrationTimeout, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if ex.stream == nil && !ex.terminated && len(ex.queued) > 0 {
				c.log.Warn("executor did not subscribe in time", "executor", ex.id)
				for _, t := range ex.queued {
					c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), Reason: mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT.Enum(),
						Source: mesos.SOURCE_AGENT.Enum(), Message: ptr("Executor did not register within " + executorRegistrationTimeout.String())})
				}
				ex.queued = nil
				p.signal(sigKill)
			}
		})
	}()
	return ex
}

// executorStartFailed fails the tasks of an executor that could not start.
func (c *Cluster) executorStartFailed(ex *executor, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log.Warn("executor failed to start", "executor", ex.id, "err", err)
	for _, t := range append(ex.queued, ex.tasks...) {
		c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), Reason: mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum(),
			Source: mesos.SOURCE_AGENT.Enum(), Message: ptr("Failed to launch container: " + err.Error())})
	}
	ex.queued = nil
	c.executorGone(ex)
}

// executorGone releases an executor's resources and forgets it.
func (c *Cluster) executorGone(ex *executor) {
	ex.terminated = true
	if ex.timer != nil {
		ex.timer.Stop()
	}
	if ex.stream != nil {
		ex.stream.close()
		ex.stream = nil
	}
	if !ex.freed {
		ex.freed = true
		if !ex.agent.stopped {
			ex.agent.free.Add(ex.res...)
		}
	}
	if ex.fw.executors[ex.agent.id+"/"+ex.id] == ex {
		delete(ex.fw.executors, ex.agent.id+"/"+ex.id)
	}
	c.maybeForgetFramework(ex.fw)
	c.kick()
}

// executorExited handles the end of a custom executor's process.
func (c *Cluster) executorExited(ex *executor, p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	code, msg := describeExit(p.exit)
	if !ex.agent.stopped {
		for _, t := range ex.fw.tasks {
			if t.exec == ex && !isTerminal(t.state) {
				c.statusUpdate(t, mesos.TaskStatus{State: mesos.TASK_FAILED.Enum(), Reason: mesos.REASON_EXECUTOR_TERMINATED.Enum(),
					Source: mesos.SOURCE_AGENT.Enum(), Message: ptr("Executor terminated: " + msg)})
			}
		}
		st := int32(code)
		if !ex.fw.removed {
			ex.fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
				AgentID: &mesos.AgentID{Value: ex.agent.id}, ExecutorID: &mesos.ExecutorID{Value: ex.id}, Status: &st}})
		}
	}
	ex.queued = nil
	c.executorGone(ex)
}

// executorLaunch hands a task to a custom executor (now or once it subscribes).
func (c *Cluster) executorLaunch(ex *executor, t *task) {
	ex.tasks = append(ex.tasks, t)
	if ex.stream == nil {
		ex.queued = append(ex.queued, t)
		return
	}
	ex.stream.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: t.info}})
}

// executorTaskEnded runs when a task of an executor became terminal. The
// default executor kills the rest of the group when a task did not finish,
// and ends when all its tasks have.
func (c *Cluster) executorTaskEnded(t *task) {
	ex := t.exec
	if ex.custom {
		return
	}
	if t.state != mesos.TASK_FINISHED {
		for _, o := range ex.tasks {
			if o != t && !isTerminal(o.state) {
				c.killTask(o, nil, 0)
			}
		}
	}
	for _, o := range ex.tasks {
		if !isTerminal(o.state) {
			return
		}
	}
	c.executorGone(ex)
}

func (c *Cluster) executorAcknowledged(ex *executor, id mesos.TaskID, uuid []byte) {
	if ex.stream != nil {
		ex.stream.send(&mexec.Event{Type: mexec.Event_ACKNOWLEDGED, Acknowledged: &mexec.Event_Acknowledged{TaskID: id, UUID: uuid}})
	}
}

func (c *Cluster) executorKill(ex *executor, t *task, policy *mesos.KillPolicy) {
	ex.stream.send(&mexec.Event{Type: mexec.Event_KILL, Kill: &mexec.Event_Kill{TaskID: t.info.TaskID, KillPolicy: policy}})
}

func (c *Cluster) messageExecutor(ex *executor, data []byte) {
	if ex.custom && ex.stream != nil {
		ex.stream.send(&mexec.Event{Type: mexec.Event_MESSAGE, Message: &mexec.Event_Message{Data: data}})
	}
}

// shutdownExecutor asks an executor to stop: SHUTDOWN, then SIGKILL after
// the grace period. A default executor kills its tasks.
func (c *Cluster) shutdownExecutor(ex *executor) {
	if ex.terminated {
		return
	}
	if !ex.custom {
		for _, t := range ex.tasks {
			if !isTerminal(t.state) {
				c.killTask(t, nil, mesos.REASON_FRAMEWORK_REMOVED)
			}
		}
		return
	}
	if ex.stream != nil {
		ex.stream.send(&mexec.Event{Type: mexec.Event_SHUTDOWN})
	}
	if ex.timer != nil {
		ex.timer.Stop()
	}
	if p := ex.proc; p != nil {
		ex.timer = time.AfterFunc(c.cfg.ExecutorShutdownGracePeriod, func() { p.signal(sigKill) })
		if ex.stream == nil {
			p.signal(sigKill)
		}
	} else {
		ex.terminated = true // still fetching: it will not start
	}
}

// serveExecutor is the handler of an agent's /api/v1/executor.
func (c *Cluster) serveExecutor(a *agent, w http.ResponseWriter, r *http.Request) {
	call, ok := readCall(w, r, decodeExecutorCall)
	if !ok {
		return
	}
	var herr *httpError
	if call.FrameworkID.Value == "" || call.ExecutorID.Value == "" {
		writeError(w, badRequest("Expecting 'framework_id' and 'executor_id' to be present"))
		return
	}
	c.mu.Lock()
	if c.closed || a.stopped {
		c.mu.Unlock()
		writeError(w, &httpError{code: http.StatusServiceUnavailable, msg: "Agent is shutting down"})
		return
	}
	fw := c.frameworks[call.FrameworkID.Value]
	var ex *executor
	if fw != nil {
		ex = fw.executors[a.id+"/"+call.ExecutorID.Value]
	}
	if ex == nil || !ex.custom || ex.terminated {
		c.mu.Unlock()
		writeError(w, badRequest("Executor %s of framework %s cannot be found", call.ExecutorID.Value, call.FrameworkID.Value))
		return
	}
	switch call.Type {
	case mexec.Call_SUBSCRIBE:
		emedia, herr := acceptMedia(r)
		if herr != nil {
			c.mu.Unlock()
			writeError(w, herr)
			return
		}
		st := newStream(emedia)
		if ex.stream != nil {
			ex.stream.close()
		}
		ex.stream = st
		if ex.timer != nil {
			ex.timer.Stop()
		}
		cid := mesos.ContainerID{Value: ex.container}
		st.send(&mexec.Event{Type: mexec.Event_SUBSCRIBED, Subscribed: &mexec.Event_Subscribed{
			ExecutorInfo: ex.info, FrameworkInfo: fw.info, AgentInfo: a.info(), ContainerID: &cid}})
		for _, t := range ex.queued {
			if !isTerminal(t.state) {
				st.send(&mexec.Event{Type: mexec.Event_LAUNCH, Launch: &mexec.Event_Launch{Task: t.info}})
			}
		}
		ex.queued = nil
		c.mu.Unlock()
		w.Header().Set("Content-Type", emedia)
		w.WriteHeader(http.StatusOK)
		_ = st.serve(r.Context(), w, 0, nil)
		c.mu.Lock()
		if ex.stream == st {
			ex.stream = nil
		}
		c.mu.Unlock()
		return
	case mexec.Call_UPDATE:
		herr = c.executorUpdate(ex, call.Update)
	case mexec.Call_MESSAGE:
		if call.Message != nil && !fw.removed {
			fw.send(&scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
				AgentID: mesos.AgentID{Value: a.id}, ExecutorID: mesos.ExecutorID{Value: ex.id}, Data: call.Message.Data}})
		}
	case mexec.Call_HEARTBEAT:
	default:
		herr = &httpError{code: http.StatusNotImplemented, msg: fmt.Sprintf("Received '%s' call", call.Type)}
	}
	c.mu.Unlock()
	if herr != nil {
		writeError(w, herr)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// executorUpdate handles an executor's UPDATE call; c.mu must be held.
func (c *Cluster) executorUpdate(ex *executor, u *mexec.Call_Update) *httpError {
	if u == nil {
		return badRequest("Expecting 'update' to be present")
	}
	st := u.Status
	if len(st.UUID) != 16 {
		return badRequest("Expecting 'update.status.uuid' to be a 16 byte UUID")
	}
	if st.State == nil {
		return badRequest("Expecting 'update.status.state' to be present")
	}
	if st.GetSource() != mesos.SOURCE_EXECUTOR {
		return badRequest("Received status update from source %s, expected SOURCE_EXECUTOR", st.GetSource())
	}
	t := ex.fw.tasks[st.TaskID.Value]
	if t == nil || t.exec != ex {
		return badRequest("Task %s is not a task of executor %s", st.TaskID.Value, ex.id)
	}
	if st.GetState() == mesos.TASK_STAGING {
		return badRequest("Executors must not send TASK_STAGING")
	}
	c.statusUpdate(t, st)
	return nil
}

// decodeExecutorCall decodes an executor Call; it never panics.
func decodeExecutorCall(media string, body []byte) (call *mexec.Call, herr *httpError) {
	defer func() {
		if p := recover(); p != nil {
			call, herr = nil, badRequest("Failed to parse body into Call: %v", p)
		}
	}()
	call = new(mexec.Call)
	if err := unmarshalMessage(media, body, call); err != nil {
		return nil, badRequest("Failed to parse body into Call: %v", err)
	}
	return call, nil
}
