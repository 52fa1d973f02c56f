package main

import (
	"io"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/mesos/local"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"real cluster", []string{"-master", "http://mesos:5050", "-task-bind", "0.0.0.0", "-task-exe", "/opt/farm"}, ""},
		{"max below min", []string{"-min", "5", "-max", "2"}, "-min"},
		{"max zero", []string{"-min", "0", "-max", "0"}, "-min"},
		{"interval too fast", []string{"-interval", "1ms"}, "-interval"},
		{"bind not an address", []string{"-task-bind", "localhost"}, "-task-bind"},
		{"stray argument", []string{"now"}, "unexpected"},
		{"batch beside the embedded cluster", []string{"-batch"}, ""},
		{"batch with a real cluster", []string{"-batch", "-master", "http://mesos:5050"}, "-batch"},
		{"deploy after a minute", []string{"-deploy-after", "1m"}, ""},
		{"deploy after a negative time", []string{"-deploy-after", "-1s"}, "-deploy-after"},
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

func TestSharesLine(t *testing.T) {
	got := sharesLine([]local.FrameworkShare{{Name: "farm", Role: "web", Share: 0.125}, {Name: "batch", Role: "batch", Share: 0.75}})
	if want := "farm (web) 12% · batch (batch) 75%"; got != want {
		t.Errorf("sharesLine = %q, want %q", got, want)
	}
	if got := sharesLine(nil); got != "no framework" {
		t.Errorf("sharesLine(nil) = %q", got)
	}
}
