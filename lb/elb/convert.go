package elb

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/webfarm/webfarm/lb"
)

// target is what ELB registers: an IP address or an instance ID, and a
// port (0 for classic ELB, which registers whole instances).
type target struct {
	id   string
	port int32
}

// String is "10.0.0.5:8080", "[2001:db8::1]:8080", "i-0abc:8080", or the
// bare instance ID for classic ELB. It is also the ID under which an
// adopted target is listed.
func (t target) String() string {
	if t.port == 0 {
		return t.id
	}
	return net.JoinHostPort(t.id, strconv.Itoa(int(t.port)))
}

// parseTarget is the inverse of target.String for targets with a port.
func parseTarget(s string) (target, bool) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return target{}, false
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return target{}, false
	}
	return target{id: host, port: int32(p)}, true
}

// addrOf returns the address of an IP target, or the zero AddrPort.
func (t target) addr() netip.AddrPort {
	a, err := netip.ParseAddr(t.id)
	if err != nil || t.port == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, uint16(t.port))
}

// ipTarget is the IP target for a backend address. IPv4-mapped IPv6
// addresses are registered as IPv4, as ELB reports them.
func ipTarget(a netip.AddrPort) target {
	return target{id: a.Addr().Unmap().String(), port: int32(a.Port())}
}

// arnResource returns the resource part of an ELB ARN
// ("arn:aws:elasticloadbalancing:region:account:resource").
func arnResource(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an Elastic Load Balancing ARN (arn:aws:elasticloadbalancing:region:account:resource): %w", arn, lb.ErrInvalid)
	}
	return parts[5], nil
}

// targetGroupDimension returns the CloudWatch TargetGroup dimension of a
// target group ARN: "targetgroup/<name>/<id>".
func targetGroupDimension(arn string) (string, error) {
	r, err := arnResource(arn)
	if err != nil {
		return "", err
	}
	if f := strings.Split(r, "/"); len(f) != 3 || f[0] != "targetgroup" || f[1] == "" || f[2] == "" {
		return "", fmt.Errorf("ARN %q does not name a target group (targetgroup/<name>/<id>): %w", arn, lb.ErrInvalid)
	}
	return r, nil
}

// loadBalancerDimension returns the CloudWatch LoadBalancer dimension of a
// load balancer ARN: "app/<name>/<id>" or "net/<name>/<id>".
func loadBalancerDimension(arn string) (string, error) {
	r, err := arnResource(arn)
	if err != nil {
		return "", err
	}
	dim, ok := strings.CutPrefix(r, "loadbalancer/")
	if !ok {
		return "", fmt.Errorf("ARN %q does not name a load balancer: %w", arn, lb.ErrInvalid)
	}
	if _, err := kindOf(dim); err != nil {
		return "", err
	}
	return dim, nil
}

type kind int

const (
	kindALB kind = iota + 1
	kindNLB
	kindClassic
)

// kindOf tells an ALB from an NLB by its dimension value.
func kindOf(dim string) (kind, error) {
	f := strings.Split(dim, "/")
	if len(f) != 3 || f[1] == "" || f[2] == "" {
		return 0, fmt.Errorf("load balancer %q is not app/<name>/<id> or net/<name>/<id>: %w", dim, lb.ErrInvalid)
	}
	switch f[0] {
	case "app":
		return kindALB, nil
	case "net":
		return kindNLB, nil
	case "gwy":
		return 0, fmt.Errorf("load balancer %q is a Gateway Load Balancer, which counts no requests: %w", dim, lb.ErrUnsupported)
	}
	return 0, fmt.Errorf("load balancer %q is not app/<name>/<id> or net/<name>/<id>: %w", dim, lb.ErrInvalid)
}

// ELB target states, normalised across ELBv2 and classic ELB.
const (
	stateInitial     = "initial"
	stateHealthy     = "healthy"
	stateUnhealthy   = "unhealthy"
	stateUnhealthyDr = "unhealthy.draining"
	stateUnused      = "unused"
	stateDraining    = "draining"
	stateUnavailable = "unavailable"
)

// toState maps an ELB target state to the lb.State a caller sees. A
// target ELB still holds but that the driver was told to drain is
// draining whatever its health.
func toState(elbState string, drained bool) lb.State {
	switch {
	case drained:
		return lb.StateDraining
	case elbState == stateHealthy:
		return lb.StateReady
	case elbState == stateDraining || elbState == stateUnhealthyDr:
		return lb.StateDraining
	case elbState == stateUnhealthy || elbState == stateUnavailable || elbState == stateUnused:
		return lb.StateDown
	}
	return lb.StateUnknown // initial: health checks not passed yet
}

// holds reports whether ELB still holds the target: registered in any
// state, or draining.
func holds(elbState string) bool {
	return elbState != "" && elbState != stateUnused
}
