package lvs

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/webfarm/webfarm/lb"
)

// procIPVS exists when the kernel has IPVS (built in or loaded).
const procIPVS = "/proc/net/ip_vs"

// probeIPVS reports a clear error when the kernel has no IPVS. moby/ipvs
// cannot tell: without IPVS its writes succeed and do nothing.
func probeIPVS(path string) error {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("lvs: kernel has no IPVS: load ip_vs (modprobe ip_vs; %s is missing): %w", path, lb.ErrUnsupported)
	default:
		return fmt.Errorf("lvs: probe IPVS: %w", err)
	}
}

// kernelErr wraps an error of a netlink exchange with what was being done
// and, where the errno says why, what to do about it. The errno stays in
// the chain: errors.Is(err, os.ErrPermission) holds for EPERM.
func kernelErr(op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EPERM, syscall.EACCES:
			return fmt.Errorf("lvs: %s: not permitted: IPVS needs CAP_NET_ADMIN (run as root or grant the capability): %w", op, err)
		case syscall.ESRCH:
			return fmt.Errorf("lvs: %s: the virtual service is gone from the kernel (deleted outside this driver?): %w: %w", op, ErrServiceGone, err)
		}
	}
	return fmt.Errorf("lvs: %s: %w", op, err)
}

func isErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }
