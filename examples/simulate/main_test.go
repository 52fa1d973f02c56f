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
	for _, want := range []string{"scaled to a 5000 req/s peak", "webfarm TargetTracking", "HPA-equivalent", "KPA-equivalent", "marathon-lb-autoscale", "oracle", "+0.0%"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
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
