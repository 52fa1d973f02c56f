package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/lb/lvs"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(o options) bool
	}{
		{"vip", []string{"-vip", "10.0.0.1:80", "-proto", "udp", "-sched", "rr", "-forward", "dr", "-pool", "10.0.1.1:80, 10.0.1.2:80"}, "",
			func(o options) bool {
				return o.svc.String() == "udp/10.0.0.1:80" && o.forward == lvs.DirectRoute && len(o.pool) == 2 && o.max == 2
			}},
		{"fwmark", []string{"-fwmark", "7", "-ipv6", "-pool", "[fd00::1]:80", "-max", "9"}, "",
			func(o options) bool { return o.svc.String() == "fwmark6/7" && o.max == 1 }},
		{"no service", []string{"-pool", "10.0.1.1:80"}, "-vip address:port or -fwmark", nil},
		{"both", []string{"-vip", "10.0.0.1:80", "-fwmark", "3", "-pool", "10.0.1.1:80"}, "not both", nil},
		{"bad vip", []string{"-vip", "10.0.0.1", "-pool", "10.0.1.1:80"}, "-vip", nil},
		{"bad proto", []string{"-vip", "10.0.0.1:80", "-proto", "icmp", "-pool", "10.0.1.1:80"}, "protocol", nil},
		{"bad forward", []string{"-vip", "10.0.0.1:80", "-forward", "bridge", "-pool", "10.0.1.1:80"}, "forwarding method", nil},
		{"empty pool", []string{"-vip", "10.0.0.1:80"}, "at least one", nil},
		{"bad pool", []string{"-vip", "10.0.0.1:80", "-pool", "web1"}, "-pool", nil},
		{"mesos", []string{"-vip", "10.0.0.1:80", "-master", "http://127.0.0.1:5050", "-task-cmd", "web -port $PORT0"}, "",
			func(o options) bool { return len(o.masters) == 1 && len(o.task.Command) == 3 && o.max == 10 }},
		{"mesos without a command", []string{"-vip", "10.0.0.1:80", "-master", "http://127.0.0.1:5050"}, "-task-cmd", nil},
		{"mesos with dr", []string{"-vip", "10.0.0.1:80", "-forward", "dr", "-master", "m:5050", "-task-cmd", "x"}, "use -forward nat", nil},
		{"mesos and pool", []string{"-vip", "10.0.0.1:80", "-pool", "10.0.1.1:80", "-master", "m:5050", "-task-cmd", "x"}, "not both", nil},
		{"fwmark too big", []string{"-fwmark", "4294967296", "-pool", "10.0.1.1:80"}, "32 bits", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseFlags(%q) = %v, want an error with %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(o) {
				t.Fatalf("parseFlags(%q) = %+v, %v", tc.args, o, err)
			}
		})
	}
}

func TestPoolTarget(t *testing.T) {
	ctx := context.Background()
	m := lbtest.NewMemory()
	pool := []string{"127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"}
	opts, err := parseFlags([]string{"-vip", "10.0.0.1:80", "-pool", strings.Join(pool, ",")})
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := newPoolTarget(ctx, m, opts.pool, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		n           int
		wantRunning int
		wantStates  []lb.State
	}{
		{"scale from 0 to 2", 2, 2, []lb.State{lb.StateReady, lb.StateReady, lb.StateUnknown}},
		{"to 3", 3, 3, []lb.State{lb.StateReady, lb.StateReady, lb.StateReady}},
		{"down to 1 drains the tail", 1, 1, []lb.State{lb.StateReady, lb.StateDraining, lb.StateDraining}},
	}
	for _, st := range steps {
		if err := tgt.SetDesired(ctx, st.n); err != nil {
			t.Fatalf("%s: SetDesired(%d) = %v", st.name, st.n, err)
		}
		s, err := tgt.Status(ctx)
		if err != nil || s.Desired != st.n || s.Running != st.wantRunning {
			t.Errorf("%s: Status = %+v, %v; want desired %d running %d", st.name, s, err, st.n, st.wantRunning)
		}
		for i, want := range st.wantStates {
			if got := m.State(tgt.pool[i].ID); got != want {
				t.Errorf("%s: %s is %s, want %s", st.name, tgt.pool[i].ID, got, want)
			}
		}
	}
	if err := tgt.SetDesired(ctx, 4); !errors.Is(err, lb.ErrInvalid) {
		t.Errorf("SetDesired beyond the pool = %v, want lb.ErrInvalid", err)
	}
}
