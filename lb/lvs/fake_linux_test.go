package lvs

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"

	"github.com/moby/ipvs"
)

// fakeKernel is an in-memory IPVS with the kernel's errnos, for unit
// tests. Its handles share it, as sockets share the kernel.
type fakeKernel struct {
	mu       sync.Mutex
	services map[string]*fakeService
	scheds   []string // loaded schedulers; nil means the usual ones

	perm    bool          // every call fails with EPERM
	noop    bool          // no IPVS family: writes succeed, reads find nothing
	hang    chan struct{} // when set, calls block until it is closed or the handle is
	failGet error         // GetDestinations fails with it
	opens   int
	calls   int
	// reads counts the read exchanges by kind: "service" (GetService),
	// "services" (the dump of all, GetServices), "dests" (GetDestinations).
	reads map[string]int
}

type fakeService struct {
	svc   ipvs.Service
	dests []*ipvs.Destination
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{services: map[string]*fakeService{}, reads: map[string]int{}}
}

// readCounts returns a copy of k.reads.
func (k *fakeKernel) readCounts() map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.reads)
}

func svcKey(s *ipvs.Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("fwmark/%d/%d", s.AddressFamily, s.FWMark)
	}
	return fmt.Sprintf("%d/%s/%d", s.Protocol, s.Address, s.Port)
}

func destKey(d *ipvs.Destination) string { return fmt.Sprintf("%s/%d", d.Address, d.Port) }

func (k *fakeKernel) open(string) (handle, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.opens++
	return &fakeHandle{k: k, closed: make(chan struct{})}, nil
}

type fakeHandle struct {
	k         *fakeKernel
	closeOnce sync.Once
	closed    chan struct{}
}

func (h *fakeHandle) Close() { h.closeOnce.Do(func() { close(h.closed) }) }

// enter waits out a hang, then locks the kernel.
func (h *fakeHandle) enter() error {
	h.k.mu.Lock()
	hang := h.k.hang
	h.k.calls++
	h.k.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-h.closed:
			return fmt.Errorf("Socket got closed on receive")
		}
	}
	h.k.mu.Lock()
	if h.k.perm {
		h.k.mu.Unlock()
		return syscall.EPERM
	}
	return nil
}

func (h *fakeHandle) GetService(s *ipvs.Service) (*ipvs.Service, error) {
	if err := h.enter(); err != nil {
		return nil, err
	}
	defer h.k.mu.Unlock()
	h.k.reads["service"]++
	if h.k.noop {
		return nil, fmt.Errorf("Expected only one service obtained=0")
	}
	fs, ok := h.k.services[svcKey(s)]
	if !ok {
		return nil, syscall.ESRCH
	}
	c := fs.svc
	return &c, nil
}

// GetServices dumps every service with its counters, as
// IPVS_CMD_GET_SERVICE with NLM_F_DUMP does (ip_vs_genl_dump_services in
// net/netfilter/ipvs/ip_vs_ctl.c); without the IPVS family moby/ipvs
// reads nothing.
func (h *fakeHandle) GetServices() ([]*ipvs.Service, error) {
	if err := h.enter(); err != nil {
		return nil, err
	}
	defer h.k.mu.Unlock()
	h.k.reads["services"]++
	if h.k.noop {
		return nil, nil
	}
	out := make([]*ipvs.Service, 0, len(h.k.services))
	for _, fs := range h.k.services {
		c := fs.svc
		c.Address = slices.Clone(fs.svc.Address)
		out = append(out, &c)
	}
	return out, nil
}

func (h *fakeHandle) schedOK(name string) bool {
	if h.k.scheds == nil {
		return slices.Contains([]string{"rr", "wrr", "lc", "wlc", "sh"}, name)
	}
	return slices.Contains(h.k.scheds, name)
}

func (h *fakeHandle) NewService(s *ipvs.Service) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	if h.k.noop {
		return nil
	}
	if _, ok := h.k.services[svcKey(s)]; ok {
		return syscall.EEXIST
	}
	if !h.schedOK(s.SchedName) {
		return syscall.ENOENT
	}
	h.k.services[svcKey(s)] = &fakeService{svc: *s}
	return nil
}

func (h *fakeHandle) UpdateService(s *ipvs.Service) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	fs, ok := h.k.services[svcKey(s)]
	if !ok {
		return syscall.ESRCH
	}
	if !h.schedOK(s.SchedName) {
		return syscall.ENOENT
	}
	stats := fs.svc.Stats
	fs.svc = *s
	fs.svc.Stats = stats
	return nil
}

func (h *fakeHandle) DelService(s *ipvs.Service) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	if _, ok := h.k.services[svcKey(s)]; !ok {
		return syscall.ESRCH
	}
	delete(h.k.services, svcKey(s))
	return nil
}

func (h *fakeHandle) GetDestinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	if err := h.enter(); err != nil {
		return nil, err
	}
	defer h.k.mu.Unlock()
	h.k.reads["dests"]++
	if h.k.failGet != nil {
		return nil, h.k.failGet
	}
	fs, ok := h.k.services[svcKey(s)]
	if !ok {
		return nil, nil // a dump of a missing service is empty, as in the kernel
	}
	out := make([]*ipvs.Destination, len(fs.dests))
	for i, d := range fs.dests {
		c := *d
		c.Address = slices.Clone(d.Address)
		out[i] = &c
	}
	return out, nil
}

func (h *fakeHandle) findDest(s *ipvs.Service, d *ipvs.Destination) (*fakeService, int, error) {
	fs, ok := h.k.services[svcKey(s)]
	if !ok {
		return nil, -1, syscall.ESRCH
	}
	for i, x := range fs.dests {
		if destKey(x) == destKey(d) {
			return fs, i, nil
		}
	}
	return fs, -1, nil
}

func (h *fakeHandle) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	fs, i, err := h.findDest(s, d)
	if err != nil {
		return err
	}
	if i >= 0 {
		return syscall.EEXIST
	}
	c := *d
	c.Address = slices.Clone(d.Address)
	fs.dests = append(fs.dests, &c)
	return nil
}

func (h *fakeHandle) UpdateDestination(s *ipvs.Service, d *ipvs.Destination) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	fs, i, err := h.findDest(s, d)
	if err != nil {
		return err
	}
	if i < 0 {
		return syscall.ENOENT
	}
	old := fs.dests[i]
	old.Weight, old.ConnectionFlags = d.Weight, d.ConnectionFlags
	return nil
}

func (h *fakeHandle) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	if err := h.enter(); err != nil {
		return err
	}
	defer h.k.mu.Unlock()
	fs, i, err := h.findDest(s, d)
	if err != nil {
		return err
	}
	if i < 0 {
		return syscall.ENOENT
	}
	fs.dests = slices.Delete(fs.dests, i, i+1)
	return nil
}

// service returns the fake service for s, or nil.
func (k *fakeKernel) service(s Service) *fakeService {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.services[svcKey(toIPVSService(s))]
}

// dest returns the fake destination at a in s, or nil.
func (k *fakeKernel) dest(s Service, a netip.AddrPort) *ipvs.Destination {
	k.mu.Lock()
	defer k.mu.Unlock()
	fs := k.services[svcKey(toIPVSService(s))]
	if fs == nil {
		return nil
	}
	for _, d := range fs.dests {
		if d.Port == a.Port() && d.Address.Equal(net.IP(a.Addr().AsSlice())) {
			return d
		}
	}
	return nil
}
