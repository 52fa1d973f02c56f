package haproxyproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// Proc is a running haproxy. Its methods are safe for concurrent use.
type Proc struct {
	cfg      Config
	dir      string
	ownDir   bool
	cfgPath  string
	socket   string
	statsTCP netip.AddrPort
	frontend netip.AddrPort
	log      *slog.Logger

	mu        sync.Mutex
	cur       *child   // the process serving now (the master with MasterWorker)
	all       []*child // every process started and not yet reaped
	workerPID int      // the Pid the stats socket last reported
	stopped   bool
}

// child is one haproxy process we started.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result, set before done is closed
	tail *tail
}

// Start writes the configuration and starts haproxy, and returns once its
// admin stats socket answers. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Proc, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Proc{cfg: cfg, log: cfg.Logger.With("component", "haproxyproc")}
	if cfg.Dir == "" {
		if p.dir, err = os.MkdirTemp("", "haproxy-"); err != nil {
			return nil, fmt.Errorf("haproxyproc: %w", err)
		}
		p.ownDir = true
	} else {
		if p.dir, err = filepath.Abs(cfg.Dir); err != nil {
			return nil, fmt.Errorf("haproxyproc: Dir %q: %w", cfg.Dir, err)
		}
		if err := os.MkdirAll(p.dir, 0o700); err != nil {
			return nil, fmt.Errorf("haproxyproc: %w", err)
		}
	}
	p.cfgPath = filepath.Join(p.dir, "haproxy.cfg")
	p.socket = filepath.Join(p.dir, "admin.sock")
	if len(p.socket) > maxSocketPath {
		p.cleanupDir()
		return nil, fmt.Errorf("%w: socket path %q is %d bytes, longer than the %d a unix socket allows: use a shorter Dir",
			ErrConfig, p.socket, len(p.socket), maxSocketPath)
	}
	// A port picked here may be taken by someone else before haproxy binds
	// it: retry with fresh ports.
	for attempt := 1; ; attempt++ {
		err = p.startOnce(ctx)
		if err == nil {
			return p, nil
		}
		if attempt >= 3 || cfg.FrontendPort != 0 || !errors.Is(err, errBind) || ctx.Err() != nil {
			p.cleanupDir()
			return nil, err
		}
		p.log.Debug("port taken, retrying", "err", err)
	}
}

// StartTest starts haproxy for a test and stops it in t.Cleanup. It fails
// the test if haproxy cannot start.
func StartTest(t testing.TB, cfg Config) *Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("haproxyproc: Stop: %v", err)
		}
	})
	return p
}

var errBind = errors.New("cannot bind")

func (p *Proc) startOnce(ctx context.Context) error {
	port := p.cfg.FrontendPort
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	p.frontend = netip.AddrPortFrom(loopback, uint16(port))
	if p.cfg.StatsTCP {
		sp, err := freePort()
		if err != nil {
			return err
		}
		p.statsTCP = netip.AddrPortFrom(loopback, uint16(sp))
	}
	if err := p.writeConfig(); err != nil {
		return err
	}
	c, err := p.spawn(nil)
	if err != nil {
		return err
	}
	pid, err := p.waitReady(ctx, c, 0, 0)
	if err != nil {
		p.kill(c)
		return err
	}
	p.mu.Lock()
	p.cur, p.workerPID = c, pid
	p.mu.Unlock()
	p.log.Info("haproxy started", "pid", c.cmd.Process.Pid, "frontend", p.frontend, "socket", p.socket)
	return nil
}

func (p *Proc) writeConfig() error {
	p.mu.Lock()
	text := render(p.cfg, files{socket: p.socket, statsTCP: p.statsTCP, frontend: p.frontend})
	p.mu.Unlock()
	tmp := p.cfgPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return fmt.Errorf("haproxyproc: write config: %w", err)
	}
	if err := os.Rename(tmp, p.cfgPath); err != nil {
		return fmt.Errorf("haproxyproc: write config: %w", err)
	}
	return nil
}

func (p *Proc) binary() string {
	if p.cfg.Binary != "" {
		return p.cfg.Binary
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy"
	}
	return "haproxy"
}

