package local

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ErrClosed is returned by methods of a Cluster after Close.
var ErrClosed = errors.New("local: cluster closed")

// ErrNotFound is returned (wrapped) by the fault-injection methods for an
// unknown agent or task.
var ErrNotFound = errors.New("local: not found")

// SchedulerPath is the path of the v1 scheduler API on the master.
const SchedulerPath = "/api/v1/scheduler"

// ExecutorPath is the path of the v1 executor API on each agent.
const ExecutorPath = "/api/v1/executor"

// Cluster is a running Mesos master with its agents. All methods are safe
// for concurrent use.
type Cluster struct {
	cfg      Config
	log      *slog.Logger
	workDir  string
	ownsWork bool
	masterID string
	masters  []*master // masters[leader] serves, the others redirect to it

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{} // nudges the allocator

	mu         sync.Mutex
	closed     bool
	seq        uint64
	agents     []*agent
	frameworks map[string]*framework
	removedFw  map[string]bool
	// unreachable holds the agents StopAgent made unreachable, with the
	// time it did (what Mesos keeps in slaves.unreachable).
	unreachable map[string]time.Time
	offers      map[string]*offer
	completed   []TaskInfo        // finished tasks the master no longer tracks, newest last
	fwOrder     []string          // frameworks in subscription order
	roleCount   map[string]uint64 // allocations made to each role (the DRF sorter's tie-breaker)
	leader      int               // index into masters
	noLeader    time.Time         // masters answer 503 until then (an election)
	probes      portProbes        // recent port probes, for offers
}

// master is one master endpoint.
type master struct {
	addr string // host:port
	url  string
	srv  *http.Server
}

// Start starts a master and cfg.Agents agents listening on 127.0.0.1 (on
// ephemeral ports) and returns when they accept requests. ctx bounds the
// start-up only; stop the cluster with Close.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:         cfg,
		log:         cfg.Logger,
		masterID:    newUUIDString(),
		wake:        make(chan struct{}, 1),
		frameworks:  map[string]*framework{},
		removedFw:   map[string]bool{},
		unreachable: map[string]time.Time{},
		offers:      map[string]*offer{},
		roleCount:   map[string]uint64{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.WorkDir == "" {
		d, err := os.MkdirTemp("", "mesos-local-")
		if err != nil {
			return nil, fmt.Errorf("%w: work dir: %w", ErrStart, err)
		}
		c.workDir, c.ownsWork = d, true
	} else {
		if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
			return nil, fmt.Errorf("%w: work dir: %w", ErrStart, err)
		}
		c.workDir = cfg.WorkDir
	}
	fail := func(err error) (*Cluster, error) {
		c.Close()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	for i := range cfg.Masters {
		m, err := c.startMaster(ctx, i)
		if err != nil {
			return fail(err)
		}
		c.masters = append(c.masters, m)
	}
	for i := range cfg.Agents {
		a, err := c.startAgent(ctx, i, c.masterID[:8]+"-S"+strconv.Itoa(i))
		if err != nil {
			return fail(err)
		}
		c.mu.Lock()
		c.agents = append(c.agents, a)
		c.mu.Unlock()
	}
	c.wg.Add(1)
	go c.allocatorLoop()
	c.log.Info("mesos/local started", "url", c.masters[0].url, "masters", cfg.Masters, "agents", cfg.Agents, "work_dir", c.workDir)
	return c, nil
}

// URL returns the scheduler endpoint of the leading master, e.g.
// http://127.0.0.1:PORT/api/v1/scheduler. It changes only when
// FailoverMaster moves the leadership (Config.Masters > 1).
func (c *Cluster) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters[c.leader].url
}

// URLs returns the scheduler endpoints of all masters, leader or not, in a
// fixed order: the list a scheduler is configured with.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.masters))
	for i, m := range c.masters {
		out[i] = m.url
	}
	return out
}

// startMaster starts master endpoint i on 127.0.0.1.
func (c *Cluster) startMaster(ctx context.Context, i int) (*master, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("master %d: listen: %w", i, err)
	}
	scheme := "http"
	if c.cfg.TLS != nil {
		tc := c.cfg.TLS.Clone()
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{"http/1.1"}
		}
		ln = tls.NewListener(ln, tc)
		scheme = "https"
	}
	m := &master{addr: ln.Addr().String()}
	m.url = scheme + "://" + m.addr + SchedulerPath
	mux := http.NewServeMux()
	mux.HandleFunc(SchedulerPath, func(w http.ResponseWriter, r *http.Request) { c.serveMaster(i, w, r) })
	m.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := m.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("master server stopped", "master", i, "err", err)
		}
	}()
	return m, nil
}

// WorkDir returns the directory holding the agents' sandboxes.
func (c *Cluster) WorkDir() string { return c.workDir }

// Close kills every task and executor (SIGKILL to their process groups),
// ends every subscription and stops the servers. It waits for all of the
// cluster's goroutines and removes the work directory if Start created it.
// It is safe to call more than once.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var procs []*process
	for _, fw := range c.frameworks {
		if fw.failoverTimer != nil {
			fw.failoverTimer.Stop()
		}
		for _, t := range fw.tasks {
			t.stopTimers()
			if t.proc != nil {
				procs = append(procs, t.proc)
			}
		}
		for _, ex := range fw.executors {
			if ex.proc != nil {
				procs = append(procs, ex.proc)
			}
			if ex.stream != nil {
				ex.stream.close()
			}
		}
		if fw.stream != nil {
			fw.stream.close()
			fw.stream = nil
		}
	}
	agents := append([]*agent(nil), c.agents...)
	c.mu.Unlock()

	for _, p := range procs {
		p.signal(sigKill)
	}
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, m := range c.masters {
		if err := m.srv.Shutdown(ctx); err != nil {
			m.srv.Close()
		}
	}
	for _, a := range agents {
		if err := a.srv.Shutdown(ctx); err != nil {
			a.srv.Close()
		}
	}
	for _, p := range procs {
		p.wait(ctx)
	}
	c.wg.Wait()
	if c.ownsWork {
		if err := os.RemoveAll(c.workDir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("local: close: %w", err)
	}
	return nil
}

// nextID returns a cluster-unique ID with the given prefix; c.mu must be held.
func (c *Cluster) nextID(prefix string) string {
	c.seq++
	return c.masterID[:8] + "-" + prefix + strconv.FormatUint(c.seq, 10)
}

// kick wakes the allocator without blocking.
func (c *Cluster) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// agentByID returns the agent with that ID or nil; c.mu must be held.
func (c *Cluster) agentByID(id string) *agent {
	for _, a := range c.agents {
		if a.id == id {
			return a
		}
	}
	return nil
}

func newUUID() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}

func newUUIDString() string { return formatUUID(newUUID()) }

func formatUUID(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (c *Cluster) sandboxDir(parts ...string) (string, error) {
	d := filepath.Join(append([]string{c.workDir}, parts...)...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	return d, nil
}

func ptr[T any](v T) *T { return &v }

func nowSeconds() float64 { return float64(time.Now().UnixNano()) / 1e9 }
