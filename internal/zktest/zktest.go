// Package zktest runs a real ZooKeeper server (Debian's zookeeper
// package) for tests: standalone, on 127.0.0.1, on a free port, with its
// data in a temporary directory, stopped and removed by [Server.Stop].
//
// A test package shares one server through [Main] and [Shared]:
//
//	func TestMain(m *testing.M) { zktest.Main(m) }
//
//	func TestX(t *testing.T) {
//		srv := zktest.Shared(t) // skips (fails under WEBFARM_REQUIRE=1) without ZooKeeper
//		conn := dial(srv.Addr)
//	}
//
// [Proxy] sits between a client and the server and can cut the path
// without closing it (a partition: bytes stop flowing, nothing is reset).
package zktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/testenv"
)

// Install says how to get ZooKeeper and Java on this machine.
const Install = "scripts/deps.sh test installs it (apt-get install zookeeper)"

// TickTime is the server's tick. ZooKeeper accepts session timeouts from
// 2 to 20 ticks by default; [Start] widens that to 2 ticks … 60 s, so tests
// may ask for sessions as short as 400 ms.
const TickTime = 200 * time.Millisecond

// ErrNotInstalled is returned by [Start] when java or ZooKeeper's jars are
// missing.
var ErrNotInstalled = errors.New("zktest: java or /usr/share/java/zookeeper.jar missing")

// Server is a running ZooKeeper server.
type Server struct {
	// Addr is the client address, "127.0.0.1:port".
	Addr string

	dir  string
	cmd  *exec.Cmd
	done chan error
	log  string
}

// Start starts a standalone server and returns once it answers "ruok"
// with "imok". ctx bounds the start.
func Start(ctx context.Context) (*Server, error) {
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, ErrNotInstalled
	}
	if _, err := os.Stat("/usr/share/java/zookeeper.jar"); err != nil {
		return nil, ErrNotInstalled
	}
	var lastErr error
	for range 3 { // the free port may be taken before the JVM binds it
		s, err := start(ctx, java)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, java string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "webfarm-zk-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, done: make(chan error, 1), log: filepath.Join(dir, "zookeeper.log")}
	cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
minSessionTimeout=%d
maxSessionTimeout=60000
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok
`, TickTime.Milliseconds(), filepath.Join(dir, "data"), port, 2*TickTime.Milliseconds())
	cfgPath := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(s.log)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(java, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.log.dir="+dir, "-Dzookeeper.root.logger=INFO,CONSOLE",
		"-cp", "/usr/share/java/*:/etc/zookeeper/conf",
		"org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("zktest: start java: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	for {
		if ruok(s.Addr) {
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			tail := s.logTail()
			s.Stop()
			return nil, fmt.Errorf("zktest: server exited (%v): %s", err, tail)
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("zktest: server did not answer ruok: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ruok reports whether the server at addr answers "imok".
func ruok(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	b, _ := io.ReadAll(c)
	return string(b) == "imok"
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// Stop kills the server and removes its directory. It is safe to call
// more than once.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
	os.RemoveAll(s.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Shared returns the package's shared server, starting it on first use
// (within 60 s). Without java or ZooKeeper it calls [testenv.Need]: the
// test skips, or fails under WEBFARM_REQUIRE=1. Any other start failure
// fails the test.
func Shared(t testenv.T) *Server {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		shared.srv, shared.err = Start(ctx)
	})
	if errors.Is(shared.err, ErrNotInstalled) {
		testenv.Need(t, "ZooKeeper (java, /usr/share/java/zookeeper.jar)", Install)
		return nil
	}
	if shared.err != nil {
		t.Fatalf("%v", shared.err)
	}
	return shared.srv
}

// Main runs the tests and stops the shared server, if one was started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	shared.srv.Stop()
	os.Exit(code)
}

// Proxy forwards TCP connections to a target and can cut them: while cut,
// no byte moves in either direction and new connections wait, but nothing
// is closed, as in a network partition.
type Proxy struct {
	// Addr is where clients connect.
	Addr string

	target string
	l      net.Listener

	mu      sync.Mutex
	cut     bool
	restore chan struct{} // closed when the cut ends
	conns   map[net.Conn]bool
	closed  bool
}

// NewProxy listens on 127.0.0.1 and forwards to target until Close.
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, restore: make(chan struct{}), conns: make(map[net.Conn]bool)}
	close(p.restore)
	go p.accept()
	return p, nil
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) serve(c net.Conn) {
	if !p.track(c) {
		return
	}
	p.wait()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(up) {
		c.Close()
		return
	}
	go p.pipe(up, c)
	p.pipe(c, up)
}

// untrack closes cs and forgets them.
func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// wait blocks while the proxy is cut.
func (p *Proxy) wait() {
	p.mu.Lock()
	ch := p.restore
	p.mu.Unlock()
	<-ch
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.untrack(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait() // a cut holds what was read
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut stops all traffic through the proxy until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.cut {
		p.cut = true
		p.restore = make(chan struct{})
	}
}

// Restore lets traffic flow again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		p.cut = false
		close(p.restore)
	}
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.l.Close()
	p.Restore()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
}
