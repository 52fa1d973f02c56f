package lvs

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"syscall"

	"github.com/moby/ipvs"
)

// ipvsSvcPersistent is IP_VS_SVC_F_PERSISTENT.
const ipvsSvcPersistent = 0x0001

// toIPVSService converts s to the netlink form moby/ipvs sends.
func toIPVSService(s Service) *ipvs.Service {
	out := &ipvs.Service{SchedName: s.scheduler(), AddressFamily: syscall.AF_INET, Netmask: math.MaxUint32}
	if s.is6() {
		out.AddressFamily = syscall.AF_INET6
		out.Netmask = 128 // a prefix length for IPv6; the kernel rejects 0
	}
	if s.FWMark != 0 {
		out.FWMark = s.FWMark
	} else {
		out.Address = net.IP(s.Addr.Addr().Unmap().AsSlice())
		out.Port = s.Addr.Port()
		out.Protocol = uint16(s.protocol())
	}
	if s.Persistence > 0 {
		out.Flags |= ipvsSvcPersistent
		out.Timeout = uint32((s.Persistence + 999_999_999) / 1_000_000_000)
	}
	return out
}

// serviceDiffers reports whether the kernel's service k schedules
// differently from want, so that New must update it.
func serviceDiffers(k, want *ipvs.Service) bool {
	return k.SchedName != want.SchedName ||
		k.Flags&ipvsSvcPersistent != want.Flags&ipvsSvcPersistent ||
		(want.Flags&ipvsSvcPersistent != 0 && k.Timeout != want.Timeout)
}

// toIPVSDest converts a real server to the netlink form.
func toIPVSDest(addr netip.AddrPort, f Forward, weight int) *ipvs.Destination {
	a := addr.Addr().Unmap()
	d := &ipvs.Destination{
		Address:         net.IP(a.AsSlice()),
		Port:            addr.Port(),
		Weight:          weight,
		ConnectionFlags: uint32(f),
		AddressFamily:   syscall.AF_INET,
	}
	if a.Is6() {
		d.AddressFamily = syscall.AF_INET6
	}
	return d
}

// destAddr returns the address and port of a destination the kernel
// reported.
func destAddr(d *ipvs.Destination) (netip.AddrPort, error) {
	a, ok := netip.AddrFromSlice(d.Address)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("could not convert destination address %v (%d bytes)", d.Address, len(d.Address))
	}
	return netip.AddrPortFrom(a.Unmap(), d.Port), nil
}

// destForward returns a destination's forwarding method.
func destForward(d *ipvs.Destination) Forward {
	return Forward(d.ConnectionFlags & ipvs.ConnFwdMask)
}
