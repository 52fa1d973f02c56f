package main

import (
	"io"
	"strings"
	"testing"
)

// TestParseFlags covers the flags' defaults and refusals by name.
func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(options) bool
	}{
		{"full by default", nil, "", func(o options) bool { return o.ScaleEvents == 50 && o.Rate == 100 }},
		{"bounded", []string{"-bounded"}, "", func(o options) bool { return o.ScaleEvents == 10 && o.Rate == 40 }},
		{"overrides", []string{"-events", "7", "-rate", "55", "-outage", "3s", "-seed", "9"}, "",
			func(o options) bool {
				return o.ScaleEvents == 7 && o.Rate == 55 && o.Outage.Seconds() == 3 && o.Seed == 9
			}},
		{"no events", []string{"-events", "-1"}, "-events -1", nil},
		{"rate NaN", []string{"-rate", "NaN"}, "-rate NaN", nil},
		{"outage shorter than a poll", []string{"-outage", "10ms"}, "-outage 10ms", nil},
		{"extra argument", []string{"now"}, `unexpected arguments ["now"]`, nil},
		{"unknown flag", []string{"-x"}, "flag provided but not defined", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, err := parseFlags(tc.args, io.Discard)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !tc.check(o):
				t.Fatalf("options %+v", o)
			}
		})
	}
}
