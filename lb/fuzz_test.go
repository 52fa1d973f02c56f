package lb

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"
)

// FuzzMeter feeds a Meter any sequence of readings (times that jump,
// repeat or go back; counters that wrap, reset or stand still) and checks
// each answer against the rules in Observe's doc: no panic, no negative,
// NaN or infinite rate, and a reset read as the count since the restart,
// never as a huge or negative delta.
//
// Each reading is 17 bytes: a signed step of the clock in milliseconds (8),
// the request counter (8), and a flags byte (bit 0: a zero At).
func FuzzMeter(f *testing.F) {
	f.Add(int64(0), readings(r(1000, 10, 0), r(1000, 20, 0), r(1000, 5, 0), r(0, 5, 0), r(-500, 30, 0), r(10_000, 40, 0)))
	f.Add(int64(5000), readings(r(1000, math.MaxUint64-5, 0), r(1000, 3, 0), r(1000, math.MaxUint64, 0), r(1, 0, 1)))
	f.Fuzz(func(t *testing.T, maxGapMS int64, data []byte) {
		m := Meter{MaxGap: time.Duration(maxGapMS) * time.Millisecond}
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var base Stats // the model's baseline
		have := false
		for i := 0; i+17 <= len(data); i += 17 {
			step := int64(binary.BigEndian.Uint64(data[i:]))
			step = max(min(step, 1e9), -1e9) // ±11 days a reading keeps time.Time in range
			at = at.Add(time.Duration(step) * time.Millisecond)
			s := Stats{At: at, Requests: binary.BigEndian.Uint64(data[i+8:])}
			if data[i+16]&1 != 0 {
				s.At = time.Time{}
			}
			rate, err := m.Observe(s)
			switch {
			case s.At.IsZero():
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("reading %d without a time: err %v, want ErrInvalid", i/17, err)
				}
				continue
			case !have:
				if !errors.Is(err, ErrNoRate) {
					t.Fatalf("first reading: err %v, want ErrNoRate", err)
				}
				base, have = s, true
				continue
			}
			d := s.At.Sub(base.At)
			gap := m.MaxGap > 0 && d > m.MaxGap
			if d <= 0 || gap {
				if !errors.Is(err, ErrNoRate) {
					t.Fatalf("reading %d, %s after the baseline (MaxGap %s): err %v, want ErrNoRate", i/17, d, m.MaxGap, err)
				}
				if d != 0 {
					base = s
				}
				continue
			}
			if err != nil {
				t.Fatalf("reading %d, %s after the baseline: %v", i/17, d, err)
			}
			want, reset := s.Requests-base.Requests, false
			if s.Requests < base.Requests {
				want, reset = s.Requests, true
			}
			if rate.Requests != want || rate.Reset != reset || rate.Interval != d {
				t.Fatalf("reading %d: %d → %d over %s: got %d requests (reset %v) over %s, want %d (reset %v)",
					i/17, base.Requests, s.Requests, d, rate.Requests, rate.Reset, rate.Interval, want, reset)
			}
			if p := rate.PerSecond; math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
				t.Fatalf("reading %d: rate %v", i/17, p)
			}
			base = s
		}
	})
}

type reading struct {
	stepMS int64
	n      uint64
	flags  byte
}

func r(stepMS int64, n uint64, flags byte) reading { return reading{stepMS, n, flags} }

func readings(rs ...reading) []byte {
	var b []byte
	for _, x := range rs {
		b = binary.BigEndian.AppendUint64(b, uint64(x.stepMS))
		b = binary.BigEndian.AppendUint64(b, x.n)
		b = append(b, x.flags)
	}
	return b
}
