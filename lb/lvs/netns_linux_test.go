package lvs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNetns creates a network namespace for one test, with lo up and the
// given addresses on lo, and returns its path (/proc/PID/fd/N). It is
// destroyed when the test ends. The tests' IPVS services, VIPs, servers
// and clients all live in it, so a host run touches nothing of the host.
func newNetns(t *testing.T, addrs ...netip.Prefix) string {
	t.Helper()
	ns, err := func() (netns.NsHandle, error) {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return -1, err
		}
		defer orig.Close()
		ns, err := netns.New() // moves this thread into it
		if serr := netns.Set(orig); serr != nil {
			// The thread is in the wrong namespace: leave it locked so the
			// runtime discards it when this goroutine ends.
			return -1, fmt.Errorf("restore the namespace: %w", serr)
		}
		runtime.UnlockOSThread()
		return ns, err
	}()
	if err != nil {
		t.Fatalf("create a network namespace (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in the test namespace: %v", err)
	}
	defer h.Delete()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatalf("lo in the test namespace: %v", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatalf("set lo up: %v", err)
	}
	for _, p := range addrs {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if err := h.AddrAdd(lo, a); err != nil {
			t.Fatalf("add %s to lo: %v", p, err)
		}
	}
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
}

// inNetns runs f on a thread in the namespace at path. The thread is
// discarded afterwards (it stays locked), so no goroutine ever runs in
// the wrong namespace. Sockets f creates belong to the namespace for
// their whole life, whichever thread uses them later.
func inNetns(path string, f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		ns, err := netns.GetFromPath(path)
		if err != nil {
			done <- err
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			done <- fmt.Errorf("enter namespace %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// listenIn listens on a TCP address inside the namespace.
func listenIn(path, addr string) (net.Listener, error) {
	var ln net.Listener
	err := inNetns(path, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// dialerIn returns a DialContext that connects from inside the namespace.
func dialerIn(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(path, func() (err error) {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err != nil && c != nil {
			_ = c.Close()
		}
		if c == nil && err == nil {
			err = errors.New("dial returned no connection")
		}
		return c, err
	}
}
