package local

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// TestLaunchInvalid follows validation::task::internal::validateTask and
// validateExecutor (src/master/validation.cpp) for the messages of
// TASK_ERROR, plus what mesos/local cannot run.
func TestLaunchInvalid(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	valid := func(o mesos.Offer, id string) mesos.TaskInfo { return cmdTask(o, id, "exec sleep 60", nil) }
	tests := []struct {
		name    string
		mutate  func(o mesos.Offer, ti *mesos.TaskInfo)
		want    mesos.TaskState
		wantMsg string
	}{
		{name: "too many cpus", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.Resources[0] = scalar("cpus", 100) }, want: mesos.TASK_ERROR, wantMsg: "required by task and its executor is more than available"},
		{name: "port outside the offer", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.Resources = append(ti.Resources, portsResource(80, 80)) }, want: mesos.TASK_ERROR, wantMsg: "required by task and its executor is more than available"},
		{name: "no resources", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.Resources = nil }, want: mesos.TASK_ERROR, wantMsg: "Task uses no resources"},
		{name: "zero max_completion_time is valid", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.MaxCompletionTime = &mesos.DurationInfo{} }, want: mesos.TASK_FAILED, wantMsg: "max completion time"},
		{name: "negative max_completion_time", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.MaxCompletionTime = &mesos.DurationInfo{Nanoseconds: -1} }, want: mesos.TASK_ERROR, wantMsg: "Task's `max_completion_time` must be non-negative"},
		{name: "wrong agent", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.AgentID.Value = "elsewhere" }, want: mesos.TASK_ERROR, wantMsg: "invalid agent"},
		{name: "no command nor executor", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.Command = nil }, want: mesos.TASK_ERROR, wantMsg: "CommandInfo or ExecutorInfo"},
		{name: "slash in task ID", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.TaskID.Value = "a/../b" }, want: mesos.TASK_ERROR, wantMsg: "invalid characters"},
		{name: "dot-dot task ID", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.TaskID.Value = ".." }, want: mesos.TASK_ERROR, wantMsg: "'..' is disallowed"},
		{name: "empty shell command", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) { ti.Command.Value = ptr("") }, want: mesos.TASK_ERROR, wantMsg: "command.value"},
		{name: "secret env", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) {
			ti.Command.Environment = &mesos.Environment{Variables: []mesos.Environment_Variable{{Name: "S", Type: mesos.Environment_Variable_SECRET.Enum(), Secret: &mesos.Secret{}}}}
		}, want: mesos.TASK_ERROR, wantMsg: "secrets"},
		{name: "HTTP health check without http", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) {
			ti.HealthCheck = &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP}
		}, want: mesos.TASK_ERROR, wantMsg: "health check"},
		{name: "container image", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) {
			ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(), Mesos: &mesos.ContainerInfo_MesosInfo{Image: &mesos.Image{Type: mesos.Image_DOCKER.Enum(), Docker: &mesos.Image_Docker{Name: "busybox"}}}}
		}, want: mesos.TASK_ERROR, wantMsg: "images"},
		{name: "docker container", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) {
			ti.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_DOCKER.Enum()}
		}, want: mesos.TASK_ERROR, wantMsg: "DOCKER"},
		{name: "missing executable", mutate: func(o mesos.Offer, ti *mesos.TaskInfo) {
			ti.Command = &mesos.CommandInfo{Shell: ptr(false), Value: ptr("/nonexistent/binary")}
		}, want: mesos.TASK_FAILED, wantMsg: "Failed to launch"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer s.use(t)()
			o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			ti := valid(o, fmt.Sprintf("bad%d", i))
			tc.mutate(o, &ti)
			s.mustCall(launchCall(o, 0, ti))
			st := s.update(ti.TaskID.Value, tc.want)
			if !strings.Contains(st.GetMessage(), tc.wantMsg) {
				t.Errorf("message %q, want it to contain %q", st.GetMessage(), tc.wantMsg)
			}
			if tc.want == mesos.TASK_ERROR && (st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER) {
				t.Errorf("%+v: want REASON_TASK_INVALID from the master", st)
			}
		})
	}
	t.Run("offer used twice", func(t *testing.T) {
		defer s.use(t)()
		o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		s.mustCall(launchCall(o, 0, valid(o, "first")))
		s.mustCall(launchCall(o, 0, valid(o, "second")))
		st := s.update("second", mesos.TASK_LOST)
		if st.GetReason() != mesos.REASON_INVALID_OFFERS {
			t.Errorf("%+v: want REASON_INVALID_OFFERS", st)
		}
		s.update("first", mesos.TASK_RUNNING)
	})
	t.Run("duplicate task ID", func(t *testing.T) {
		defer s.use(t)()
		o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
		s.mustCall(launchCall(o, 0, valid(o, "first")))
		st := s.update("first", mesos.TASK_ERROR)
		if !strings.Contains(st.GetMessage(), "duplicate") {
			t.Errorf("message %q", st.GetMessage())
		}
		if got := taskState(c, "first"); got != "TASK_RUNNING" {
			t.Errorf("the running task is now %s, want it untouched", got)
		}
	})
}

