package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Trace is a request trace: the request rate in each of a run of equal
// buckets. A bucket whose demand is unknown (the source recorded nothing,
// as during an outage) holds NaN; the simulator leaves its seconds out of
// every figure.
type Trace struct {
	// Start is the start of the first bucket.
	Start time.Time
	// Step is the width of a bucket: a whole number of seconds, > 0.
	Step time.Duration
	// Rates holds the requests per second of each bucket, spread evenly
	// over its seconds; NaN for unknown.
	Rates []float64
}

// Duration is the span the trace covers.
func (t Trace) Duration() time.Duration { return time.Duration(len(t.Rates)) * t.Step }

// Peak returns the largest known rate, or 0 when none is known.
func (t Trace) Peak() float64 {
	p := 0.0
	for _, r := range t.Rates {
		if r > p {
			p = r
		}
	}
	return p
}

// Validate reports a trace the simulator cannot replay.
func (t Trace) Validate() error {
	switch {
	case t.Step <= 0 || t.Step%time.Second != 0:
		return fmt.Errorf("sim: trace step %s must be a whole number of seconds > 0", t.Step)
	case len(t.Rates) == 0:
		return errors.New("sim: trace has no buckets")
	case len(t.Rates) > 1<<24:
		return fmt.Errorf("sim: trace has %d buckets, more than %d", len(t.Rates), 1<<24)
	}
	for i, r := range t.Rates {
		if math.IsInf(r, 0) || r < 0 {
			return fmt.Errorf("sim: trace bucket %d has rate %v; want a finite number ≥ 0 or NaN for unknown", i, r)
		}
	}
	return nil
}

// ScaleToPeak returns a copy of t with every rate multiplied so that the
// busiest bucket has peak requests per second.
func (t Trace) ScaleToPeak(peak float64) (Trace, error) {
	if math.IsNaN(peak) || math.IsInf(peak, 0) || peak <= 0 {
		return Trace{}, fmt.Errorf("sim: peak %v must be a finite number > 0", peak)
	}
	p := t.Peak()
	if p == 0 {
		return Trace{}, errors.New("sim: trace has no traffic to scale")
	}
	return t.Scale(peak / p)
}

// Scale returns a copy of t with every rate multiplied by factor.
func (t Trace) Scale(factor float64) (Trace, error) {
	if math.IsNaN(factor) || math.IsInf(factor, 0) || factor <= 0 {
		return Trace{}, fmt.Errorf("sim: scale factor %v must be a finite number > 0", factor)
	}
	out := t
	out.Rates = make([]float64, len(t.Rates))
	for i, r := range t.Rates {
		out.Rates[i] = r * factor
	}
	return out, nil
}

// Slice returns the buckets [from, to) of t as a trace of their own.
func (t Trace) Slice(from, to int) Trace {
	from = max(0, min(from, len(t.Rates)))
	to = max(from, min(to, len(t.Rates)))
	return Trace{Start: t.Start.Add(time.Duration(from) * t.Step), Step: t.Step, Rates: t.Rates[from:to]}
}

// LoadCSV reads a trace file; see [ReadCSV].
func LoadCSV(path string) (Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return Trace{}, fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	t, err := ReadCSV(f)
	if err != nil {
		return Trace{}, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadCSV reads a trace in the form of /work/shared/traces: a header row
// naming a "timestamp" column (RFC 3339, or "2006-01-02 15:04:05-07:00";
// a timestamp without a zone offset, "2006-01-02 15:04:05" or
// "2006-01-02T15:04:05", is read as UTC) and a "request_count" column (requests in the bucket; empty means
// unknown), one row per bucket, buckets equally spaced. The bucket width is
// the spacing of the timestamps, so a trace has at least two rows. Other
// columns are ignored.
func ReadCSV(r io.Reader) (Trace, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return Trace{}, fmt.Errorf("sim: trace header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(strings.ToLower(h))] = i
	}
	ti, ok1 := col["timestamp"]
	ci, ok2 := col["request_count"]
	if !ok1 || !ok2 {
		return Trace{}, fmt.Errorf("sim: trace header %q lacks a timestamp or request_count column", head)
	}
	var (
		times  []time.Time
		counts []float64
	)
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Trace{}, fmt.Errorf("sim: trace: %w", err)
		}
		if len(rec) <= max(ti, ci) {
			return Trace{}, fmt.Errorf("sim: trace line %d: %d fields, want at least %d", line, len(rec), max(ti, ci)+1)
		}
		at, err := parseTime(rec[ti])
		if err != nil {
			return Trace{}, fmt.Errorf("sim: trace line %d: %w", line, err)
		}
		c := math.NaN()
		if s := strings.TrimSpace(rec[ci]); s != "" {
			c, err = strconv.ParseFloat(s, 64)
			if err != nil || math.IsInf(c, 0) || math.IsNaN(c) || c < 0 {
				return Trace{}, fmt.Errorf("sim: trace line %d: request_count %q is not a count", line, s)
			}
		}
		times = append(times, at)
		counts = append(counts, c)
		if len(counts) > 1<<24 {
			return Trace{}, fmt.Errorf("sim: trace has more than %d rows", 1<<24)
		}
	}
	if len(times) < 2 {
		return Trace{}, fmt.Errorf("sim: trace has %d rows; need at least 2 to tell the bucket width", len(times))
	}
	step := times[1].Sub(times[0])
	if step <= 0 || step%time.Second != 0 {
		return Trace{}, fmt.Errorf("sim: trace bucket width %s must be a whole number of seconds > 0", step)
	}
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d != step {
			return Trace{}, fmt.Errorf("sim: trace line %d: %s after the previous row; buckets must be %s apart", i+2, d, step)
		}
	}
	rates := make([]float64, len(counts))
	for i, c := range counts {
		rates[i] = c / step.Seconds()
	}
	return Trace{Start: times[0], Step: step, Rates: rates}, nil
}

// timeLayouts are the timestamp forms ReadCSV accepts: with a zone offset,
// then without one (read as UTC).
var timeLayouts = []string{time.RFC3339, "2006-01-02 15:04:05-07:00", "2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05", "2006-01-02 15:04:05"}

// parseTime reads a timestamp in one of timeLayouts; one without a zone
// offset is UTC (time.Parse's rule for layouts without a zone).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q is neither RFC 3339 nor 2006-01-02 15:04:05 (with or without a -07:00 offset)", s)
}
