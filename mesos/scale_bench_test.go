package mesos

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/scaler"
)

// bigClusterEnv makes the test binary run a large mesos/local cluster of
// in-process tasks (see serveBigCluster) instead of its tests; its value
// is "AGENTS:BEGIN-END".
const bigClusterEnv = "WEBFARM_MESOS_BIG_CLUSTER"

func init() {
	// Before TestMain: this binary is the benchmark's cluster process.
	if spec := os.Getenv(bigClusterEnv); spec != "" {
		os.Exit(serveBigCluster(spec))
	}
}

// serveBigCluster runs mesos/local with many agents and in-process tasks
// for a benchmark in the parent, so that the parent's memory is the
// scheduler's alone. It prints the master's URL and runs until stdin
// closes.
func serveBigCluster(spec string) int {
	var agents int
	var pr local.PortRange
	if _, err := fmt.Sscanf(spec, "%d:%d-%d", &agents, &pr.Begin, &pr.End); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := local.Start(ctx, local.Config{Agents: agents, Ports: pr, InProcessTasks: true,
		AllocationInterval: 100 * time.Millisecond, HeartbeatInterval: 5 * time.Second, KillGracePeriod: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		return 1
	}
	defer c.Close()
	fmt.Println(c.URL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startBigCluster starts serveBigCluster in a child process with agents
// agents sharing 12,000 ports (60 each for 200 agents) and returns its URL
// and a func that stops it.
func startBigCluster(b *testing.B, agents int) (string, func()) {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	return startChildCluster(b, exe, fmt.Sprintf("%s=%d:%d-%d", bigClusterEnv, agents, 12000, 23999))
}

func needBench(b *testing.B) {
	b.Helper()
	if os.Getenv("WEBFARM_BENCH") != "1" {
		b.Skip("a cluster of 200 agents and up to 10,000 tasks: set WEBFARM_BENCH=1 (make bench)")
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// cheapTask is a task for in-process clusters: the command is checked by
// the agent but not run.
func cheapTask(name string) TaskTemplate {
	return TaskTemplate{Name: name, Command: []string{"/bin/true"}, CPUs: 0.01, Mem: 8}
}

// benchFarm is a scheduler running against a big cluster.
type benchFarm struct {
	s      *Scheduler
	cancel context.CancelFunc
	done   chan error
}

func startBenchFarm(b *testing.B, cfg Config) *benchFarm {
	b.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &benchFarm{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- s.Run(ctx) }()
	return f
}

func (f *benchFarm) stop() { f.cancel(); <-f.done }

// eventCount returns the number of events handled so far.
func (s *Scheduler) eventCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events
}

// benchWait polls cond every 50ms until it holds, failing after limit.
// (Polling reads the scheduler's state under its lock: more often, it
// would slow down what it measures.)
func benchWait(b *testing.B, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	b.Helper()
	start := time.Now()
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			b.Fatalf("%s: not after %v: %s", what, limit, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// atCount reports whether target runs n tasks, all in mem's pool, and
// knows of no other (those removed have ended).
func atCount(target interface {
	scaler.Runner
	Tasks() []Task
}, mem *lbtest.Memory, n int) func() (bool, string) {
	return func() (bool, string) {
		// Cheapest first: polling must not load the scheduler.
		st, err := target.Status(context.Background())
		if err != nil || st.Running != n || st.Starting != 0 {
			return false, fmt.Sprintf("status %+v, err %v", st, err)
		}
		pool, _ := mem.Backends(context.Background())
		if len(pool) != n {
			return false, fmt.Sprintf("status %+v, %d in the pool", st, len(pool))
		}
		tasks := len(target.Tasks()) // a snapshot of every task, under the scheduler's lock: last
		return tasks == n, fmt.Sprintf("status %+v, %d in the pool, %d tasks known", st, len(pool), tasks)
	}
}

// BenchmarkScale10000 scales one service on mesos/local with 200 agents
// and in-process tasks from 0 to 1,000 and 10,000 tasks, restarts the
// scheduler at 10,000, and scales back to 0. It reports the time until
// all tasks run and are in the balancer at each step (s-to-1k, s-to-10k,
// s-to-0), the time a restarted scheduler takes to reconcile and adopt
// 10,000 tasks (s-reconcile-10k), the scheduler's live heap per task at
// 1,000 and 10,000 tasks (B/task-1k, B/task-10k: equal if it grows
// linearly), and the events both schedulers handled per second over the
// run (events/s). The
// cluster runs in a child process: the heap is the scheduler's and the
// in-memory balancer's.
func BenchmarkScale10000(b *testing.B) {
	needBench(b)
	for b.Loop() {
		url, stopCluster := startBigCluster(b, 200)
		mem := lbtest.NewMemory()
		cfg := Config{
			Masters: []string{url}, Balancer: mem, Task: cheapTask("bench"),
			StateFile: filepath.Join(b.TempDir(), "state.json"),
			Tick:      100 * time.Millisecond, ReconnectMin: 50 * time.Millisecond,
			ReconcileTimeout: time.Minute, RequestTimeout: 30 * time.Second,
			Logger: testLogger(b),
		}
		f := startBenchFarm(b, cfg)
		benchWait(b, time.Minute, "connected", func() (bool, string) { return f.s.Connected(), "" })
		base := heapInUse()
		start := time.Now()
		step := func(s *Scheduler, n int) time.Duration {
			if err := s.SetDesired(context.Background(), n); err != nil {
				b.Fatal(err)
			}
			return benchWait(b, 5*time.Minute, fmt.Sprintf("%d tasks", n), atCount(s, mem, n))
		}
		to1k := step(f.s, 1000)
		heap1k := heapInUse()
		to10k := step(f.s, 10000)
		heap10k := heapInUse()

		events := f.s.eventCount()
		f.stop()
		f = startBenchFarm(b, cfg)
		reconcile := benchWait(b, 5*time.Minute, "10,000 tasks adopted", func() (bool, string) {
			ok, state := atCount(f.s, mem, 10000)()
			return ok && f.s.reconciledNow(), state
		})
		to0 := step(f.s, 0)
		elapsed := time.Since(start)
		events += f.s.eventCount()
		f.stop()
		stopCluster()

		b.ReportMetric(to1k.Seconds(), "s-to-1k")
		b.ReportMetric(to10k.Seconds(), "s-to-10k")
		b.ReportMetric(reconcile.Seconds(), "s-reconcile-10k")
		b.ReportMetric(to0.Seconds(), "s-to-0")
		b.ReportMetric(float64(int64(heap1k)-int64(base))/1000, "B/task-1k")
		b.ReportMetric(float64(int64(heap10k)-int64(base))/10000, "B/task-10k")
		b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	}
}

// BenchmarkTenServices scales 10 services of one framework at once from 0
// to 100 tasks each (1,000 in all) on 200 agents with in-process tasks,
// and back to 0: the time until every service runs its count in its own
// balancer (s-up, s-down), and the spread between the first and the last
// service to get there on the way up (s-spread-up: small if offers are
// shared fairly).
func BenchmarkTenServices(b *testing.B) {
	needBench(b)
	const services, per = 10, 100
	for b.Loop() {
		url, stopCluster := startBigCluster(b, 200)
		var scs []ServiceConfig
		mems := map[string]*lbtest.Memory{}
		for i := range services {
			name := fmt.Sprintf("svc%02d", i)
			mems[name] = lbtest.NewMemory()
			scs = append(scs, ServiceConfig{Name: name, Task: cheapTask(""), Balancer: mems[name]})
		}
		f := startBenchFarm(b, Config{
			Masters: []string{url}, Services: scs,
			Tick: 100 * time.Millisecond, ReconnectMin: 50 * time.Millisecond,
			RequestTimeout: 30 * time.Second, Logger: testLogger(b),
		})
		benchWait(b, time.Minute, "connected", func() (bool, string) { return f.s.Connected(), "" })
		scaleAll := func(n int) (all, spread time.Duration) {
			start := time.Now()
			for _, sc := range scs {
				h, err := f.s.Service(sc.Name)
				if err != nil {
					b.Fatal(err)
				}
				if err := h.SetDesired(context.Background(), n); err != nil {
					b.Fatal(err)
				}
			}
			done := map[string]time.Duration{}
			benchWait(b, 5*time.Minute, fmt.Sprintf("%d services at %d", services, n), func() (bool, string) {
				for _, sc := range scs {
					if _, ok := done[sc.Name]; ok {
						continue
					}
					h, _ := f.s.Service(sc.Name)
					if ok, _ := atCount(h, mems[sc.Name], n)(); ok {
						done[sc.Name] = time.Since(start)
					}
				}
				return len(done) == services, fmt.Sprintf("%d of %d services done", len(done), services)
			})
			first, last := time.Duration(1<<62), time.Duration(0)
			for _, d := range done {
				first, last = min(first, d), max(last, d)
			}
			return last, last - first
		}
		up, spread := scaleAll(per)
		down, _ := scaleAll(0)
		f.stop()
		stopCluster()
		b.ReportMetric(up.Seconds(), "s-up")
		b.ReportMetric(spread.Seconds(), "s-spread-up")
		b.ReportMetric(down.Seconds(), "s-down")
	}
}
