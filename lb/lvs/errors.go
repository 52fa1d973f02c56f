package lvs

import "errors"

// ErrServiceGone is wrapped by the error of a call that found the virtual
// service deleted outside the driver (ipvsadm -D, another program). The
// driver creates the service again, empty, and reports the loss once: the
// backends it had must be added again (the mesos scheduler's pool repair
// re-adds its serving tasks at its next read of the pool). Only this
// package returns it.
var ErrServiceGone = errors.New("virtual service gone")
