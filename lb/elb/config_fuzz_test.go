package elb

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
)

// FuzzConfig checks Config validation on any user input (ARNs, dimension
// names, target types, periods): no panic; a refusal wraps lb.ErrInvalid
// or lb.ErrUnsupported; an accepted Config has the invariants the driver
// relies on (a target group dimension it can derive, a Period that is a
// whole number of minutes, a Lookback of 2 periods to 24 h in whole
// periods, no negative Offset).
func FuzzConfig(f *testing.F) {
	tg := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef"
	f.Add(tg, "app/web/abc", "", "ip", int64(60), int64(120), int64(0))
	f.Add(tg, "net/web/abc", "", "instance", int64(120), int64(0), int64(600))
	f.Add(tg, "gwy/x/y", "", "lambda", int64(59), int64(-1), int64(-60))
	f.Add("", "", "classic-web", "", int64(0), int64(0), int64(86400))
	f.Add("arn:aws:elasticloadbalancing:r:a:targetgroup//", "app//", "x", "alb", int64(1<<40), int64(1<<40), int64(1<<40))
	f.Fuzz(func(t *testing.T, arn, dim, name, ttype string, periodS, offsetS, lookbackS int64) {
		// Seconds, capped so that Duration does not overflow.
		sec := func(n int64) time.Duration { return time.Duration(max(min(n, 1<<32), -(1<<32))) * time.Second }
		c := Config{TargetGroupARN: arn, LoadBalancer: dim, LoadBalancerName: name, TargetType: TargetType(ttype),
			Period: sec(periodS), Offset: sec(offsetS), Lookback: sec(lookbackS)}
		got, err := c.withDefaults()
		if err != nil {
			if !errors.Is(err, lb.ErrInvalid) && !errors.Is(err, lb.ErrUnsupported) {
				t.Fatalf("%+v: error %v wraps neither lb.ErrInvalid nor lb.ErrUnsupported", c, err)
			}
			if !strings.HasPrefix(err.Error(), "elb: config: ") {
				t.Fatalf("error %q does not say it is about the config", err)
			}
			return
		}
		if got.TargetGroupARN != "" {
			if _, err := targetGroupDimension(got.TargetGroupARN); err != nil {
				t.Fatalf("accepted TargetGroupARN %q: %v", got.TargetGroupARN, err)
			}
		} else if got.LoadBalancerName == "" {
			t.Fatalf("accepted a Config with neither TargetGroupARN nor LoadBalancerName: %+v", got)
		}
		switch {
		case got.Period < time.Minute || got.Period%time.Minute != 0:
			t.Fatalf("accepted Period %s", got.Period)
		case got.Lookback < 2*got.Period || got.Lookback > 24*time.Hour || got.Lookback%got.Period != 0:
			t.Fatalf("accepted Lookback %s with Period %s", got.Lookback, got.Period)
		case got.Offset < 0:
			t.Fatalf("accepted Offset %s", got.Offset)
		}
	})
}

// FuzzParseTarget checks the parser of target IDs read back from
// DescribeTargetHealth: anything it accepts has a port in 1–65535 and
// round-trips through String.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"10.0.0.5:8080", "[2001:db8::1]:8080", "i-0abc:80", "i-0abc", ":80", "h:0", "h:65536", "[::1]:1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, ok := parseTarget(s)
		if !ok {
			return
		}
		if tg.port < 1 || tg.port > 65535 || tg.id == "" {
			t.Fatalf("parseTarget(%q) = %+v", s, tg)
		}
		back, ok := parseTarget(tg.String())
		if !ok || back != tg {
			t.Fatalf("parseTarget(%q) = %+v, String %q parses to %+v, %v", s, tg, tg.String(), back, ok)
		}
	})
}
