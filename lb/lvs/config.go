package lvs

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// Protocol is the transport protocol of a virtual service.
type Protocol uint16

// Protocols IPVS balances. The values are the IP protocol numbers.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

// String returns "tcp", "udp" or "sctp".
func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// ParseProtocol parses "tcp", "udp" or "sctp" (any case).
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "sctp":
		return SCTP, nil
	}
	return 0, fmt.Errorf("lvs: protocol %q: want tcp, udp or sctp: %w", s, lb.ErrInvalid)
}

// Forward is how IPVS delivers packets to a real server (its "packet
// forwarding method").
type Forward uint32

// The three LVS forwarding methods. The values are the kernel's
// IP_VS_CONN_F_* flags.
const (
	// NAT rewrites the destination address (masquerading). Replies must
	// come back through the director; backends may be on 127.0.0.1 of the
	// director itself.
	NAT Forward = 0
	// Tunnel encapsulates packets in IP-in-IP to the real server, which
	// answers the client directly.
	Tunnel Forward = 2
	// DirectRoute rewrites only the MAC address: the real server must be
	// on the director's L2 segment, own the VIP (without answering ARP for
	// it) and listen on the service's port.
	DirectRoute Forward = 3
)

// String returns "nat", "tunnel" or "dr".
func (f Forward) String() string {
	switch f {
	case NAT:
		return "nat"
	case Tunnel:
		return "tunnel"
	case DirectRoute:
		return "dr"
	}
	return "forward(" + strconv.Itoa(int(f)) + ")"
}

func (f Forward) valid() bool { return f == NAT || f == Tunnel || f == DirectRoute }

// ParseForward parses a forwarding method as ipvsadm names it: "nat" or
// "masq"; "dr", "droute" or "gatewaying"; "tun", "tunnel" or "ipip".
func ParseForward(s string) (Forward, error) {
	switch strings.ToLower(s) {
	case "nat", "masq", "masquerade":
		return NAT, nil
	case "dr", "droute", "direct", "gatewaying":
		return DirectRoute, nil
	case "tun", "tunnel", "ipip":
		return Tunnel, nil
	}
	return 0, fmt.Errorf("lvs: forwarding method %q: want nat, dr or tunnel: %w", s, lb.ErrInvalid)
}

// Service identifies an IPVS virtual service and how it schedules.
// Exactly one of Addr and FWMark is set.
type Service struct {
	// Addr is the virtual address and port, for example 10.0.0.1:80.
	Addr netip.AddrPort
	// FWMark selects a firewall-mark service instead: packets that
	// netfilter marked with this value (iptables -j MARK) are balanced,
	// whatever their address and port.
	FWMark uint32
	// IPv6 makes a firewall-mark service an IPv6 one. It is ignored for an
	// address service, whose family comes from Addr.
	IPv6 bool
	// Protocol is the transport protocol of an address service. If zero,
	// TCP is used. Ignored for a firewall-mark service.
	Protocol Protocol
	// Scheduler is the IPVS scheduler: one of [Schedulers] (rr, wrr, lc,
	// wlc, …), provided its module (ip_vs_NAME) is loaded. Another name
	// is an error wrapping lb.ErrInvalid. If empty, "wlc" is used, as
	// ipvsadm does.
	Scheduler string
	// Persistence, if positive, makes the service persistent: a client
	// keeps its real server for this long after its last connection. It
	// is rounded up to whole seconds.
	Persistence time.Duration
}

// String returns the service as ipvsadm shows it: "tcp/10.0.0.1:80" or
// "fwmark/7".
func (s Service) String() string {
	if s.FWMark != 0 {
		if s.IPv6 {
			return "fwmark6/" + strconv.FormatUint(uint64(s.FWMark), 10)
		}
		return "fwmark/" + strconv.FormatUint(uint64(s.FWMark), 10)
	}
	return s.protocol().String() + "/" + s.Addr.String()
}

func (s Service) protocol() Protocol {
	if s.Protocol == 0 {
		return TCP
	}
	return s.Protocol
}

