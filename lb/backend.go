package lb

import (
	"fmt"
	"net/netip"
)

// Backend is one web server in the pool.
type Backend struct {
	// ID is stable and unique in the pool; webfarm uses the Mesos task ID.
	ID string
	// Addr is where the balancer sends traffic.
	Addr netip.AddrPort
}

// String returns "id@addr", the form used in errors and log lines.
func (b Backend) String() string {
	return b.ID + "@" + b.Addr.String()
}

// Validate reports whether b can be added to a pool: it needs an ID and a
// valid address with a non-zero port. The error wraps [ErrInvalid].
func (b Backend) Validate() error {
	switch {
	case b.ID == "":
		return fmt.Errorf("%w: backend %s: empty ID", ErrInvalid, b)
	case !b.Addr.IsValid():
		return fmt.Errorf("%w: backend %q: no address", ErrInvalid, b.ID)
	case b.Addr.Port() == 0:
		return fmt.Errorf("%w: backend %s: port 0", ErrInvalid, b)
	}
	return nil
}

// State is where a backend stands in the pool.
type State int

const (
	// StateUnknown means the driver cannot tell.
	StateUnknown State = iota
	// StateReady means the backend takes new connections.
	StateReady
	// StateDraining means the backend takes no new connections; existing
	// ones continue until they end.
	StateDraining
	// StateDown means the balancer considers the backend unhealthy or in
	// maintenance.
	StateDown
)

var stateNames = [...]string{"unknown", "ready", "draining", "down"}

// String returns the state's lower-case name.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}
