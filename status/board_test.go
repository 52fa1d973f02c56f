package status

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// clock is a hand-driven clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time              { return c.t }
func (c *clock) Advance(d time.Duration)     { c.t = c.t.Add(d) }
func newClock() *clock                       { return &clock{t: time.Date(2026, 11, 28, 22, 0, 0, 0, time.UTC)} }
func newBoard(t *testing.T, c *clock) *Board { return newBoardLog(t, c, nil) }

func newBoardLog(t *testing.T, c *clock, log *slog.Logger) *Board {
	t.Helper()
	b, err := NewBoard(Options{Now: c.Now, Window: time.Minute, Decisions: 3, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// report builds a controller report at the clock's time.
func report(c *clock, current, count, ready int, rps float64, applied bool, reason string) scaler.Report {
	r := scaler.Report{
		Decision: scaler.Decision{At: c.Now(), Current: current, Count: count, Reason: reason},
		Input:    scaler.Input{Now: c.Now(), Current: current, Ready: ready},
		Applied:  applied,
	}
	if !math.IsNaN(rps) {
		r.Rate = &lb.Rate{At: c.Now(), PerSecond: rps}
	}
	return r
}

func TestBoardRecordTimeline(t *testing.T) {
	c := newClock()
	b := newBoard(t, c)

	// t=0: first poll gives no rate; hold at 2.
	b.Record(report(c, 2, 2, 2, math.NaN(), false, "no data yet"))
	s := b.Snapshot()
	if len(s.Points) != 1 || s.Points[0].RPS != nil || s.Points[0].Desired != 2 {
		t.Fatalf("after a no-data hold: points = %+v, want one point with no rate and desired 2", s.Points)
	}
	if len(s.Decisions) != 0 || s.Reason != "no data yet" {
		t.Fatalf("a hold is not a decision: decisions %v, reason %q", s.Decisions, s.Reason)
	}

	// t=1s: scale up, applied, while a load generator aims at 420 req/s.
	c.Advance(time.Second)
	b.SetLoad(Load{Running: true, TargetRPS: 420})
	b.Record(report(c, 2, 5, 2, 400, true, "rps 400 → 5"))
	s = b.Snapshot()
	if got := s.Last.Target; got == nil || *got != 420 {
		t.Errorf("last point's client target = %v, want 420", got)
	}
	if s.Points[0].Target != nil {
		t.Errorf("a point before any load has a client target")
	}
	if got := s.Last; got == nil || got.Desired != 5 || got.Running != 2 || got.RPS == nil || *got.RPS != 400 {
		t.Fatalf("last point = %+v, want desired 5 (applied), running 2, rps 400", got)
	}

	// t=2s: a dry-run style decision that was not applied keeps the current count.
	c.Advance(time.Second)
	b.Record(report(c, 5, 7, 5, 600, false, "dry run"))
	if got := b.Snapshot().Last.Desired; got != 5 {
		t.Errorf("desired after a decision not applied = %d, want 5 (Current)", got)
	}

	// t=3s, 4s: down, and a failed SetDesired.
	c.Advance(time.Second)
	b.Record(report(c, 5, 3, 5, 100, true, "rps 100 → 3"))
	c.Advance(time.Second)
	r := report(c, 3, 2, 3, 50, false, "rps 50 → 2")
	r.Err = errors.New("target unreachable")
	b.Record(r)

	s = b.Snapshot()
	if len(s.Decisions) != 3 { // Options.Decisions = 3 keeps the newest three of four
		t.Fatalf("decisions = %d, want 3 (the newest)", len(s.Decisions))
	}
	if d := s.Decisions[0]; d.From != 3 || d.To != 2 || d.Err != "target unreachable" || d.Applied {
		t.Errorf("newest decision = %+v, want 3→2 not applied with the error", d)
	}
	if d := s.Decisions[2]; d.From != 5 || d.To != 7 {
		t.Errorf("oldest kept decision = %+v, want 5→7 (2→5 dropped)", d)
	}
	if s.Err != "target unreachable" {
		t.Errorf("snapshot Err = %q, want the last tick's error", s.Err)
	}
	if s.Counts.Up != 2 || s.Counts.Down != 2 || s.Counts.Hold != 1 {
		t.Errorf("counts = %+v, want up 2, down 2, hold 1", s.Counts)
	}

	// A minute later the window drops the old points.
	c.Advance(time.Minute)
	b.Record(report(c, 2, 2, 2, 10, false, "within tolerance"))
	s = b.Snapshot()
	if len(s.Points) != 1 || s.Last.RPS == nil || *s.Last.RPS != 10 {
		t.Errorf("after the window passed: points = %+v, want only the last one", s.Points)
	}

	if got := value(t, b.m.decisions.WithLabelValues("up")); got != 2 {
		t.Errorf("webfarm_scaling_decisions_total{direction=up} = %v, want 2", got)
	}
	if got := value(t, b.m.desired); got != 2 {
		t.Errorf("webfarm_tasks_desired = %v, want 2", got)
	}
	if got := value(t, b.m.rps); got != 10 {
		t.Errorf("webfarm_requests_per_second = %v, want 10", got)
	}
}

func TestBoardRecordOddInput(t *testing.T) {
	tests := []struct {
		name string
		r    scaler.Report
	}{
		{"failed target status has no decision", scaler.Report{Err: errors.New("status: boom")}},
		{"NaN rate", scaler.Report{Decision: scaler.Decision{At: time.Unix(1, 0), Current: 1, Count: 1},
			Rate: &lb.Rate{PerSecond: math.NaN()}}},
		{"infinite rate", scaler.Report{Decision: scaler.Decision{At: time.Unix(1, 0), Current: 1, Count: 1},
			Rate: &lb.Rate{PerSecond: math.Inf(1)}}},
		{"zero report", scaler.Report{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBoard(t, newClock())
			b.Record(tc.r)
			s := b.Snapshot()
			for _, p := range s.Points {
				if p.RPS != nil {
					t.Errorf("point %+v has a rate, want none for %s", p, tc.name)
				}
			}
			if tc.r.Err != nil && s.Err == "" {
				t.Errorf("Snapshot().Err is empty, want the report's error")
			}
		})
	}
}

func TestBoardSetLoadCountsDeltas(t *testing.T) {
	b := newBoard(t, newClock())
	b.SetLoad(Load{Running: true, Requests: 10, OK: 9, Failed: 1, Errors: map[string]int64{"status 503": 1}})
	b.SetLoad(Load{Running: true, Requests: 30, OK: 28, Failed: 2})
	if got := value(t, b.m.clientResult.WithLabelValues("ok")); got != 28 {
		t.Errorf("client_requests_total{result=ok} = %v, want 28", got)
	}
	if got := value(t, b.m.clientResult.WithLabelValues("failed")); got != 2 {
		t.Errorf("client_requests_total{result=failed} = %v, want 2", got)
	}
	if l := b.Snapshot().Load; l == nil || l.OK != 28 {
		t.Errorf("Snapshot().Load = %+v, want the latest counters", l)
	}
}

func TestBoardInfo(t *testing.T) {
	b := newBoard(t, newClock())
	b.SetInfo("balancer", "a")
	b.SetInfo("master", "m")
	b.SetInfo("balancer", "b")
	got := b.Snapshot().Info
	if len(got) != 2 || got[0] != (Info{"balancer", "b"}) || got[1] != (Info{"master", "m"}) {
		t.Errorf("Info = %v, want [balancer b, master m] in first-set order", got)
	}
}

func TestNewBoardRegistryConflict(t *testing.T) {
	b := newBoard(t, newClock())
	if _, err := NewBoard(Options{Registry: b.Registry()}); err == nil {
		t.Fatal("NewBoard on a registry that already has the board's metrics: got nil error")
	}
}

// logLines returns a logger writing text lines into buf.
func logLines(buf io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
}

func countLines(s, sub string) int { return strings.Count(s, sub) }

// value reads a gauge's or counter's current value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("metric %v is neither gauge, counter nor histogram", c.Desc())
	return 0
}
