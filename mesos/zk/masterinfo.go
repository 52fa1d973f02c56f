package zk

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// MasterInfoLabel is the label of the znodes Mesos masters create: each
// master contends as "<path>/json.info_<sequence>" with its MasterInfo as
// JSON (MASTER_INFO_JSON_LABEL in Mesos's src/master/constants.hpp,
// written by src/master/contender/zookeeper.cpp).
const MasterInfoLabel = "json.info"

// MasterInfo is the part of Mesos's MasterInfo (include/mesos/mesos.proto)
// a scheduler needs, in the JSON form masters write to ZooKeeper
// (JSON::protobuf: proto field names; ip is the IPv4 address as a uint32
// in network byte order).
type MasterInfo struct {
	ID       string   `json:"id"`
	IP       uint32   `json:"ip"`
	Port     uint32   `json:"port"`
	PID      string   `json:"pid,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Version  string   `json:"version,omitempty"`
	Address  *Address `json:"address,omitempty"`
}

// Address is MasterInfo's address field.
type Address struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
	Port     int32  `json:"port"`
}

// NewMasterInfo describes a master listening on addr ("ip:port"), as a
// Mesos master fills MasterInfo (src/common/protobuf_utils.cpp,
// createMasterInfo: id, ip, port, pid "master@ip:port", hostname,
// address).
func NewMasterInfo(id, addr string) (MasterInfo, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return MasterInfo{}, fmt.Errorf("zk: master address %q: want IPv4 ip:port: %w", addr, ErrInvalid)
	}
	b := ap.Addr().As4()
	return MasterInfo{
		ID:       id,
		IP:       binary.LittleEndian.Uint32(b[:]), // network order read as a host-order uint32, as Mesos stores it
		Port:     uint32(ap.Port()),
		PID:      "master@" + addr,
		Hostname: ap.Addr().String(),
		Address:  &Address{Hostname: ap.Addr().String(), IP: ap.Addr().String(), Port: int32(ap.Port())},
	}, nil
}

// HostPort returns where the master's HTTP API listens: address.ip (or
// address.hostname) and address.port when set, else the pid's ip:port,
// else the legacy ip and port fields. Mesos's own scheduler library
// (src/scheduler/scheduler.cpp, MesosProcess::detected) connects to the
// pid's address.
func (m MasterInfo) HostPort() (string, error) {
	if a := m.Address; a != nil && a.Port > 0 && a.Port < 65536 {
		if host := cmpOr(a.IP, a.Hostname); host != "" {
			return net.JoinHostPort(host, strconv.Itoa(int(a.Port))), nil
		}
	}
	if _, hp, ok := strings.Cut(m.PID, "@"); ok {
		if ap, err := netip.ParseAddrPort(hp); err == nil && ap.Port() != 0 {
			return hp, nil
		}
	}
	if m.IP != 0 && m.Port > 0 && m.Port < 65536 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], m.IP)
		return netip.AddrPortFrom(netip.AddrFrom4(b), uint16(m.Port)).String(), nil
	}
	return "", fmt.Errorf("zk: MasterInfo %q has no usable address", m.ID)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseMasterInfo decodes a json.info znode's data.
func parseMasterInfo(data []byte) (MasterInfo, error) {
	var m MasterInfo
	if err := json.Unmarshal(data, &m); err != nil {
		return MasterInfo{}, fmt.Errorf("zk: MasterInfo JSON: %w", err)
	}
	if _, err := m.HostPort(); err != nil {
		return MasterInfo{}, err
	}
	return m, nil
}

// member is one sequential znode of a group: "<label>_<sequence>".
type member struct {
	name  string
	label string
	seq   int32
}

// members parses a group's children as Mesos's GroupProcess::cache does
// (src/zookeeper/group.cpp): the name is split at '_', the last token is
// the sequence number, the first (if there are several) the label; a
// child whose last token is not a number is no member. Sorted by
// sequence.
func members(children []string) []member {
	var out []member
	for _, c := range children {
		tokens := strings.Split(c, "_")
		n, err := strconv.ParseInt(tokens[len(tokens)-1], 10, 32)
		if err != nil || n < 0 {
			continue
		}
		m := member{name: c, seq: int32(n)}
		if len(tokens) > 1 {
			m.label = tokens[0]
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b member) int { return int(a.seq) - int(b.seq) })
	return out
}
