package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunSynthetic(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-days", "1"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"busiest training bucket scaled to 5000 req/s", "webfarm Budget", "webfarm TargetTracking", "HPA-equivalent", "KPA-equivalent", "marathon-lb-autoscale", "oracle", "+0.0%"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestRunHeldOutAndMinuteTraces(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-heldout", "2026-01-06", "-minute", "-days", "0.5"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"training 5m: 144 buckets of 5m0s, 2026-01-05 to 2026-01-05", "held-out 5m: 144 buckets of 5m0s, 2026-01-06",
		"random 1m: 720 buckets of 1m0s", "bursty 1m: 720 buckets of 1m0s", "burst factor σ",
		"held-out random 1m: 720 buckets of 1m0s, 2026-01-06", "held-out bursty 1m: 720 buckets of 1m0s, 2026-01-06",
		"summary: task-hours ÷ oracle", "training 5m ×oracle", "bursty 1m ×oracle", "held-out bursty 1m ×oracle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// The summary has a row per policy, the oracle left out.
	sum := out.String()[strings.Index(out.String(), "summary:"):]
	rows := 0
	for _, line := range strings.Split(sum, "\n") {
		if f := strings.Fields(line); len(f) > 0 && (f[0] == "webfarm" || strings.HasSuffix(f[0], "-equivalent") || f[0] == "marathon-lb-autoscale" || f[0] == "oracle") {
			rows++
			if f[0] == "oracle" {
				t.Errorf("summary has an oracle row: %q", line)
			}
		}
	}
	if rows != 5 {
		t.Errorf("summary has %d policy rows, want 5:\n%s", rows, sum)
	}
}

func TestTune(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-heldout", "2026-01-06", "-tune", "-days", "0.05"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	// The header, then one row per point of the grid.
	if lines := strings.Count(out.String(), "\n"); lines != 2+len(tuneGrid.margin)*len(tuneGrid.hindsight)*len(tuneGrid.down) {
		t.Errorf("tune printed %d lines:\n%s", lines, out.String())
	}
	if !strings.Contains(out.String(), "Budget settings on the training trace (2026-01-05 to 2026-01-05)") {
		t.Errorf("tune output:\n%s", out.String())
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no trace", nil, "-trace is required"},
		{"missing file", []string{"-trace", "nope.csv"}, "nope.csv"},
		{"bad capacity", []string{"-trace", "x.csv", "-capacity", "0"}, "-capacity 0"},
		{"bad peak", []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-peak", "-1"}, "peak -1"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
		{"tune without held-out", []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-tune"}, "-tune needs -heldout"},
		{"bad held-out date", []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-heldout", "1/6"}, `-heldout "1/6"`},
		{"held-out outside the trace", []string{"-trace", "../../scaler/sim/testdata/synthetic-2d-5m.csv", "-heldout", "2030-01-01"}, "leaves no training or no held-out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}
