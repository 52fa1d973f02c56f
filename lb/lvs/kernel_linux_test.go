package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// kernelTests need a kernel with IPVS and root. TestKernel runs them as
// its subtests: directly on such a host, and inside the qemu VM that it
// boots everywhere else (vm_linux_test.go), where it checks that each one
// passed.
var kernelTests = []struct {
	name string
	run  func(t *testing.T)
}{
	{"Conformance", testKernelConformance}, {"Services", testKernelServices}, {"Adopt", testKernelAdopt},
	{"SchedulerMissing", testKernelSchedulerMissing}, {"Permission", testKernelPermission},
	{"Traffic", testKernelTraffic}, {"Controller", testKernelController},
	{"Group", testKernelGroup},
}

// childEnv is set for the unprivileged child testKernelPermission starts.
const childEnv = "WEBFARM_LVS_CHILD"

// TestKernel runs kernelTests against a real kernel: directly where this
// kernel has IPVS and we are root (and in the VM, and in the unprivileged
// child of Permission), and otherwise in a qemu VM with a kernel that has
// it.
func TestKernel(t *testing.T) {
	if hasIPVS() || os.Getenv(vmEnv) == "1" || os.Getenv(childEnv) != "" {
		for _, kt := range kernelTests {
			t.Run(kt.name, kt.run)
		}
		return
	}
	runInVM(t)
}

// vmEnv is set inside the VM: "noipvs" before the modules are loaded, "1"
// after.
const vmEnv = "WEBFARM_LVS_VM"

// hasIPVS reports whether this kernel has IPVS and this process may use it.
func hasIPVS() bool {
	_, err := os.Stat(procIPVS)
	return err == nil && os.Geteuid() == 0
}