// spawn starts haproxy; finish lists pids to soft-stop (-sf).
func (p *Proc) spawn(finish []int) (*child, error) {
	args := []string{"-db", "-f", p.cfgPath}
	if p.cfg.MasterWorker {
		args = append([]string{"-W"}, args...)
	}
	if len(finish) > 0 {
		args = append(args, "-sf")
		for _, pid := range finish {
			args = append(args, strconv.Itoa(pid))
		}
	}
	cmd := exec.Command(p.binary(), args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("haproxyproc: %w", err)
	}
	cmd.Stderr = cmd.Stdout
	c := &child{cmd: cmd, done: make(chan struct{}), tail: &tail{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errors.New("haproxyproc: stopped")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("haproxyproc: start %s: %w", p.binary(), err)
	}
	p.all = append(p.all, c)
	log := p.log.With("pid", cmd.Process.Pid)
	go func() {
		c.tail.copy(out, log)
		c.err = cmd.Wait()
		close(c.done)
		log.Debug("haproxy exited", "err", c.err)
		p.mu.Lock()
		for i, o := range p.all {
			if o == c {
				p.all = append(p.all[:i], p.all[i+1:]...)
				break
			}
		}
		p.mu.Unlock()
	}()
	return c, nil
}

// waitReady polls the stats socket until it reports a worker pid other
// than oldPID, and returns that pid. With MasterWorker it also waits for
// the master's "Loading success." number minLoads+1, so that the master
// is ready for a reload when waitReady returns.
func (p *Proc) waitReady(ctx context.Context, c *child, oldPID, minLoads int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		pid, err := p.socketPID(ctx)
		loads, _ := c.tail.loads()
		if err == nil && pid != oldPID && (!p.cfg.MasterWorker || loads > minLoads) {
			return pid, nil
		}
		switch {
		case err != nil:
			lastErr = err
		case pid == oldPID:
			lastErr = fmt.Errorf("stats socket still answers for the old process %d", pid)
		default:
			lastErr = errors.New("the master has not reported \"Loading success.\" yet")
		}
		select {
		case <-c.done:
			out := c.tail.String()
			err := fmt.Errorf("haproxyproc: haproxy exited during start-up (%v): %s", c.err, out)
			if strings.Contains(out, "cannot bind socket") || strings.Contains(out, "Address already in use") {
				err = fmt.Errorf("%w: %w", errBind, err)
			}
			return 0, err
		case <-ctx.Done():
			return 0, fmt.Errorf("haproxyproc: waiting for %s: %w (last: %v; output: %s)", p.socket, ctx.Err(), lastErr, c.tail.String())
		case <-tick.C:
		}
	}
}

// socketPID asks the stats socket for the worker's pid.
func (p *Proc) socketPID(ctx context.Context) (int, error) {
	out, err := query(ctx, p.socket, "show info")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Pid in show info: %.200q", out)
}

// query sends one command to a unix stats socket and returns the answer.
func query(ctx context.Context, socket, cmd string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline := time.Now().Add(2 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	return string(b), err
}

// FrontendAddr is where clients connect (127.0.0.1:port).
func (p *Proc) FrontendAddr() netip.AddrPort { return p.frontend }

// URL is "http://" + FrontendAddr + "/".
func (p *Proc) URL() string { return "http://" + p.frontend.String() + "/" }

// Socket is the path of the admin stats socket (level admin, mode 600).
func (p *Proc) Socket() string { return p.socket }

// StatsAddr is the TCP admin stats socket, or the zero AddrPort unless
// Config.StatsTCP is set.
func (p *Proc) StatsAddr() netip.AddrPort { return p.statsTCP }

// Backend is the name of the backend section a driver manages.
func (p *Proc) Backend() string { return p.cfg.Backend }

// Frontend is the name of the frontend section.
func (p *Proc) Frontend() string { return p.cfg.Frontend }

// ConfigPath is the path of the haproxy.cfg in use. Restart and Reload
// read it from disk, so changes written to it (for example by lb/haproxy
// with Config.ConfigFile set to this path) are what the new process runs.
func (p *Proc) ConfigPath() string { return p.cfgPath }

// PID is the pid of the process Start (or the last Restart) started: the
// master with Config.MasterWorker, else the only haproxy process.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.cmd.Process.Pid
}

// WorkerPID is the pid the stats socket reported when the process last
// became ready (the worker's, with Config.MasterWorker).
func (p *Proc) WorkerPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workerPID
}

// SetServers rewrites the configuration with these static servers (named
// s0, s1, …). It does not touch the running process: Restart or Reload
// applies it. This is how pools were changed before the runtime API.
func (p *Proc) SetServers(servers []netip.AddrPort) error {
	for i, s := range servers {
		if !s.IsValid() || s.Port() == 0 {
			return fmt.Errorf("%w: servers[%d] = %s is not an address with a port", ErrConfig, i, s)
		}
	}
	p.mu.Lock()
	p.cfg.Servers = append([]netip.AddrPort(nil), servers...)
	p.mu.Unlock()
	return p.writeConfig()
}

// Restart starts a new haproxy with -sf, so the old process stops
// accepting, finishes its connections and exits. The new process reads
// haproxy.cfg from disk (ConfigPath), as an operator's restart would: it
// has fresh counters, and of the servers added at run time only those
// also written to the file (lb/haproxy's Config.ConfigFile).
// It returns once the stats socket answers from the new process.
func (p *Proc) Restart(ctx context.Context) error {
	p.mu.Lock()
	old, oldWorker := p.cur, p.workerPID
	p.mu.Unlock()
	if old == nil {
		return errors.New("haproxyproc: not running")
	}
	c, err := p.spawn([]int{old.cmd.Process.Pid})
	if err != nil {
		return err
	}
	pid, err := p.waitReady(ctx, c, oldWorker, 0)
	if err != nil {
		p.kill(c)
		return fmt.Errorf("haproxyproc: restart: %w", err)
	}
	p.mu.Lock()
	p.cur, p.workerPID = c, pid
	p.mu.Unlock()
	p.log.Info("haproxy restarted", "old", old.cmd.Process.Pid, "new", c.cmd.Process.Pid)
	return nil
}

