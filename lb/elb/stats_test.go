package elb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
)

// minute returns t0 + m minutes.
func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// statsStep is one moment of a Stats timeline: at the fake's clock
// "now" (minutes after t0), after publishing datapoints, a Stats call
// gives Requests at At, or an error matching wantErr.
type statsStep struct {
	name    string
	now     int             // minutes after t0
	put     map[int]float64 // minute (after t0) → datapoint
	wantAt  int             // minutes after t0
	wantN   uint64
	wantErr error
	calls   int // GetMetricData calls so far, if > 0
}

func runStats(t *testing.T, cfg elb.Config, steps []statsStep) {
	t.Helper()
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, cfg)
	ctx := context.Background()
	for _, st := range steps {
		for m, v := range st.put {
			s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(m), v)
		}
		s.Advance(minute(st.now).Sub(s.Now()))
		got, err := b.Stats(ctx)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: Stats() = %+v, %v; want an error matching %v", st.name, got, err, st.wantErr)
			}
			t.Logf("%s: %v", st.name, err)
		} else {
			if err != nil {
				t.Fatalf("%s: Stats() = %v", st.name, err)
			}
			if want := minute(st.wantAt); !got.At.Equal(want) || got.Requests != st.wantN {
				t.Fatalf("%s: Stats() = %d at %s, want %d at %s", st.name, got.Requests, got.At.Format("15:04"), st.wantN, want.Format("15:04"))
			}
			if got.Backends != nil || got.Active != 0 || got.Queued != 0 {
				t.Fatalf("%s: Stats() = %+v, want no per-backend figures or gauges (ELB has none)", st.name, got)
			}
		}
		if st.calls > 0 && s.Calls("GetMetricData") != st.calls {
			t.Fatalf("%s: %d GetMetricData calls, want %d", st.name, s.Calls("GetMetricData"), st.calls)
		}
	}
}

func TestStatsTimeline(t *testing.T) {
	t.Run("missing periods are zero", func(t *testing.T) {
		runStats(t, elb.Config{Missing: elb.MissingZero}, []statsStep{
			{name: "first read sums the lookback; At is now-2m, not now", now: 0,
				put: map[int]float64{-5: 100, -3: 50, -2: 999 /* not complete at now-2m */}, wantAt: -2, wantN: 150, calls: 1},
			{name: "same period boundary: no new call, same reading", now: 0, wantAt: -2, wantN: 150, calls: 1},
			{name: "30 s later: still the same boundary", now: 0, wantAt: -2, wantN: 150, calls: 1},
			{name: "the minute of 999 completes", now: 1, wantAt: -1, wantN: 1149, calls: 2},
			{name: "a minute without traffic counts zero and advances At", now: 2, wantAt: 0, wantN: 1149},
			{name: "late data for a counted minute is added, not lost", now: 3, put: map[int]float64{-1: 7, 0: 40}, wantAt: 1, wantN: 1196},
			{name: "late data for a minute already partly counted adds the difference", now: 4, put: map[int]float64{0: 10}, wantAt: 2, wantN: 1206},
		})
	})
	t.Run("missing periods are unknown", func(t *testing.T) {
		runStats(t, elb.Config{Missing: elb.MissingUnknown, MaxStaleness: 5 * time.Minute}, []statsStep{
			{name: "no datapoint at all is stale, not zero", now: 0, wantErr: elb.ErrStale},
			{name: "At is the end of the newest minute with data", now: 1, put: map[int]float64{-4: 60}, wantAt: -3, wantN: 60},
			{name: "minutes without data hold At", now: 2, wantAt: -3, wantN: 60},
			{name: "data arrives: At jumps to it", now: 3, put: map[int]float64{-2: 30}, wantAt: -1, wantN: 90},
			{name: "silence past MaxStaleness is ErrStale", now: 5, wantErr: elb.ErrStale},
			{name: "fresh data ends the staleness", now: 6, put: map[int]float64{3: 5}, wantAt: 4, wantN: 95},
		})
	})
	t.Run("custom period and offset", func(t *testing.T) {
		runStats(t, elb.Config{Period: 5 * time.Minute, Offset: 3 * time.Minute, Missing: elb.MissingZero}, []statsStep{
			// now 12:00, offset 3m → 11:57 → the 5-minute boundary 11:55.
			{name: "periods end on 5-minute boundaries", now: 0, put: map[int]float64{-10: 1, -9: 2, -6: 3, -5: 4}, wantAt: -5, wantN: 6},
			{name: "the 11:55 period completes at 12:03 + 5m", now: 8, put: map[int]float64{-1: 10}, wantAt: 5, wantN: 20},
		})
	})
}

func TestStatsPagination(t *testing.T) {
	s := fakeALB(t, "ip")
	s.SetMetricPageSize(2)
	for m := -10; m < -2; m++ {
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(m), float64(m+20))
	}
	b := newBalancer(t, s, elb.Config{})
	got, err := b.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Minutes -10…-3: 10+11+…+17 = 108.
	if got.Requests != 108 || s.Calls("GetMetricData") != 4 {
		t.Errorf("Stats over 4 pages = %d after %d calls, want 108 after 4", got.Requests, s.Calls("GetMetricData"))
	}
}

func TestStatsMetricName(t *testing.T) {
	s := fakeALB(t, "ip")
	s.PutMetric("AWS/ApplicationELB", "HTTPCode_Target_2XX_Count", albDims, minute(-4), 12)
	s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(-4), 15)
	b := newBalancer(t, s, elb.Config{MetricName: "HTTPCode_Target_2XX_Count"})
	if got, err := b.Stats(context.Background()); err != nil || got.Requests != 12 {
		t.Fatalf("Stats of HTTPCode_Target_2XX_Count = %+v, %v; want 12", got, err)
	}
}

func TestStatsResultStatus(t *testing.T) {
	for _, status := range []string{"InternalError", "Forbidden"} {
		t.Run(status, func(t *testing.T) {
			s := fakeALB(t, "ip")
			s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(-4), 15)
			b := newBalancer(t, s, elb.Config{})
			s.SetMetricStatus(status)
			if got, err := b.Stats(context.Background()); err == nil {
				t.Fatalf("Stats with result status %s = %+v, want an error", status, got)
			} else if !contains(err.Error(), status) {
				t.Errorf("Stats error %q does not name the status %s", err, status)
			}
			s.SetMetricStatus("")
			if got, err := b.Stats(context.Background()); err != nil || got.Requests != 15 {
				t.Fatalf("Stats after recovery = %+v, %v; want 15 (nothing half-applied before)", got, err)
			}
		})
	}
}

func TestStatsCancelled(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Stats(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stats(cancelled) = %v", err)
	}
	if n := s.Calls("GetMetricData"); n != 0 {
		t.Errorf("a cancelled Stats made %d calls", n)
	}
	_ = b.Close()
	if _, err := b.Stats(context.Background()); !errors.Is(err, lb.ErrClosed) {
		t.Errorf("Stats after Close = %v, want lb.ErrClosed", err)
	}
}