func (s Service) scheduler() string {
	if s.Scheduler == "" {
		return "wlc"
	}
	return s.Scheduler
}

// is6 reports whether the service is an IPv6 one.
func (s Service) is6() bool {
	if s.FWMark != 0 {
		return s.IPv6
	}
	return s.Addr.Addr().Is6() && !s.Addr.Addr().Is4In6()
}

// maxSchedName is IP_VS_SCHEDNAME_MAXLEN minus the terminating NUL.
const maxSchedName = 15

func (s Service) validate() error {
	switch {
	case s.FWMark == 0 && !s.Addr.IsValid():
		return fmt.Errorf("lvs: service: neither Addr nor FWMark set: %w", lb.ErrInvalid)
	case s.FWMark != 0 && s.Addr.IsValid():
		return fmt.Errorf("lvs: service: both Addr %s and FWMark %d set; want one: %w", s.Addr, s.FWMark, lb.ErrInvalid)
	case s.Persistence < 0:
		return fmt.Errorf("lvs: service %s: negative persistence %s: %w", s, s.Persistence, lb.ErrInvalid)
	case s.Persistence > time.Duration(1<<31)*time.Second:
		return fmt.Errorf("lvs: service %s: persistence %s too long: %w", s, s.Persistence, lb.ErrInvalid)
	}
	if s.FWMark == 0 {
		a := s.Addr.Addr()
		switch {
		case s.Addr.Port() == 0:
			return fmt.Errorf("lvs: service %s: port 0: %w", s, lb.ErrInvalid)
		case a.IsUnspecified() || a.IsMulticast() || a == broadcast4:
			return fmt.Errorf("lvs: service %s: %s cannot be a virtual address: %w", s, a, lb.ErrInvalid)
		case a.Zone() != "":
			return fmt.Errorf("lvs: service %s: zoned address: %w", s, lb.ErrInvalid)
		}
		if p := s.protocol(); p != TCP && p != UDP && p != SCTP {
			return fmt.Errorf("lvs: service %s: protocol %d: want TCP, UDP or SCTP: %w", s, uint16(p), lb.ErrInvalid)
		}
	}
	name := s.scheduler()
	if len(name) > maxSchedName {
		return fmt.Errorf("lvs: service %s: scheduler name %q longer than %d bytes: %w", s, name, maxSchedName, lb.ErrInvalid)
	}
	if !slices.Contains(Schedulers, name) {
		return fmt.Errorf("lvs: service %s: scheduler %q is not an IPVS scheduler; want one of %s: %w",
			s, name, strings.Join(Schedulers, ", "), lb.ErrInvalid)
	}
	return nil
}

// Schedulers lists the IPVS schedulers of the Linux kernel (one module
// ip_vs_NAME each; net/netfilter/ipvs/Kconfig, IP_VS_RR … IP_VS_TWOS).
// Service.Scheduler must be one of them: another name is a mistake
// ([lb.ErrInvalid]), while a listed scheduler whose module the kernel
// cannot load makes New fail with [lb.ErrUnsupported].
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq", "twos"}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// broadcast4 is the limited broadcast address, which no host owns.
var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// Config configures a [Balancer]. Only Service is required; every other
// zero field means the default documented on it.
type Config struct {
	// Service is the virtual service to manage. New creates it when it is
	// missing and adopts it (and its real servers) when it exists.
	Service Service
	// Namespace is the path of the network namespace to work in, for
	// example /var/run/netns/lb or /proc/1234/ns/net. If empty, the
	// caller's namespace is used.
	Namespace string
	// Forward is the forwarding method of the real servers Add creates. If
	// zero, NAT is used. [Balancer.AddDest] sets it per backend.
	Forward Forward
	// Weight is the weight of the real servers Add creates, 1–256. If
	// zero, 1 is used.
	Weight int
	// Timeout bounds every netlink exchange with the kernel. A call that
	// runs over is abandoned and its socket replaced. If zero, 5s is used.
	Timeout time.Duration
	// ReapInterval, if positive, starts a goroutine (stopped by Close)
	// that calls [Balancer.Reap] this often: drained real servers are
	// removed once their last active connection ends.
	ReapInterval time.Duration
	// DeleteOnClose makes Close delete the virtual service. By default the
	// service and its real servers stay in the kernel and keep serving
	// after the program exits, as LVS does without its manager.
	DeleteOnClose bool
	// Logger receives the driver's log records. If nil, slog.Default() is
	// used.
	Logger *slog.Logger
}