// Reload reloads a master-worker haproxy (SIGUSR2 to the master): a new
// worker takes over the listeners and the old one finishes its connections.
// The master re-reads haproxy.cfg from disk (ConfigPath). Counters are
// lost, and so are servers added at run time but not written to the file. It returns once the
// stats socket answers from the new worker. Without Config.MasterWorker it
// returns an error wrapping ErrConfig.
func (p *Proc) Reload(ctx context.Context) error {
	if !p.cfg.MasterWorker {
		return fmt.Errorf("%w: Reload needs MasterWorker (use Restart)", ErrConfig)
	}
	p.mu.Lock()
	c, oldWorker := p.cur, p.workerPID
	p.mu.Unlock()
	if c == nil {
		return errors.New("haproxyproc: not running")
	}
	loads, _ := c.tail.loads()
	if err := p.signalReload(ctx, c); err != nil {
		return err
	}
	pid, err := p.waitReady(ctx, c, oldWorker, loads)
	if err != nil {
		return fmt.Errorf("haproxyproc: reload: %w", err)
	}
	p.mu.Lock()
	p.workerPID = pid
	p.mu.Unlock()
	p.log.Info("haproxy reloaded", "worker", pid)
	return nil
}

// signalReload sends SIGUSR2 to the master until it says "Reloading
// HAProxy". A master that has only just started can miss the signal (seen
// here on haproxy 2.6.12 when USR2 follows start-up closely: its handler
// is registered only after "Loading success."). A second reload caused by
// a late answer is harmless.
func (p *Proc) signalReload(ctx context.Context, c *child) error {
	before, _ := c.tail.reloading()
	for attempt := 1; ; attempt++ {
		if err := c.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			return fmt.Errorf("haproxyproc: reload: %w", err)
		}
		timeout := time.NewTimer(300 * time.Millisecond)
		for {
			n, change := c.tail.reloading()
			if n > before {
				timeout.Stop()
				return nil
			}
			select {
			case <-change:
				continue
			case <-ctx.Done():
				timeout.Stop()
				return fmt.Errorf("haproxyproc: reload: %w", ctx.Err())
			case <-c.done:
				timeout.Stop()
				return fmt.Errorf("haproxyproc: reload: haproxy exited (%v): %s", c.err, c.tail.String())
			case <-timeout.C:
			}
			break
		}
		if attempt == 10 {
			return fmt.Errorf("haproxyproc: reload: the master did not take SIGUSR2 in %d tries: %s", attempt, c.tail.String())
		}
		p.log.Debug("master did not take SIGUSR2; sending it again", "attempt", attempt)
	}
}

// Stop kills every haproxy process this Proc started (SIGTERM, then
// SIGKILL after 3 s), waits for them to exit, and removes Dir if Start
// created it. It is idempotent.
func (p *Proc) Stop() error {
	p.mu.Lock()
	p.stopped = true
	procs := append([]*child(nil), p.all...)
	p.cur = nil
	p.mu.Unlock()
	for _, c := range procs {
		p.kill(c)
	}
	p.cleanupDir()
	return nil
}

// kill stops c's process group and waits for c to be reaped.
func (p *Proc) kill(c *child) {
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	}
	// Workers of a master-worker haproxy share its group: make sure none
	// outlives the master.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func (p *Proc) cleanupDir() {
	if p.ownDir {
		_ = os.RemoveAll(p.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("haproxyproc: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail logs a process's output (at debug level: haproxy's alerts include
// routine ones such as "backend has no server available") and keeps its
// last lines for errors.
type tail struct {
	mu    sync.Mutex
	lines []string
	// loaded counts "Loading success." lines: a master-worker haproxy's
	// master prints one when a worker is up and the master is in its loop,
	// ready for the next SIGUSR2.
	loaded int
	// reloads counts "Reloading HAProxy" lines: the master took a SIGUSR2.
	reloads int
	change  chan struct{} // closed and replaced on every line
}

// reloading returns the number of "Reloading HAProxy" lines so far and a
// channel closed at the next line of output.
func (t *tail) reloading() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.change == nil {
		t.change = make(chan struct{})
	}
	return t.reloads, t.change
}

// loads returns the number of "Loading success." lines so far and a
// channel closed at the next line of output.
func (t *tail) loads() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.change == nil {
		t.change = make(chan struct{})
	}
	return t.loaded, t.change
}

func (t *tail) copy(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		log.Debug("haproxy", "line", line)
		t.mu.Lock()
		if strings.Contains(line, "Loading success.") {
			t.loaded++
		}
		if strings.Contains(line, "Reloading HAProxy") {
			t.reloads++
		}
		if t.change != nil {
			close(t.change)
			t.change = nil
		}
		t.lines = append(t.lines, line)
		if len(t.lines) > 20 {
			t.lines = t.lines[1:]
		}
		t.mu.Unlock()
	}
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
