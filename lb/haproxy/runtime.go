package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/haproxytech/client-native/v6/runtime"
	"github.com/haproxytech/client-native/v6/runtime/options"
)

// runtimeAPI is the part of client-native's runtime.Runtime the driver
// uses. Its calls take no context and may block for up to client-native's
// 30 s socket timeout; the Balancer runs them so that a cancelled context
// returns at once (see Balancer.run). Errors carry HAProxy's message.
// Implementations must be safe for concurrent use.
type runtimeAPI interface {
	// ExecuteRaw runs commands (';'-separated) with severity-output
	// number and returns HAProxy's answer unparsed.
	ExecuteRaw(command string) (string, error)
	AddServer(backend, name, attributes string) error
	DeleteServer(backend, name string) error
	SetServerState(backend, server, state string) error
	SetServerWeight(backend, server, weight string) error
	EnableServerHealth(backend, server string) error
}

// versionMu serialises runtime.New: client-native caches the HAProxy
// version in a package-level variable that it writes without a lock the
// first time a client reads it.
var versionMu sync.Mutex

// newNative connects client-native's runtime client to a unix stats socket
// (the worker's socket; never the master socket).
func newNative(ctx context.Context, socket string) (runtimeAPI, error) {
	versionMu.Lock()
	defer versionMu.Unlock()
	rt, err := runtime.New(ctx, options.Socket(socket))
	if err != nil {
		return nil, err
	}
	if _, err := rt.GetVersion(); err != nil {
		return nil, fmt.Errorf("read HAProxy version: %w", err)
	}
	return rt, nil
}

// rawRuntime speaks the runtime API over TCP (client-native dials unix
// sockets only). It sends the same commands client-native sends.
type rawRuntime struct {
	addr    string
	timeout time.Duration
}

func (r rawRuntime) ExecuteRaw(command string) (string, error) {
	conn, err := net.DialTimeout("tcp", r.addr, r.timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(r.timeout)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, "set severity-output number;"+command+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (r rawRuntime) execute(command string) error {
	out, err := r.ExecuteRaw(command)
	if err != nil {
		return fmt.Errorf("%w [%s]", err, command)
	}
	if err := severityError(out); err != nil {
		return fmt.Errorf("%w [%s]", err, command)
	}
	return nil
}

func (r rawRuntime) AddServer(backend, name, attributes string) error {
	return r.execute(fmt.Sprintf("add server %s/%s %s", backend, name, attributes))
}

func (r rawRuntime) DeleteServer(backend, name string) error {
	return r.execute(fmt.Sprintf("del server %s/%s", backend, name))
}

func (r rawRuntime) SetServerState(backend, server, state string) error {
	return r.execute(fmt.Sprintf("set server %s/%s state %s", backend, server, state))
}

func (r rawRuntime) SetServerWeight(backend, server, weight string) error {
	return r.execute(fmt.Sprintf("set server %s/%s weight %s", backend, server, weight))
}

func (r rawRuntime) EnableServerHealth(backend, server string) error {
	return r.execute(fmt.Sprintf("enable health %s/%s", backend, server))
}

// severityError returns HAProxy's first error message in out (a line
// prefixed "[0]:" to "[3]:" under severity-output number), or nil.
// Warnings ("[4]:") and notices are not errors.
func severityError(out string) error {
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 4 && line[0] == '[' && line[2] == ']' && line[3] == ':' && line[1] >= '0' && line[1] <= '3' {
			return &haproxyError{msg: strings.TrimSpace(line[4:])}
		}
	}
	return nil
}

// haproxyError is an error message from HAProxy's runtime API.
type haproxyError struct{ msg string }

func (e *haproxyError) Error() string { return "HAProxy said: " + e.msg }