func (c Config) validate() error {
	if err := c.Service.validate(); err != nil {
		return err
	}
	switch {
	case !c.Forward.valid():
		return fmt.Errorf("lvs: config: forwarding method %d: want NAT, Tunnel or DirectRoute: %w", uint32(c.Forward), lb.ErrInvalid)
	case c.Weight < 0 || c.Weight > MaxWeight:
		return fmt.Errorf("lvs: config: weight %d out of 1–%d: %w", c.Weight, MaxWeight, lb.ErrInvalid)
	case c.Timeout < 0:
		return fmt.Errorf("lvs: config: negative timeout %s: %w", c.Timeout, lb.ErrInvalid)
	case c.ReapInterval < 0:
		return fmt.Errorf("lvs: config: negative reap interval %s: %w", c.ReapInterval, lb.ErrInvalid)
	}
	return nil
}

func (c Config) weight() int {
	if c.Weight == 0 {
		return 1
	}
	return c.Weight
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return 5 * time.Second
	}
	return c.Timeout
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// MaxWeight is the largest weight the driver sets, as [lb.Weighter] allows.
const MaxWeight = 256

// Dest says how [Balancer.AddDest] adds one real server: its forwarding
// method and weight.
type Dest struct {
	// Forward is the forwarding method; the zero value is NAT.
	Forward Forward
	// Weight is the server's weight, 1–256. If zero, Config.Weight.
	Weight int
}

// checkBackend validates b for service s with forwarding method f.
func checkBackend(s Service, b lb.Backend, f Forward) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("lvs: %w", err)
	}
	a := b.Addr.Addr()
	switch {
	case !f.valid():
		return fmt.Errorf("lvs: backend %s: forwarding method %d: want NAT, Tunnel or DirectRoute: %w", b, uint32(f), lb.ErrInvalid)
	case a.IsUnspecified() || a.IsMulticast() || a == broadcast4:
		return fmt.Errorf("lvs: backend %s: %s cannot be a real server: %w", b, a, lb.ErrInvalid)
	case a.Zone() != "":
		return fmt.Errorf("lvs: backend %s: zoned address: %w", b, lb.ErrInvalid)
	case f != Tunnel && (a.Is6() && !a.Is4In6()) != s.is6():
		return fmt.Errorf("lvs: backend %s: address family differs from service %s; NAT and direct routing cannot mix families: %w", b, s, lb.ErrInvalid)
	case (a.Is6() && !a.Is4In6()) != s.is6():
		// The kernel takes a tunnel real server of the other family only
		// with IPVS_DEST_ATTR_ADDR_FAMILY, and moby/ipvs v1.1.0 does not
		// send it (fillDestination in netlink_linux.go): the kernel would
		// read the address as the service's family and store another one
		// (2001:db8::31 became 32.1.13.184).
		return fmt.Errorf("lvs: backend %s: a tunnel to an %s real server behind an %s service needs the destination's address family, which moby/ipvs v1.1.0 does not send (the kernel would store a wrong address): %w",
			b, family(!s.is6()), family(s.is6()), lb.ErrUnsupported)
	case f != NAT && s.FWMark == 0 && b.Addr.Port() != s.Addr.Port():
		return fmt.Errorf("lvs: backend %s: %s forwarding keeps the service port %d; the backend must listen on it: %w",
			b, f, s.Addr.Port(), lb.ErrInvalid)
	}
	return nil
}
