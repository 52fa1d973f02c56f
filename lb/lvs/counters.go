package lvs

// wrapCounter extends a 32-bit kernel counter that wraps to a 64-bit one
// that does not. IPVS keeps 64-bit counters, but moby/ipvs reads the
// 32-bit netlink attributes, which wrap after 2³² connections or packets.
//
// A reading below the last one is a wrap when the modular increase is
// under 2³¹, and a reset (the service was recreated, or its counters
// zeroed) otherwise: then the extended value restarts at the reading,
// going down, which [lb.Meter] reads as a reset. A wrap is detected as
// long as readings come less than 2³¹ events apart.
type wrapCounter struct {
	last  uint32
	total uint64
	seen  bool
}

func (c *wrapCounter) observe(raw uint32) uint64 {
	switch {
	case !c.seen:
		c.total = uint64(raw)
	case raw >= c.last:
		c.total += uint64(raw - c.last)
	case raw-c.last < 1<<31: // modular increase: a wrap
		c.total += uint64(raw - c.last)
	default: // a reset
		c.total = uint64(raw)
	}
	c.last, c.seen = raw, true
	return c.total
}

// counters are the wrapping counters of one service or real server.
type counters struct {
	conns, pktsIn, pktsOut wrapCounter
}
