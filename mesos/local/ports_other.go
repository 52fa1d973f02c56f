//go:build !linux

package local

import (
	"errors"
	"net"
	"strconv"
	"syscall"
)

// portFree reports whether a server could listen on 127.0.0.1:port now, by
// listening there and closing at once. A port the probe cannot judge
// counts as free.
func portFree(port uint64) bool {
	if port == 0 || port > 65535 {
		return false
	}
	ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.FormatUint(port, 10)))
	if err != nil {
		return !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES)
	}
	_ = ln.Close()
	return true
}
