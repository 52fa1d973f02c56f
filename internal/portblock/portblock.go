// Package portblock hands out blocks of TCP ports for embedded Mesos
// clusters (mesos/local offers a cluster's Ports range to tasks, which bind
// ports in it), so that clusters of packages whose tests run at the same
// time (`go test -p 2 ./...`) never share a port.
//
// Three rules make a collision impossible between cooperating users, and
// detected at allocation time otherwise:
//
//   - Each package has an [Area] of its own: the areas below are disjoint,
//     so two test binaries never pick the same port.
//   - Every area lies below Linux's ephemeral range (32768-60999, see
//     /proc/sys/net/ipv4/ip_local_port_range), so no outgoing connection
//     of any process takes one of its ports.
//   - [Area.Pick] bind-tests every port of a block before it hands it out,
//     and never hands out a block that overlaps one it handed out in this
//     process and not yet released; so a port held by a foreign process, a
//     leftover task, or a concurrent `make demo` is skipped.
//
// The areas, all of them here (add a package's area here, never elsewhere):
//
//	20000-24999  mesos: its tests' clusters and benchmarks (startCluster, freePorts)
//	25000-26999  examples/haproxy-apache: the demo's embedded cluster (`make demo` too) and its tests
//	27000-27999  examples/farm: the farm's embedded cluster, which names this range
//	             (not picked: its source must build outside this module, copy_test.go)
//	28000-28999  examples/chaos: the chaos farm's cluster
//	29000-29999  mesos/zk: its tests' clusters
//	30000-30999  examples/elb: its tests' clusters
//	31000-32000  mesos/local's default Ports (local.DefaultPortsBegin-End, the
//	             real agent's default): mesos/local's tests and examples,
//	             which leave Ports zero (its tests run one at a time)
//	32100-32299  mesos: its Example functions, which name this range (not picked:
//	             they run one at a time, after the package's tests)
//	32300-32699  mesos/local/batch: its tests' clusters
//
// Ports a test needs one at a time (a web server, HAProxy's frontend, a
// ZooKeeper server) are bound on port 0 instead, so the kernel picks them.
package portblock

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// ErrNoBlock is returned (wrapped) by [Area.Pick] when every block of the
// area is handed out or has no free port. Check it with errors.Is.
var ErrNoBlock = errors.New("portblock: no free block")

// Area is an inclusive range of ports from which one package picks blocks.
type Area struct {
	Name       string // the package that uses it
	Begin, End uint64 // inclusive
}

// The areas; see the package doc. They are disjoint and below 32768.
var (
	Mesos         = Area{"mesos", 20000, 24999}
	HAProxyApache = Area{"examples/haproxy-apache", 25000, 26999}
	Farm          = Area{"examples/farm", 27000, 27999}
	Chaos         = Area{"examples/chaos", 28000, 28999}
	MesosZK       = Area{"mesos/zk", 29000, 29999}
	ELB           = Area{"examples/elb", 30000, 30999}
	LocalDefault  = Area{"mesos/local (default Ports)", 31000, 32000}
	MesosExamples = Area{"mesos (Example functions)", 32100, 32299}
	Batch         = Area{"mesos/local/batch", 32300, 32699}
)

// Areas lists every area, in port order.
var Areas = []Area{Mesos, HAProxyApache, Farm, Chaos, MesosZK, ELB, LocalDefault, MesosExamples, Batch}

// Block is an inclusive range of ports handed out by [Area.Pick].
type Block struct {
	Begin, End uint64
}

// handed holds the blocks handed out in this process and not released.
var handed struct {
	mu     sync.Mutex
	blocks []Block
}

// Pick returns a block of size ports of a, aligned to size from a.Begin,
// that overlaps no block handed out in this process and not yet released:
// of those, tried in random order, the first whose ports are all free on
// 127.0.0.1 right now, else the one with the most free ports (mesos/local
// offers only free ports, so the busy ones are just not offered). It
// returns an error wrapping [ErrNoBlock] when no block has a free port,
// and one naming the problem for a size of 0 or larger than a. The
// caller calls release when the cluster using the block is closed.
func (a Area) Pick(size uint64) (b Block, release func(), err error) {
	if a.End < a.Begin || size == 0 || size > a.End-a.Begin+1 {
		return Block{}, nil, fmt.Errorf("portblock: no block of %d ports in %s's area %d-%d", size, a.Name, a.Begin, a.End)
	}
	handed.mu.Lock()
	defer handed.mu.Unlock()
	n := (a.End - a.Begin + 1) / size
	var best Block
	bestFree := uint64(0)
	for _, k := range rand.Perm(int(n)) {
		c := Block{a.Begin + size*uint64(k), a.Begin + size*uint64(k+1) - 1}
		if overlapsHanded(c) {
			continue
		}
		free := uint64(0)
		for p := c.Begin; p <= c.End; p++ {
			if portFree(p) {
				free++
			}
		}
		if free > bestFree {
			best, bestFree = c, free
		}
		if free == size {
			break
		}
	}
	if bestFree == 0 {
		return Block{}, nil, fmt.Errorf("%w of %d ports in %s's area %d-%d (all handed out or busy)", ErrNoBlock, size, a.Name, a.Begin, a.End)
	}
	handed.blocks = append(handed.blocks, best)
	var once sync.Once
	return best, func() { once.Do(func() { releaseBlock(best) }) }, nil
}

func overlapsHanded(c Block) bool {
	for _, h := range handed.blocks {
		if c.Begin <= h.End && h.Begin <= c.End {
			return true
		}
	}
	return false
}

func releaseBlock(b Block) {
	handed.mu.Lock()
	defer handed.mu.Unlock()
	for i, h := range handed.blocks {
		if h == b {
			handed.blocks = append(handed.blocks[:i], handed.blocks[i+1:]...)
			return
		}
	}
}

// portFree reports whether port p can be bound on 127.0.0.1 now (a
// listener on the wildcard address holds it too), as mesos/local probes
// the ports it offers.
func portFree(p uint64) bool {
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.FormatUint(p, 10)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
