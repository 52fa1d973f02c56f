package sim_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler/sim"
)

func TestReadCSV(t *testing.T) {
	tr, err := sim.ReadCSV(strings.NewReader("timestamp,request_count,other\n" +
		"1995-07-01 00:00:00-04:00,300.0,x\n1995-07-01 00:05:00-04:00,,y\n1995-07-01 00:10:00-04:00,600,z\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Step != 5*time.Minute || len(tr.Rates) != 3 || tr.Rates[0] != 1 || !math.IsNaN(tr.Rates[1]) || tr.Rates[2] != 2 {
		t.Fatalf("trace = %+v, want 5m steps of 1, NaN, 2 req/s", tr)
	}
	if want := time.Date(1995, 7, 1, 4, 0, 0, 0, time.UTC); !tr.Start.Equal(want) {
		t.Errorf("Start = %s, want %s", tr.Start, want)
	}
	if got := tr.Duration(); got != 15*time.Minute {
		t.Errorf("Duration = %s, want 15m", got)
	}
}

func TestReadCSVWithoutZoneIsUTC(t *testing.T) {
	for _, sep := range []string{" ", "T"} {
		tr, err := sim.ReadCSV(strings.NewReader("timestamp,request_count\n" +
			"1995-07-01" + sep + "00:00:00,60\n1995-07-01" + sep + "00:01:00,120\n"))
		if err != nil {
			t.Fatalf("separator %q: %v", sep, err)
		}
		if want := time.Date(1995, 7, 1, 0, 0, 0, 0, time.UTC); !tr.Start.Equal(want) || tr.Start.Location() != time.UTC {
			t.Errorf("separator %q: Start = %s, want %s (UTC)", sep, tr.Start, want)
		}
		if tr.Step != time.Minute || tr.Rates[0] != 1 || tr.Rates[1] != 2 {
			t.Errorf("separator %q: trace %+v, want 1m steps of 1, 2 req/s", sep, tr)
		}
	}
	// A mix of forms still has to be evenly spaced: 00:05 UTC is 04:05 after
	// 00:00-04:00.
	_, err := sim.ReadCSV(strings.NewReader("timestamp,request_count\n1995-07-01 00:00:00-04:00,1\n1995-07-01 00:05:00,1\n"))
	if err == nil || !strings.Contains(err.Error(), "whole number of seconds > 0") {
		t.Errorf("offset then UTC 4 h earlier: %v, want a bucket-width error", err)
	}
}

func TestReadCSVErrors(t *testing.T) {
	const head = "timestamp,request_count\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "trace header"},
		{"no count column", "timestamp,bytes\n2026-01-01T00:00:00Z,1\n", "lacks a timestamp or request_count"},
		{"one row", head + "2026-01-01T00:00:00Z,1\n", "need at least 2"},
		{"bad time", head + "yesterday,1\n2026-01-01T00:05:00Z,1\n", `timestamp "yesterday"`},
		{"negative count", head + "2026-01-01T00:00:00Z,-1\n2026-01-01T00:05:00Z,1\n", `request_count "-1"`},
		{"NaN count", head + "2026-01-01T00:00:00Z,NaN\n2026-01-01T00:05:00Z,1\n", `request_count "NaN"`},
		{"irregular", head + "2026-01-01T00:00:00Z,1\n2026-01-01T00:05:00Z,1\n2026-01-01T00:07:00Z,1\n", "buckets must be 5m0s apart"},
		{"backwards", head + "2026-01-01T00:05:00Z,1\n2026-01-01T00:00:00Z,1\n", "whole number of seconds > 0"},
		{"sub-second step", head + "2026-01-01T00:00:00Z,1\n2026-01-01T00:00:00.5Z,1\n", "whole number of seconds"},
		{"short row", "a,timestamp,request_count\n1\n", "fields"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.ReadCSV(strings.NewReader(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ReadCSV = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestScaleToPeak(t *testing.T) {
	tr := sim.Trace{Step: time.Second, Rates: []float64{1, math.NaN(), 4}}
	got, err := tr.ScaleToPeak(5000)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rates[0] != 1250 || !math.IsNaN(got.Rates[1]) || got.Rates[2] != 5000 || tr.Rates[2] != 4 {
		t.Errorf("ScaleToPeak = %v (original %v), want [1250 NaN 5000] and the original untouched", got.Rates, tr.Rates)
	}
	for _, peak := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := tr.ScaleToPeak(peak); err == nil {
			t.Errorf("ScaleToPeak(%v) succeeded", peak)
		}
	}
	if _, err := (sim.Trace{Step: time.Second, Rates: []float64{0, math.NaN()}}).ScaleToPeak(1); err == nil {
		t.Error("ScaleToPeak of a trace without traffic succeeded")
	}
}

func TestLoadCSVMissing(t *testing.T) {
	if _, err := sim.LoadCSV("testdata/does-not-exist.csv"); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("LoadCSV of a missing file = %v", err)
	}
}
