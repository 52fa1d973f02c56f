package haproxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/webfarm/webfarm/lb"
)

// Problem names what New found wrong with the HAProxy it was pointed at.
type Problem int

const (
	// ProblemUnreachable: nothing answers on the socket.
	ProblemUnreachable Problem = iota + 1
	// ProblemSocketPermissions: the unix socket is writable by every local
	// user (and Config.AllowWorldWritableSocket is false).
	ProblemSocketPermissions
	// ProblemNotAdmin: the socket is not at `level admin`.
	ProblemNotAdmin
	// ProblemNoBackend: HAProxy has no backend of that name.
	ProblemNoBackend
	// ProblemNoFrontend: HAProxy has no frontend of Config.Frontend's name.
	ProblemNoFrontend
	// ProblemStaticBalance: the backend's algorithm cannot take servers
	// at run time.
	ProblemStaticBalance
	// ProblemVersion: HAProxy is older than 2.6.
	ProblemVersion
	// ProblemConfigFile: Config.ConfigFile cannot be read, has no section
	// for the backend, has broken markers, or cannot be rewritten.
	ProblemConfigFile
)

var problemNames = map[Problem]string{
	ProblemUnreachable:       "stats socket unreachable",
	ProblemSocketPermissions: "stats socket writable by everyone",
	ProblemNotAdmin:          "stats socket not at level admin",
	ProblemNoBackend:         "backend missing",
	ProblemNoFrontend:        "frontend missing",
	ProblemStaticBalance:     "backend algorithm is not dynamic",
	ProblemVersion:           "HAProxy too old",
	ProblemConfigFile:        "config file unusable",
}

// String returns a short description of the problem.
func (p Problem) String() string {
	if s, ok := problemNames[p]; ok {
		return s
	}
	return fmt.Sprintf("Problem(%d)", int(p))
}

// ConfigError is returned by New when HAProxy cannot be managed as
// configured. It says which check failed, what was found and how to fix
// it. It wraps lb.ErrInvalid and, when there is one, the underlying error.
//
//	var ce *haproxy.ConfigError
//	if errors.As(err, &ce) && ce.Problem == haproxy.ProblemNotAdmin { ... }
type ConfigError struct {
	Problem Problem
	// Detail is what the driver found (HAProxy's own words where it said
	// something).
	Detail string
	// Fix is how to fix it, in haproxy.cfg terms.
	Fix string
	// Err is the underlying error, if any.
	Err error
}

func (e *ConfigError) Error() string {
	s := "haproxy: " + e.Problem.String() + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		s += "; fix: " + e.Fix
	}
	return s
}

// Unwrap returns lb.ErrInvalid and the underlying error.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{lb.ErrInvalid}
	}
	return []error{lb.ErrInvalid, e.Err}
}

// ErrBusy is wrapped by the error of a Remove that gave up at
// Config.RemoveTimeout because HAProxy still counted connections on the
// server after its sessions were shut (HAProxy deletes a server only once
// it has no active or idle connection and an empty queue; idle pooled
// connections go at the next pool-purge-delay). The server stays in
// maintenance, taking no traffic; calling Remove again deletes it.
var ErrBusy = errors.New("server still has connections")

// Messages of HAProxy 2.6's runtime API the driver recognises.
const (
	msgNoServer      = "No such server"
	msgNoBackend     = "No such backend"
	msgNoProxy       = "No such proxy"
	msgExists        = "Already exists a server with the same name"
	msgNotMaint      = "Only servers in maintenance mode can be deleted"
	msgBusy          = "Server still has connections attached"
	msgDenied        = "Permission denied"
	msgStaticBalance = "Backend must use a dynamic load balancing"
)

// said reports whether err carries HAProxy's message msg.
func said(err error, msg string) bool {
	return err != nil && strings.Contains(err.Error(), msg)
}

// notFound wraps err with lb.ErrNotFound when HAProxy said the server is
// not there.
func notFound(err error) error {
	if said(err, msgNoServer) && !errors.Is(err, lb.ErrNotFound) {
		return fmt.Errorf("%w: %w", lb.ErrNotFound, err)
	}
	return err
}
