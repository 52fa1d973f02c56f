package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// process is a task or executor running as a local process in its own
// process group.
type process struct {
	cmd  *exec.Cmd
	pgid int
	done chan struct{}
	mu   sync.Mutex
	exit *os.ProcessState
	err  error
	// stop, if set, replaces signals for an in-process task (see
	// startResponder): it is called instead of kill(2).
	stop func(syscall.Signal)
}

// commandArgv turns a CommandInfo into argv: /bin/sh -c VALUE when shell is
// true (the default), else VALUE with ARGUMENTS as argv.
func commandArgv(ci *mesos.CommandInfo) (path string, argv []string, err error) {
	if ci == nil {
		return "", nil, errors.New("no command")
	}
	if ci.GetShell() {
		if ci.GetValue() == "" {
			return "", nil, errors.New("command.value is required when command.shell is true")
		}
		return "/bin/sh", []string{"/bin/sh", "-c", ci.GetValue()}, nil
	}
	if ci.GetValue() == "" {
		return "", nil, errors.New("command.value (the executable) is required when command.shell is false")
	}
	argv = ci.Arguments
	if len(argv) == 0 {
		argv = []string{ci.GetValue()}
	}
	return ci.GetValue(), argv, nil
}

// commandEnv returns the environment of a command: the agent's own, the
// MESOS_* variables, then command.environment (which wins).
func commandEnv(base map[string]string, ci *mesos.CommandInfo) ([]string, error) {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for k, v := range base {
		env[k] = v
	}
	if ci != nil && ci.Environment != nil {
		for _, v := range ci.Environment.Variables {
			if v.Name == "" || strings.ContainsAny(v.Name, "=\x00") {
				return nil, fmt.Errorf("environment variable name %q is invalid", v.Name)
			}
			if v.GetType() == mesos.Environment_Variable_SECRET || v.Secret != nil {
				return nil, fmt.Errorf("environment variable %q: secrets are not supported by mesos/local", v.Name)
			}
			if strings.Contains(v.GetValue(), "\x00") {
				return nil, fmt.Errorf("environment variable %q: value contains NUL", v.Name)
			}
			env[v.Name] = v.GetValue()
		}
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out, nil
}

// startProcess runs a command in dir with its stdout and stderr in files
// there. onExit runs (without locks) after the process and its group ended.
func startProcess(ci *mesos.CommandInfo, dir string, env map[string]string, onExit func(*process)) (*process, error) {
	path, argv, err := commandArgv(ci)
	if err != nil {
		return nil, err
	}
	e, err := commandEnv(env, ci)
	if err != nil {
		return nil, err
	}
	stdout, err := os.OpenFile(filepath.Join(dir, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()
	if !strings.Contains(path, "/") {
		if lp, err := lookPath(path, e); err == nil {
			path = lp
		}
	} else if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: dir, Env: e, Stdout: stdout, Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		_ = syscall.Kill(-p.pgid, syscall.SIGKILL) // what is left of the group
		p.mu.Lock()
		p.exit, p.err = cmd.ProcessState, err
		p.mu.Unlock()
		close(p.done)
		if onExit != nil {
			onExit(p)
		}
	}()
	return p, nil
}

// lookPath finds an executable in the command's PATH.
func lookPath(name string, env []string) (string, error) {
	pathEnv := os.Getenv("PATH")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, d := range filepath.SplitList(pathEnv) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// signal sends sig to the process group unless the process has ended.
func (p *process) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	if p.stop != nil {
		p.stop(sig)
		return
	}
	_ = syscall.Kill(-p.pgid, sig)
}

// wait waits for the process to end or ctx to be done.
func (p *process) wait(ctx context.Context) {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}

// describeExit words an exit the way the command executor does.
func describeExit(ps *os.ProcessState) (code int, msg string) {
	if ps == nil {
		return -1, "Command exited abnormally"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, "Command terminated with signal " + signalName(ws.Signal())
	}
	return ps.ExitCode(), fmt.Sprintf("Command exited with status %d", ps.ExitCode())
}

func signalName(s syscall.Signal) string {
	n := s.String()
	if n == "" {
		return fmt.Sprint(int(s))
	}
	return strings.ToUpper(n[:1]) + n[1:]
}