// freePorts returns two offered ports nothing listens on right now (other
// tests on this host may use some of the range).
func freePorts(t *testing.T, o mesos.Offer) (uint64, uint64) {
	t.Helper()
	_, _, ports := offerCPUs(o)
	var free []uint64
	for _, rg := range ports {
		for p := rg.Begin; p <= rg.End && len(free) < 2; p++ {
			ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				continue
			}
			ln.Close()
			free = append(free, p)
		}
	}
	if len(free) < 2 {
		t.Fatalf("no two free ports in %v", ports)
	}
	return free[0], free[1]
}

func helperTask(t *testing.T, o mesos.Offer, id string, port uint64, healthStatus int) mesos.TaskInfo {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ti := cmdTask(o, id, "", map[string]string{"LOCAL_TEST_HELPER": "http", "PORT": fmt.Sprint(port), "HEALTH_STATUS": fmt.Sprint(healthStatus)})
	ti.Command.Shell = ptr(false)
	ti.Command.Value = ptr(exe)
	ti.Command.Arguments = []string{"helper"}
	ti.Resources = append(ti.Resources, portsResource(port, port))
	return ti
}

func TestHealthChecks(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		check       func(port, closed uint64) *mesos.HealthCheck
		wantHealthy bool
		wantKilled  bool
	}{
		{name: "HTTP healthy", status: 200, wantHealthy: true, check: func(p, closed uint64) *mesos.HealthCheck {
			return &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP, HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: uint32(p), Path: ptr("/health")}}
		}},
		{name: "HTTP 503 is unhealthy and killed", status: 503, wantKilled: true, check: func(p, closed uint64) *mesos.HealthCheck {
			return &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP, HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: uint32(p), Path: ptr("/health")}}
		}},
		{name: "TCP healthy", status: 200, wantHealthy: true, check: func(p, closed uint64) *mesos.HealthCheck {
			return &mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: uint32(p)}}
		}},
		{name: "TCP to a closed port is unhealthy", status: 200, wantKilled: true, check: func(p, closed uint64) *mesos.HealthCheck {
			return &mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: uint32(closed)}}
		}},
		{name: "COMMAND healthy", status: 200, wantHealthy: true, check: func(p, closed uint64) *mesos.HealthCheck {
			return &mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: &mesos.CommandInfo{Value: ptr("test -d \"$MESOS_SANDBOX\"")}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 1, KillGracePeriod: 200 * time.Millisecond})
			s := newSched(t, c, mediaProtobuf)
			s.subscribe(frameworkInfo("t"))
			o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			port, closed := freePorts(t, o)
			ti := helperTask(t, o, "web", port, tc.status)
			hc := tc.check(port, closed)
			// A healthy task's checks get a grace period: its process may
			// not listen yet 0.2s after the launch on a loaded machine
			// (-race, other packages' tests beside), and a failure before
			// the first success then reports healthy=false (health.go, as
			// Mesos's health checker does). The unhealthy ones have none,
			// so that they fail at once.
			grace := 0.0
			if tc.wantHealthy {
				grace = 60
			}
			hc.DelaySeconds, hc.IntervalSeconds, hc.GracePeriodSeconds, hc.TimeoutSeconds = ptr(0.2), ptr(0.1), ptr(grace), ptr(2.0)
			hc.ConsecutiveFailures = ptr(uint32(2))
			ti.HealthCheck = hc
			s.mustCall(launchCall(o, 0, ti))
			s.update("web", mesos.TASK_RUNNING)
			st := s.nextMatch("a health update", func(ev *scheduler.Event) bool {
				if ev.Type != scheduler.Event_UPDATE {
					return false
				}
				s.ack(ev.Update.Status)
				return ev.Update.Status.Healthy != nil
			}).Update.Status
			if st.GetState() != mesos.TASK_RUNNING || st.GetHealthy() != tc.wantHealthy || st.GetReason() != mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
				t.Errorf("health update %+v: want TASK_RUNNING healthy=%v", st, tc.wantHealthy)
			}
			if tc.wantHealthy {
				// A COMMAND check may pass before the server listens: retry.
				var resp *http.Response
				waitFor(t, "the task answers on its offered port on 127.0.0.1", func() bool {
					var err error
					resp, err = http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
					return err == nil
				})
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.Contains(string(b), "hello from web") {
					t.Errorf("task answered %q", b)
				}
			}
			if tc.wantKilled {
				// CommandExecutor::reaped (src/launcher/executor.cpp): no reason.
				k := s.update("web", mesos.TASK_KILLED)
				if k.Reason != nil || k.Healthy == nil || k.GetHealthy() {
					t.Errorf("killed update %+v: want healthy=false and no reason", k)
				}
			}
		})
	}
}

