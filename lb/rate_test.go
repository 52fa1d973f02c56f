package lb

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	at := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	type step struct {
		s       Stats
		wantErr error   // nil: a rate is expected
		rps     float64 // expected PerSecond
		reset   bool
	}
	tests := []struct {
		name   string
		maxGap time.Duration
		steps  []step
	}{
		{"steady", 0, []step{
			{Stats{At: at(0), Requests: 100}, ErrNoRate, 0, false},
			{Stats{At: at(2), Requests: 300}, nil, 100, false},
			{Stats{At: at(4), Requests: 300}, nil, 0, false},
		}},
		{"counter reset reads the count since restart", 0, []step{
			{Stats{At: at(0), Requests: 1_000_000}, ErrNoRate, 0, false},
			{Stats{At: at(10), Requests: 50}, nil, 5, true},
			{Stats{At: at(20), Requests: 150}, nil, 10, false},
		}},
		{"duplicate reading is ignored", 0, []step{
			{Stats{At: at(0), Requests: 10}, ErrNoRate, 0, false},
			{Stats{At: at(0), Requests: 10}, ErrNoRate, 0, false},
			{Stats{At: at(1), Requests: 20}, nil, 10, false},
		}},
		{"clock stepped back rebaselines", 0, []step{
			{Stats{At: at(100), Requests: 10}, ErrNoRate, 0, false},
			{Stats{At: at(50), Requests: 20}, ErrNoRate, 0, false},
			{Stats{At: at(52), Requests: 40}, nil, 10, false},
		}},
		{"gap beyond MaxGap rebaselines", 10 * time.Second, []step{
			{Stats{At: at(0), Requests: 0}, ErrNoRate, 0, false},
			{Stats{At: at(60), Requests: 6000}, ErrNoRate, 0, false},
			{Stats{At: at(65), Requests: 6500}, nil, 100, false},
		}},
		{"gap within MaxGap averages", 10 * time.Second, []step{
			{Stats{At: at(0), Requests: 0}, ErrNoRate, 0, false},
			{Stats{At: at(10), Requests: 500}, nil, 50, false},
		}},
		{"zero time is invalid", 0, []step{
			{Stats{Requests: 5}, ErrInvalid, 0, false},
			{Stats{At: at(0), Requests: 5}, ErrNoRate, 0, false},
		}},
		{"counter near max wraps as reset", 0, []step{
			{Stats{At: at(0), Requests: math.MaxUint64 - 5}, ErrNoRate, 0, false},
			{Stats{At: at(1), Requests: 7}, nil, 7, true},
		}},
		{"sub-second interval", 0, []step{
			{Stats{At: at(0), Requests: 0}, ErrNoRate, 0, false},
			{Stats{At: at(0.25), Requests: 25}, nil, 100, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Meter{MaxGap: tc.maxGap}
			for i, st := range tc.steps {
				r, err := m.Observe(st.s)
				if st.wantErr != nil {
					if !errors.Is(err, st.wantErr) {
						t.Fatalf("step %d: Observe err = %v, want %v", i, err, st.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Observe err = %v, want a rate", i, err)
				}
				if math.Abs(r.PerSecond-st.rps) > 1e-9 || r.Reset != st.reset {
					t.Errorf("step %d: rate %.3f reset %v, want %.3f reset %v", i, r.PerSecond, r.Reset, st.rps, st.reset)
				}
			}
		})
	}
}

func TestMeterBackends(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m Meter
	_, _ = m.Observe(Stats{At: t0, Requests: 10, Backends: map[string]BackendStats{"a": {Requests: 10}}})
	r, err := m.Observe(Stats{At: t0.Add(2 * time.Second), Requests: 40, Active: 3,
		Backends: map[string]BackendStats{"a": {Requests: 20}, "b": {Requests: 20}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Backends["a"] != 5 || r.Backends["b"] != 10 || len(r.Backends) != 2 {
		t.Errorf("backend rates = %v, want a:5 b:10", r.Backends)
	}
	if r.Active != 3 || r.Requests != 30 || r.Interval != 2*time.Second {
		t.Errorf("rate = %+v, want Active 3, Requests 30, Interval 2s", r)
	}
	m.Reset()
	if _, err := m.Observe(Stats{At: t0.Add(3 * time.Second)}); !errors.Is(err, ErrNoRate) {
		t.Errorf("after Reset: err = %v, want ErrNoRate", err)
	}
}

func TestBackendValidate(t *testing.T) {
	ok := Backend{ID: "t1", Addr: mustAddrPort("127.0.0.1:8080")}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%s) = %v", ok, err)
	}
	for _, b := range []Backend{{Addr: ok.Addr}, {ID: "x"}, {ID: "x", Addr: mustAddrPort("127.0.0.1:0")}} {
		if err := b.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%s) = %v, want ErrInvalid", b, err)
		}
	}
}

// TestErrorsNameLBOnce: lb's own errors start with "lb: " and do not repeat
// it (the sentinel comes first when lb wraps its own sentinel).
func TestErrorsNameLBOnce(t *testing.T) {
	var m Meter
	_, zero := m.Observe(Stats{})
	_, first := m.Observe(Stats{At: time.Unix(1, 0)})
	_, dup := m.Observe(Stats{At: time.Unix(1, 0)})
	_, conns := ActiveConns(context.Background(), bareBalancer{}, "web.1")
	errs := map[string]error{
		"Validate(empty ID)": Backend{}.Validate(),
		"Validate(port 0)":   Backend{ID: "web.1", Addr: netip.MustParseAddrPort("127.0.0.1:0")}.Validate(),
		"Observe(zero time)": zero,
		"Observe(first)":     first,
		"Observe(duplicate)": dup,
		"ActiveConns(bare)":  conns,
		"SetWeight(bare)":    SetWeight(context.Background(), bareBalancer{}, "web.1", 5),
		"Resume(bare)":       Resume(context.Background(), bareBalancer{}, "web.1"),
	}
	for call, err := range errs {
		if err == nil {
			t.Errorf("%s = nil, want an error", call)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "lb: ") || strings.Count(msg, "lb: ") != 1 {
			t.Errorf("%s: error %q: want \"lb: \" once, at the start", call, msg)
		}
	}
}

// bareBalancer implements Balancer and no optional interface.
type bareBalancer struct{}

func (bareBalancer) Stats(context.Context) (Stats, error)        { return Stats{}, nil }
func (bareBalancer) Backends(context.Context) ([]Backend, error) { return nil, nil }
func (bareBalancer) Add(context.Context, Backend) error          { return nil }
func (bareBalancer) Drain(context.Context, string) error         { return nil }
func (bareBalancer) Remove(context.Context, string) error        { return nil }
