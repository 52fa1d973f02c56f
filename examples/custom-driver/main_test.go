package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"short run", []string{"-duration", "12s", "-peak", "200"}, ""},
		{"too short", []string{"-duration", "1s"}, "-duration"},
		{"zero peak", []string{"-peak", "0"}, "-peak"},
		{"NaN target", []string{"-target", "NaN"}, "-target"},
		{"min above max", []string{"-min", "5", "-max", "2"}, "-min"},
		{"min zero", []string{"-min", "0"}, "-min"},
		{"interval too fast", []string{"-interval", "1ms"}, "-interval"},
		{"stray argument", []string{"now"}, "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("parseFlags(%q) = %v", tc.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlags(%q) = %v, want an error naming %s", tc.args, err, tc.wantErr)
			}
		})
	}
}

// TestFarmScalesUpAndDown runs the whole example for 16 s: the custom
// driver, in-process tasks, the TargetTracking policy and a load that rises
// to 200 req/s and falls back.
func TestFarmScalesUpAndDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 16 s load; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	o := options{duration: 16 * time.Second, peak: 200, target: 50, min: 1, max: 8, interval: 250 * time.Millisecond}
	sum, err := run(ctx, o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	if sum.load.Failed != 0 || sum.load.OK < 300 {
		t.Errorf("load: %s; want 0 failed, ≥ 300 ok", sum.load)
	}
	if sum.ups == 0 || sum.maxTasks < 3 {
		t.Errorf("scaled up %d times to at most %d tasks; want ≥ 3 tasks at 200 req/s (4 at 50 req/s per task)", sum.ups, sum.maxTasks)
	}
	if sum.downs == 0 || sum.finalTasks >= sum.maxTasks {
		t.Errorf("scaled down %d times, final %d of peak %d tasks; want it to shrink after the peak", sum.downs, sum.finalTasks, sum.maxTasks)
	}
}
