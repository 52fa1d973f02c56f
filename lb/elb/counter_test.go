package elb

import (
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

var c0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func at(m int) time.Time { return c0.Add(time.Duration(m) * time.Minute) }

func TestWindow(t *testing.T) {
	tests := []struct {
		name       string
		now        time.Time
		period     time.Duration
		offset     time.Duration
		start, end time.Time
	}{
		{"on a boundary", at(0), time.Minute, 2 * time.Minute, at(-12), at(-2)},
		{"mid-minute rounds down", at(0).Add(59 * time.Second), time.Minute, 2 * time.Minute, at(-12), at(-2)},
		{"no offset", at(0).Add(time.Second), time.Minute, 0, at(-10), at(0)},
		{"5-minute periods align to the epoch", at(3), 5 * time.Minute, time.Minute, at(-50), at(0)},
		{"before 1970", time.Unix(-90, 0).UTC(), time.Minute, 0, time.Unix(-720, 0).UTC(), time.Unix(-120, 0).UTC()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, e := window(tc.now, tc.period, tc.offset, 10*tc.period)
			if !s.Equal(tc.start) || !e.Equal(tc.end) {
				t.Errorf("window(%s) = [%s, %s), want [%s, %s)", tc.now, s, e, tc.start, tc.end)
			}
		})
	}
}

func TestCounterObserve(t *testing.T) {
	type read struct {
		pts        []point
		start, end int // minutes
		total      uint64
		at         int // minutes; 99 = zero time
		rejected   int
	}
	tests := []struct {
		name    string
		missing Missing
		reads   []read
	}{
		{"sums and late corrections", MissingZero, []read{
			{[]point{{at(-5), 10}, {at(-4), 20}}, -10, -2, 30, -2, 0},
			{[]point{{at(-5), 10}, {at(-4), 25}, {at(-2), 5}}, -9, -1, 40, -1, 0},
			{[]point{{at(-4), 24}}, -8, 0, 40, 0, 0}, // a sum that shrank adds nothing
		}},
		{"corrupt values are rejected", MissingZero, []read{
			{[]point{{at(-5), math.NaN()}, {at(-5), math.Inf(1)}, {at(-4), -3}, {at(-3), 2e15}, {at(-3), 4.6}}, -10, -2, 5, -2, 4},
		}},
		{"points outside the window are rejected", MissingZero, []read{
			{[]point{{at(-11), 1}, {at(-2), 1}, {at(5), 1}, {time.Time{}, 1}, {at(-3), 1}}, -10, -2, 1, -2, 4},
		}},
		{"unaligned timestamps count in their period", MissingZero, []read{
			{[]point{{at(-5).Add(10 * time.Second), 3}}, -10, -2, 3, -2, 0},
		}},
		{"unknown: At is the newest period with data, never back", MissingUnknown, []read{
			{nil, -10, -2, 0, 99, 0},
			{[]point{{at(-6), 1}}, -10, -2, 1, -5, 0},
			{[]point{{at(-6), 1}, {at(-3), 1}}, -9, -1, 2, -2, 0},
			{[]point{}, -5, 3, 2, -2, 0}, // -6 forgotten, -3 remembered
		}},
		{"a zero datapoint still proves the period", MissingUnknown, []read{
			{[]point{{at(-4), 0}}, -10, -2, 0, -3, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := counter{period: time.Minute, missing: tc.missing}
			for i, r := range tc.reads {
				rej := c.observe(r.pts, at(r.start), at(r.end))
				wantAt := at(r.at)
				if r.at == 99 {
					wantAt = time.Time{}
				}
				if c.total != r.total || !c.at.Equal(wantAt) || rej != r.rejected {
					t.Fatalf("read %d: total %d at %s rejected %d, want %d at %s rejected %d", i, c.total, c.at, rej, r.total, wantAt, r.rejected)
				}
			}
		})
	}
}

func TestCounterSaturates(t *testing.T) {
	c := counter{period: time.Minute, total: math.MaxUint64 - 5}
	c.observe([]point{{at(-4), 1e6}}, at(-10), at(-2))
	if c.total != math.MaxUint64 {
		t.Errorf("total = %d, want saturation at MaxUint64", c.total)
	}
}

func TestTargetStrings(t *testing.T) {
	tests := []struct {
		name string
		t    target
		s    string
		addr string
	}{
		{"IPv4", target{"10.0.0.5", 8080}, "10.0.0.5:8080", "10.0.0.5:8080"},
		{"IPv6", target{"2001:db8::1", 80}, "[2001:db8::1]:80", "[2001:db8::1]:80"},
		{"instance", target{"i-0abc", 80}, "i-0abc:80", "invalid AddrPort"},
		{"classic instance", target{"i-0abc", 0}, "i-0abc", "invalid AddrPort"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.String(); got != tc.s {
				t.Errorf("String() = %q, want %q", got, tc.s)
			}
			if got := tc.t.addr().String(); got != tc.addr {
				t.Errorf("addr() = %s, want %s", got, tc.addr)
			}
			if tc.t.port != 0 {
				if back, ok := parseTarget(tc.s); !ok || back != tc.t {
					t.Errorf("parseTarget(%q) = %v, %v", tc.s, back, ok)
				}
			}
		})
	}
	for _, bad := range []string{"", "web-1", "10.0.0.1:0", "10.0.0.1:x", ":80", "10.0.0.1:70000"} {
		if got, ok := parseTarget(bad); ok {
			t.Errorf("parseTarget(%q) = %v, want no target", bad, got)
		}
	}
	if got := ipTarget(netip.MustParseAddrPort("[::ffff:10.1.2.3]:9")); got != (target{"10.1.2.3", 9}) {
		t.Errorf("ipTarget of a mapped address = %v", got)
	}
}

