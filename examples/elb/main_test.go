package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
)

const arn = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067"

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{"defaults follow the delayed-metrics advice", []string{"-target-group-arn", arn}, "", func(t *testing.T, o options) {
			if o.interval != time.Minute || o.maxGap != 3*time.Minute || o.policy.MaxAge != 4*time.Minute || o.elb.Missing != elb.MissingUnknown {
				t.Errorf("options = %+v", o)
			}
			if len(o.masters) != 0 {
				t.Errorf("masters without -master: %v", o.masters)
			}
		}},
		{"mesos mode", []string{"-target-group-arn", arn, "-master", "http://a:5050,http://b:5050", "-task-cmd", "/bin/web -p 1", "-health-path", "/healthz"}, "", func(t *testing.T, o options) {
			if len(o.masters) != 2 || strings.Join(o.task.Command, " ") != "/bin/web -p 1" || o.task.HealthCheck == nil {
				t.Errorf("options = %+v", o)
			}
		}},
		{"instances map", []string{"-classic", "web", "-instances", "10.0.1.5=i-0abc, 10.0.1.6=i-0def"}, "", func(t *testing.T, o options) {
			id, err := o.elb.InstanceID(context.Background(), lb.Backend{ID: "t", Addr: netip.MustParseAddrPort("[::ffff:10.0.1.6]:31000")})
			if err != nil || id != "i-0def" {
				t.Errorf("InstanceID = %q, %v", id, err)
			}
			if _, err := o.elb.InstanceID(context.Background(), lb.Backend{ID: "t", Addr: netip.MustParseAddrPort("10.9.9.9:1")}); err == nil {
				t.Error("InstanceID of an unmapped agent succeeded")
			}
		}},
		{"latency signal", []string{"-target-group-arn", arn, "-target-latency-ms", "250"}, "", func(t *testing.T, o options) {
			if len(o.policy.Signals) != 1 || o.policy.Signals[0].Name != elb.SignalResponseTime || !o.policy.Signals[0].PerTask {
				t.Errorf("signals = %+v", o.policy.Signals)
			}
		}},
		{"negative latency", []string{"-target-group-arn", arn, "-target-latency-ms", "-1"}, "negative", nil},
		{"unknown missing", []string{"-target-group-arn", arn, "-missing", "maybe"}, "-missing", nil},
		{"missing zero and flow linger", []string{"-target-group-arn", arn, "-missing", "zero", "-flow-linger", "2m"}, "", func(t *testing.T, o options) {
			if o.elb.Missing != elb.MissingZero || o.elb.FlowLinger != 2*time.Minute {
				t.Errorf("options = %+v", o.elb)
			}
		}},
		{"bad instances", []string{"-classic", "web", "-instances", "10.0.1.5:i-0abc"}, "-instances", nil},
		{"master without command", []string{"-target-group-arn", arn, "-master", "http://a:5050"}, "-task-cmd", nil},
		{"stray argument", []string{"-target-group-arn", arn, "extra"}, "unexpected", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseFlags(%q) = %v, want an error mentioning %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}
