package lvs

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/lb"
)

// FuzzWrapCounter feeds wrapCounter any sequence of 32-bit kernel readings
// (4 bytes each) and checks: the extended counter always ends in the raw
// reading (its low 32 bits equal it); it grows by exactly the increase
// when the reading went up, and by the modular increase when the reading
// went down by more than 2³¹ (a wrap); otherwise (down by less) it
// restarts at the reading (a reset, which lb.Meter then sees as a counter
// going down).
func FuzzWrapCounter(f *testing.F) {
	f.Add(u32s(0, 10, 4294967290, 5, 5, 2147483648, 1))
	f.Add(u32s(4294967295, 0, 2147483647, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c wrapCounter
		var last uint32
		var total uint64
		for i := 0; i+4 <= len(data); i += 4 {
			raw := binary.BigEndian.Uint32(data[i:])
			got := c.observe(raw)
			if uint32(got) != raw {
				t.Fatalf("reading %d: raw %d gave %d, whose low 32 bits are %d", i/4, raw, got, uint32(got))
			}
			switch inc := raw - last; {
			case i == 0:
				if got != uint64(raw) {
					t.Fatalf("first reading %d gave %d", raw, got)
				}
			case raw >= last || inc < 1<<31:
				if got != total+uint64(inc) {
					t.Fatalf("reading %d: %d → %d (increase %d) moved the total %d → %d", i/4, last, raw, inc, total, got)
				}
			default:
				if got != uint64(raw) {
					t.Fatalf("reading %d: reset %d → %d gave %d, want %d", i/4, last, raw, got, raw)
				}
			}
			last, total = raw, got
		}
	})
}

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// FuzzParseFlagValues checks the parsers of user-given protocol and
// forwarding names: any input either parses to a valid value whose name
// parses back to it, or fails with an error wrapping lb.ErrInvalid that
// quotes the input.
func FuzzParseFlagValues(f *testing.F) {
	for _, s := range []string{"tcp", "UDP", "sctp", "nat", "masq", "DR", "gatewaying", "ipip", "", "tcp\x00", "ｔｃｐ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := ParseProtocol(s); err == nil {
			if back, err := ParseProtocol(p.String()); err != nil || back != p {
				t.Fatalf("ParseProtocol(%q) = %v, but ParseProtocol(%q) = %v, %v", s, p, p.String(), back, err)
			}
		} else if !errors.Is(err, lb.ErrInvalid) || !strings.Contains(err.Error(), "protocol") {
			t.Fatalf("ParseProtocol(%q): %v, want a protocol error wrapping lb.ErrInvalid", s, err)
		}
		if fw, err := ParseForward(s); err == nil {
			if !fw.valid() {
				t.Fatalf("ParseForward(%q) = %v, not a valid method", s, fw)
			}
			if back, err := ParseForward(fw.String()); err != nil || back != fw {
				t.Fatalf("ParseForward(%q) = %v, but ParseForward(%q) = %v, %v", s, fw, fw.String(), back, err)
			}
		} else if !errors.Is(err, lb.ErrInvalid) {
			t.Fatalf("ParseForward(%q): %v, want an error wrapping lb.ErrInvalid", s, err)
		}
	})
}