func TestLaunchGroup(t *testing.T) {
	c := startCluster(t, Config{Agents: 1, KillGracePeriod: 200 * time.Millisecond})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	group := func(o mesos.Offer, eid string, tasks ...mesos.TaskInfo) *scheduler.Call {
		return &scheduler.Call{Type: scheduler.Call_ACCEPT, Accept: &scheduler.Call_Accept{
			OfferIDs: []mesos.OfferID{o.ID},
			Operations: []mesos.Offer_Operation{{Type: mesos.Offer_Operation_LAUNCH_GROUP, LaunchGroup: &mesos.Offer_Operation_LaunchGroup{
				Executor: mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: eid},
					Resources: mesos.Resources{scalar("cpus", 0.1), scalar("mem", 32)}},
				TaskGroup: mesos.TaskGroupInfo{Tasks: tasks}}}},
			Filters: &mesos.Filters{RefuseSeconds: ptr(0.0)},
		}}
	}
	s.mustCall(group(o, "e1", cmdTask(o, "long", "exec sleep 60", nil), cmdTask(o, "crash", "sleep 0.3; exit 1", nil)))
	s.update("long", mesos.TASK_RUNNING)
	st := s.update("crash", mesos.TASK_FAILED)
	if st.GetExecutorID().GetValue() != "e1" {
		t.Errorf("update %+v: want executor e1", st)
	}
	s.update("long", mesos.TASK_KILLED)
	// The executor's resources come back with its tasks'.
	full := s.nextMatch("a full offer", func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		if cpus, mem, _ := offerCPUs(ev.Offers.Offers[0]); cpus == DefaultCPUs && mem == DefaultMem {
			return true
		}
		s.decline(ev.Offers.Offers[0], 0)
		return false
	}).Offers.Offers[0]
	t.Run("invalid group is all or nothing", func(t *testing.T) {
		defer s.use(t)()
		o := full
		bad := cmdTask(o, "g2", "exit 0", nil)
		bad.Resources[0] = scalar("cpus", 1000)
		s.mustCall(group(o, "e2", cmdTask(o, "g1", "exit 0", nil), bad))
		for _, id := range []string{"g1", "g2"} {
			if st := s.update(id, mesos.TASK_ERROR); st.GetReason() != mesos.REASON_TASK_GROUP_INVALID {
				t.Errorf("%s: %+v, want REASON_TASK_GROUP_INVALID", id, st)
			}
		}
	})
}