func TestToState(t *testing.T) {
	tests := []struct {
		elb     string
		drained bool
		want    lb.State
	}{
		{stateHealthy, false, lb.StateReady},
		{stateInitial, false, lb.StateUnknown},
		{stateUnhealthy, false, lb.StateDown},
		{stateUnavailable, false, lb.StateDown},
		{stateUnused, false, lb.StateDown},
		{stateDraining, false, lb.StateDraining},
		{stateUnhealthyDr, false, lb.StateDraining},
		{stateUnused, true, lb.StateDraining},
		{stateHealthy, true, lb.StateDraining},
	}
	for _, tc := range tests {
		t.Run(tc.elb+map[bool]string{true: " after Drain", false: ""}[tc.drained], func(t *testing.T) {
			if got := toState(tc.elb, tc.drained); got != tc.want {
				t.Errorf("toState(%q, %v) = %s, want %s", tc.elb, tc.drained, got, tc.want)
			}
		})
	}
}

func TestDimensions(t *testing.T) {
	tests := []struct {
		name, arn, want string
		lbARN           bool
		ok              bool
	}{
		{"target group", "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/web/73e2", "targetgroup/web/73e2", false, true},
		{"ALB", "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/app/front/50dc", "app/front/50dc", true, true},
		{"NLB in China", "arn:aws-cn:elasticloadbalancing:cn-north-1:1:loadbalancer/net/front/50dc", "net/front/50dc", true, true},
		{"classic-style name", "arn:aws:elasticloadbalancing:us-west-2:1:loadbalancer/front", "", true, false},
		{"other service", "arn:aws:ec2:us-west-2:1:instance/i-1", "", false, false},
		{"listener", "arn:aws:elasticloadbalancing:us-west-2:1:listener/app/front/50dc/f2f7", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := targetGroupDimension
			if tc.lbARN {
				f = loadBalancerDimension
			}
			got, err := f(tc.arn)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("dimension(%q) = %q, %v; want %q, ok=%v", tc.arn, got, err, tc.want, tc.ok)
			}
		})
	}
}
