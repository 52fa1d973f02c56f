package elb

import "errors"

// ErrStale is wrapped by Stats when CloudWatch has no complete period
// recent enough (see Config.MaxStaleness and Config.Missing), and by
// WaitDrained when ELB keeps draining past the deregistration delay plus
// Config.DrainGrace. A scaler that gets it holds the count: acting on old
// data is worse than waiting.
var ErrStale = errors.New("elb: data too old")