func TestProcessGroupIsCleanedUp(t *testing.T) {
	tests := []struct {
		name  string
		cmd   string
		kill  bool
		state mesos.TaskState
	}{
		{name: "killed task takes its children", cmd: `sleep 60 & echo $! > child; wait`, kill: true, state: mesos.TASK_KILLED},
		{name: "finished task leaves no children", cmd: `sleep 60 & echo $! > child; sleep 0.2; exit 0`, state: mesos.TASK_FINISHED},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, Config{Agents: 1})
			s := newSched(t, c, mediaJSON)
			s.subscribe(frameworkInfo("t"))
			o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
			s.mustCall(launchCall(o, 0, cmdTask(o, "p", tc.cmd, nil)))
			s.update("p", mesos.TASK_RUNNING)
			sandbox := c.Tasks()[0].Sandbox
			var child int
			waitFor(t, "the child's pid", func() bool {
				b, err := os.ReadFile(filepath.Join(sandbox, "child"))
				_, serr := fmt.Sscan(string(b), &child)
				return err == nil && serr == nil && child > 0
			})
			if tc.kill {
				s.mustCall(&scheduler.Call{Type: scheduler.Call_KILL, Kill: &scheduler.Call_Kill{TaskID: mesos.TaskID{Value: "p"}}})
			}
			s.update("p", tc.state)
			waitFor(t, "the child to be gone", func() bool { return processGone(child) })
		})
	}
}

func TestMaxCompletionTime(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaJSON)
	s.subscribe(frameworkInfo("t"))
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	ti := cmdTask(o, "slow", "exec sleep 60", nil)
	ti.MaxCompletionTime = &mesos.DurationInfo{Nanoseconds: (200 * time.Millisecond).Nanoseconds()}
	start := time.Now()
	s.mustCall(launchCall(o, 0, ti))
	st := s.update("slow", mesos.TASK_FAILED)
	if st.GetReason() != mesos.REASON_MAX_COMPLETION_TIME_REACHED || time.Since(start) < 200*time.Millisecond {
		t.Errorf("%+v after %v: want REASON_MAX_COMPLETION_TIME_REACHED after 200ms", st, time.Since(start))
	}
}

func TestMultiRoleOffersCarryAllocationInfo(t *testing.T) {
	c := startCluster(t, Config{Agents: 1})
	s := newSched(t, c, mediaProtobuf)
	fi := frameworkInfo("t")
	fi.Roles = []string{"web"}
	fi.Capabilities = []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE}}
	s.subscribe(fi)
	o := s.next(scheduler.Event_OFFERS).Offers.Offers[0]
	if o.AllocationInfo.GetRole() != "web" {
		t.Errorf("offer allocation_info %v, want role web", o.AllocationInfo)
	}
	for _, r := range o.Resources {
		if r.AllocationInfo.GetRole() != "web" {
			t.Errorf("resource %v without allocation_info role web", r)
		}
	}
	// Tasks echo allocation_info, as a MULTI_ROLE scheduler must.
	ti := cmdTask(o, "t1", "exit 0", nil)
	mesos.Resources(ti.Resources).Allocate("web")
	s.mustCall(launchCall(o, 0, ti))
	s.update("t1", mesos.TASK_FINISHED)
}