// needIPVS fails a kernel test where IPVS is not usable: TestKernel runs
// them only where it should be (this host, or the VM it boots).
func needIPVS(t *testing.T) {
	t.Helper()
	if !hasIPVS() {
		t.Fatalf("IPVS is not usable (%s missing or not root; %s=%q)", procIPVS, vmEnv, os.Getenv(vmEnv))
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestNoIPVS runs where the kernel has no IPVS (this machine; the VM
// before its modules are loaded): New must say so, not silently succeed.
func TestNoIPVS(t *testing.T) {
	if _, err := os.Stat(procIPVS); err == nil {
		t.Skip("this kernel has IPVS")
	}
	_, err := New(context.Background(), Config{Service: Service{Addr: netip.MustParseAddrPort("10.0.0.1:80")}})
	if !errors.Is(err, lb.ErrUnsupported) || !strings.Contains(err.Error(), "kernel has no IPVS: load ip_vs") {
		t.Fatalf("New without IPVS = %v, want lb.ErrUnsupported saying \"kernel has no IPVS: load ip_vs\"", err)
	}
	t.Logf("New without IPVS: %v", err)
}

// testKernelConformance runs lbtest against the kernel, each case on a
// fresh service at 10.9.0.1 (a VIP on lo in a test namespace), with
// traffic: new HTTP connections through the VIP, NAT to web servers on
// 127.0.0.1 in the same namespace.
func testKernelConformance(t *testing.T) {
	needIPVS(t)
	ns := newNetns(t, netip.MustParsePrefix("10.9.0.1/32"))
	var web []*webServer
	for i := range 4 {
		web = append(web, startWebServer(t, ns, fmt.Sprintf("w%d", i)))
	}
	fresh := newClient(ns, false)
	var port atomic.Uint32
	port.Store(1000)
	var vips sync.Map // lb.Balancer → its service address
	lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
		svc := Service{Addr: netip.AddrPortFrom(netip.MustParseAddr("10.9.0.1"), uint16(port.Add(1))), Scheduler: "rr"}
		b, err := New(context.Background(), Config{Service: svc, Namespace: ns, DeleteOnClose: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Close(); err != nil {
				t.Errorf("Close = %v", err)
			}
		})
		vips.Store(lb.Balancer(b), svc.Addr)
		return b
	}, lbtest.Config{
		Addr: func(i int) netip.AddrPort { return web[i].addr },
		Traffic: func(ctx context.Context, b lb.Balancer) (int, error) {
			vip, ok := vips.Load(b)
			if !ok {
				return 0, fmt.Errorf("no service for %T %p", b, b)
			}
			sent := 0
			for range 6 { // each on a new connection: IPVS balances and counts connections
				if _, err := get(ctx, fresh, "http://"+vip.(netip.AddrPort).String()+"/"); ctx.Err() != nil {
					return sent, ctx.Err()
				} else if err != nil {
					// No real server (the empty pool of a fresh case):
					// the kernel refuses; nothing was accepted.
					continue
				}
				sent++
			}
			return sent, nil
		},
		// The kernel folds connection counts into the stats every 2 s
		// (see testKernelTraffic).
		Lag:     5 * time.Second,
		Timeout: 5 * time.Second, // a VM under software emulation
	})
}

// rawService reads a service straight from the kernel with moby/ipvs.
func rawService(t *testing.T, ns string, s Service) (*ipvs.Service, []*ipvs.Destination, error) {
	t.Helper()
	h, err := ipvs.New(ns)
	if err != nil {
		t.Fatalf("ipvs.New(%s): %v", ns, err)
	}
	defer h.Close()
	k, err := h.GetService(toIPVSService(s))
	if err != nil {
		return nil, nil, err
	}
	ds, err := h.GetDestinations(k)
	return k, ds, err
}

func testKernelServices(t *testing.T) {
	needIPVS(t)
	ns := newNetns(t)
	v4 := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	tests := []struct {
		name  string
		svc   Service
		dests map[string]struct {
			addr netip.AddrPort
			d    Dest
		}
	}{
		{"tcp rr nat dr tunnel", Service{Addr: v4("10.1.0.1:80"), Scheduler: "rr"}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{
			"nat": {v4("10.1.1.1:8080"), Dest{Forward: NAT, Weight: 3}},
			"dr":  {v4("10.1.1.2:80"), Dest{Forward: DirectRoute, Weight: 1}},
			"tun": {v4("10.1.1.3:80"), Dest{Forward: Tunnel, Weight: 256}},
		}},
		{"udp wrr", Service{Addr: v4("10.1.0.2:53"), Protocol: UDP, Scheduler: "wrr"}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{"a": {v4("10.1.2.1:53"), Dest{Weight: 2}}, "b": {v4("10.1.2.2:53"), Dest{Weight: 1}}}},
		{"tcp6 wlc", Service{Addr: v4("[fd00::1]:443"), Scheduler: "wlc"}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{"a": {v4("[fd00::2:1]:8443"), Dest{}}}},
		{"fwmark lc persistent", Service{FWMark: 7, Scheduler: "lc", Persistence: 30 * time.Second}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{"a": {v4("10.1.3.1:80"), Dest{Forward: DirectRoute}}}},
		{"fwmark6 sh", Service{FWMark: 8, IPv6: true, Scheduler: "sh"}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{"a": {v4("[fd00::3:1]:80"), Dest{}}}},
		{"sctp rr", Service{Addr: v4("10.1.0.3:9"), Protocol: SCTP, Scheduler: "rr"}, map[string]struct {
			addr netip.AddrPort
			d    Dest
		}{"a": {v4("10.1.4.1:9"), Dest{}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			b, err := New(ctx, Config{Service: tc.svc, Namespace: ns, DeleteOnClose: true, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for id, d := range tc.dests {
				if err := b.AddDest(ctx, lb.Backend{ID: id, Addr: d.addr}, d.d); err != nil {
					t.Fatalf("AddDest(%s) = %v", id, err)
				}
			}
			ss, err := b.ServiceStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ss.Scheduler != tc.svc.scheduler() || len(ss.Dests) != len(tc.dests) {
				t.Fatalf("ServiceStats = %+v, want scheduler %s and %d real servers", ss, tc.svc.scheduler(), len(tc.dests))
			}
			for _, got := range ss.Dests {
				want := tc.dests[got.ID]
				w := want.d.Weight
				if w == 0 {
					w = 1
				}
				if got.Addr != want.addr || got.Forward != want.d.Forward || got.Weight != w || got.Adopted {
					t.Errorf("kernel has %s, want %s %s w=%d", got, want.addr, want.d.Forward, w)
				}
			}
			k, _, err := rawService(t, ns, tc.svc)
			if err != nil {
				t.Fatalf("service not in the kernel: %v", err)
			}
			if wantP := tc.svc.Persistence > 0; (k.Flags&ipvsSvcPersistent != 0) != wantP || (wantP && k.Timeout != 30) {
				t.Errorf("kernel flags %#x timeout %d, want persistent=%v timeout 30", k.Flags, k.Timeout, wantP)
			}
			for id := range tc.dests {
				if err := b.Drain(ctx, id); err != nil {
					t.Fatalf("Drain(%s) = %v", id, err)
				}
			}
			st, err := b.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for id := range tc.dests {
				if st.Backends[id].State != lb.StateDraining {
					t.Errorf("Stats.Backends[%s] = %+v after Drain, want draining", id, st.Backends[id])
				}
			}
			if ids, err := b.Reap(ctx); err != nil || len(ids) != len(tc.dests) {
				t.Errorf("Reap of idle drained servers = %v, %v; want all %d", ids, err, len(tc.dests))
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := rawService(t, ns, tc.svc); err == nil {
				t.Error("service still in the kernel after Close with DeleteOnClose")
			}
		})
	}
}

func testKernelAdopt(t *testing.T) {
	needIPVS(t)
	ctx := context.Background()
	ns := newNetns(t)
	svc := Service{Addr: netip.MustParseAddrPort("10.2.0.1:80"), Scheduler: "rr"}
	// Someone else (ipvsadm, a previous run) made the service.
	h, err := ipvs.New(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	raw := toIPVSService(svc)
	if err := h.NewService(raw); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.2.1.1:80", "10.2.1.2:80"} {
		if err := h.NewDestination(raw, toIPVSDest(netip.MustParseAddrPort(a), NAT, 4)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := New(ctx, Config{Service: Service{Addr: svc.Addr, Scheduler: "wrr"}, Namespace: ns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Backends(ctx)
	if err != nil || len(got) != 2 || got[0].ID != "10.2.1.1:80" || got[1].ID != "10.2.1.2:80" {
		t.Fatalf("Backends of an adopted service = %v, %v", got, err)
	}
	if k, _ := h.GetService(raw); k == nil || k.SchedName != "wrr" {
		t.Errorf("adopted service scheduler = %+v, want updated to wrr", k)
	}
	if err := b.Add(ctx, lb.Backend{ID: "task-7", Addr: netip.MustParseAddrPort("10.2.1.2:80")}); err != nil {
		t.Fatal(err)
	}
	got, _ = b.Backends(ctx)
	if len(got) != 2 || got[1].ID != "task-7" {
		t.Errorf("Backends after naming an adopted server = %v, want task-7 at 10.2.1.2:80", got)
	}
	// Close without DeleteOnClose leaves the service serving.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ds, err := h.GetDestinations(raw); err != nil || len(ds) != 2 {
		t.Errorf("after Close: %d real servers, %v; want both still there", len(ds), err)
	}
	// A service deleted behind the driver's back is reported as such
	// (ErrServiceGone), created again, and then reads as an empty pool.
	b2, err := New(ctx, Config{Service: svc, Namespace: ns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	for _, read := range []string{"Stats", "Backends"} {
		if err := h.DelService(raw); err != nil {
			t.Fatalf("ipvsadm -D equivalent: %v", err)
		}
		if ds, err := h.GetDestinations(raw); err != nil || len(ds) != 0 {
			t.Fatalf("the kernel's dump of a deleted service = %d real servers, %v; want an empty answer, no error", len(ds), err)
		}
		if read == "Stats" {
			_, err = b2.Stats(ctx)
		} else {
			_, err = b2.Backends(ctx)
		}
		if !errors.Is(err, ErrServiceGone) {
			t.Errorf("%s after the service was deleted outside = %v, want ErrServiceGone", read, err)
		}
		if k, err := h.GetService(raw); err != nil || k.SchedName != svc.scheduler() {
			t.Errorf("after %s: service %+v, %v; want it created again with %s", read, k, err, svc.scheduler())
		}
		if got, err := b2.Backends(ctx); err != nil || len(got) != 0 {
			t.Errorf("Backends after %s reported the loss = %v, %v; want an empty pool", read, got, err)
		}
		if err := b2.Add(ctx, lb.Backend{ID: "task-8", Addr: netip.MustParseAddrPort("10.2.1.8:80")}); err != nil {
			t.Fatal(err)
		}
	}
	// A tunnel real server of the other address family is refused before
	// it reaches the kernel: moby/ipvs v1.1.0 sends no destination family,
	// and the kernel would store the IPv6 address as an IPv4 one.
	err = b2.AddDest(ctx, lb.Backend{ID: "v6", Addr: netip.MustParseAddrPort("[2001:db8::31]:80")}, Dest{Forward: Tunnel})
	if !errors.Is(err, lb.ErrUnsupported) {
		t.Errorf("AddDest of an IPv6 tunnel server behind an IPv4 service = %v, want lb.ErrUnsupported", err)
	}
	if ds, err := h.GetDestinations(raw); err != nil || len(ds) != 1 {
		t.Errorf("after the refused tunnel server: %d real servers, %v; want task-8 alone", len(ds), err)
	}
}

// testKernelSchedulerMissing: a real scheduler whose module is not loaded
// (the VM loads ip_vs_rr alone and cannot modprobe) is ErrUnsupported and
// names the module; a name that is no IPVS scheduler is ErrInvalid.
func testKernelSchedulerMissing(t *testing.T) {
	needIPVS(t)
	ns := newNetns(t)
	_, err := New(context.Background(), Config{
		Service: Service{Addr: netip.MustParseAddrPort("10.3.0.1:80"), Scheduler: "mh"}, Namespace: ns, Logger: testLogger(t)})
	if !errors.Is(err, lb.ErrUnsupported) || !strings.Contains(err.Error(), "load ip_vs_mh") {
		t.Fatalf("New with scheduler mh (module not loaded) = %v, want lb.ErrUnsupported naming ip_vs_mh", err)
	}
	_, err = New(context.Background(), Config{
		Service: Service{Addr: netip.MustParseAddrPort("10.3.0.1:80"), Scheduler: "wrrr"}, Namespace: ns, Logger: testLogger(t)})
	if !errors.Is(err, lb.ErrInvalid) || errors.Is(err, lb.ErrUnsupported) {
		t.Fatalf("New with scheduler wrrr = %v, want lb.ErrInvalid", err)
	}
	if _, _, err := rawService(t, ns, Service{Addr: netip.MustParseAddrPort("10.3.0.1:80")}); err == nil {
		t.Error("a failed New left a service in the kernel")
	}
}

// testKernelPermission runs this test binary again as user nobody: IPVS
// must refuse it, and the error must say CAP_NET_ADMIN.
func testKernelPermission(t *testing.T) {
	if os.Getenv(childEnv) == "nobody" {
		// The first New of a process runs moby/ipvs's setup, which logs
		// through logrus when modprobe fails; that must reach Logger, not
		// stderr.
		var logged strings.Builder
		log := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
		_, err := New(context.Background(), Config{Service: Service{Addr: netip.MustParseAddrPort("10.4.0.1:80")}, Logger: log})
		t.Logf("driver log: %s", logged.String())
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
			t.Fatalf("New as nobody = %v, want os.ErrPermission mentioning CAP_NET_ADMIN", err)
		}
		t.Logf("New as nobody: %v", err)
		return
	}
	needIPVS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKernel$/^Permission$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=nobody")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil || !strings.Contains(string(out), "New as nobody:") {
		t.Fatalf("the unprivileged run failed: %v", err)
	}
	if regexp.MustCompile(`(?m)^time="`).Match(out) { // a logrus line, not one of the test's
		t.Error("moby/ipvs's logrus lines reached stderr")
	}
	// In the VM modprobe cannot work (no /lib/modules), so moby/ipvs
	// complains, and the driver must have passed that on.
	if os.Getenv(vmEnv) == "1" && !strings.Contains(string(out), "lvs: moby/ipvs setup") {
		t.Error("moby/ipvs's setup warning did not reach Config.Logger")
	}
}
