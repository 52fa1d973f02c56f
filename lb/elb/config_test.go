package elb_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

func TestConfigErrors(t *testing.T) {
	inst := instanceOf
	tests := []struct {
		name     string
		cfg      elb.Config
		want     error
		mentions string
	}{
		{"nothing to drive", elb.Config{}, lb.ErrInvalid, "TargetGroupARN"},
		{"both kinds", elb.Config{TargetGroupARN: tgARN, LoadBalancerName: "x"}, lb.ErrInvalid, "both"},
		{"not an ARN", elb.Config{TargetGroupARN: "web"}, lb.ErrInvalid, "not an Elastic Load Balancing ARN"},
		{"a load balancer ARN as target group", elb.Config{TargetGroupARN: albARN}, lb.ErrInvalid, "does not name a target group"},
		{"bad LoadBalancer dimension", elb.Config{TargetGroupARN: tgARN, LoadBalancer: "front"}, lb.ErrInvalid, "app/<name>/<id>"},
		{"gateway load balancer", elb.Config{TargetGroupARN: tgARN, LoadBalancer: "gwy/x/1"}, lb.ErrUnsupported, "Gateway"},
		{"lambda targets", elb.Config{TargetGroupARN: tgARN, TargetType: "lambda"}, lb.ErrUnsupported, "lambda"},
		{"unknown target type", elb.Config{TargetGroupARN: tgARN, TargetType: "pod"}, lb.ErrInvalid, "TargetType"},
		{"period under a minute", elb.Config{TargetGroupARN: tgARN, Period: 30 * time.Second}, lb.ErrInvalid, "Period"},
		{"period not whole minutes", elb.Config{TargetGroupARN: tgARN, Period: 90 * time.Second}, lb.ErrInvalid, "Period"},
		{"negative offset", elb.Config{TargetGroupARN: tgARN, Offset: -time.Minute}, lb.ErrInvalid, "Offset"},
		{"lookback of one period", elb.Config{TargetGroupARN: tgARN, Lookback: time.Minute}, lb.ErrInvalid, "Lookback"},
		{"lookback over a day", elb.Config{TargetGroupARN: tgARN, Lookback: 25 * time.Hour}, lb.ErrInvalid, "Lookback"},
		{"MaxStaleness below a fresh reading's age", elb.Config{TargetGroupARN: tgARN, MaxStaleness: 2 * time.Minute}, lb.ErrInvalid, "MaxStaleness"},
		{"unknown Missing", elb.Config{TargetGroupARN: tgARN, Missing: 7}, lb.ErrInvalid, "Missing"},
		{"negative DrainPoll", elb.Config{TargetGroupARN: tgARN, DrainPoll: -1}, lb.ErrInvalid, "DrainPoll"},
		{"negative DrainGrace", elb.Config{TargetGroupARN: tgARN, DrainGrace: -1}, lb.ErrInvalid, "DrainGrace"},
		{"classic with a target type", elb.Config{LoadBalancerName: classicLB, TargetType: elb.TargetIP}, lb.ErrInvalid, "classic"},
		{"classic with Adopt", elb.Config{LoadBalancerName: classicLB, Adopt: true, InstanceID: instanceOf}, lb.ErrInvalid, "Adopt"},
		{"classic without InstanceID", elb.Config{LoadBalancerName: classicLB}, lb.ErrInvalid, "InstanceID"},
		{"instance targets without InstanceID", elb.Config{TargetGroupARN: tgARN, TargetType: elb.TargetInstance, LoadBalancer: albDim}, lb.ErrInvalid, "InstanceID"},
		{"IP targets with InstanceID", elb.Config{TargetGroupARN: tgARN, TargetType: elb.TargetIP, LoadBalancer: albDim, InstanceID: inst}, lb.ErrInvalid, "InstanceID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := elbtest.New(t, t0)
			s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: string(tc.cfg.TargetType), Protocol: "HTTP", Port: 80})
			s.AddClassic(elbtest.ClassicLB{Name: classicLB})
			ac := s.AWSConfig()
			tc.cfg.AWS = &ac
			b, err := elb.New(context.Background(), tc.cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("New(%s) = %v, %v; want an error wrapping %v that mentions %q", tc.name, b, err, tc.want, tc.mentions)
			}
			// Only what New reads to check the configuration against AWS
			// (the target group, the classic listeners) may be asked.
			if n := len(s.Authorizations()) - s.Calls("DescribeTargetGroups") - s.Calls("DescribeLoadBalancers"); n != 0 {
				t.Errorf("a rejected configuration made %d AWS calls that change or read more", n)
			}
		})
	}
}

func TestNoRegion(t *testing.T) {
	s := fakeALB(t, "ip")
	ac := s.AWSConfig()
	ac.Region = ""
	if _, err := elb.New(context.Background(), elb.Config{TargetGroupARN: tgARN, AWS: &ac}); !errors.Is(err, lb.ErrInvalid) || !strings.Contains(err.Error(), "region") {
		t.Errorf("New without a region = %v, want lb.ErrInvalid naming the region", err)
	}
	ac.Region = "eu-west-1"
	// Config.Region overrides: the fake only accepts its own region in the
	// signature's scope.
	b, err := elb.New(context.Background(), elb.Config{TargetGroupARN: tgARN, AWS: &ac, Region: elbtest.Region, TargetType: elb.TargetIP, LoadBalancer: albDim})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(context.Background(), backend("a", "10.0.0.1:80")); err != nil {
		t.Fatalf("Add with Config.Region overriding the AWS region = %v", err)
	}
	if auth := s.Authorizations(); len(auth) != 2 || !strings.Contains(auth[1], "/"+elbtest.Region+"/elasticloadbalancing/") {
		t.Errorf("requests were signed for %q, want region %s", auth, elbtest.Region)
	}
}

// TestNewDescribesTargetGroup: New reads the target group once, fills in
// TargetType and LoadBalancer when empty and checks them when given: a
// LoadBalancer dimension the group is not attached to would match no
// CloudWatch datapoint, and fails naming it.
func TestNewDescribesTargetGroup(t *testing.T) {
	tests := []struct {
		name    string
		group   elbtest.TargetGroup
		cfg     elb.Config
		wantErr error
		calls   int
	}{
		{"ALB discovered", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN}, TargetType: "ip"}, elb.Config{}, nil, 1},
		{"NLB discovered", elbtest.TargetGroup{LoadBalancerARNs: []string{nlbARN}, TargetType: "ip"}, elb.Config{}, nil, 1},
		{"all given: checked", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN}, TargetType: "ip"}, elb.Config{TargetType: elb.TargetIP, LoadBalancer: albDim}, nil, 1},
		{"dimension of another load balancer", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN}, TargetType: "ip"}, elb.Config{LoadBalancer: "app/other/0123456789abcdef"}, lb.ErrInvalid, 1},
		{"target type differs", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN}, TargetType: "ip"}, elb.Config{TargetType: elb.TargetInstance, InstanceID: instanceOf}, lb.ErrInvalid, 1},
		{"not attached", elbtest.TargetGroup{TargetType: "ip"}, elb.Config{}, lb.ErrInvalid, 1},
		{"attached twice", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN, nlbARN}, TargetType: "ip"}, elb.Config{}, lb.ErrInvalid, 1},
		{"attached twice, dimension given", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN, nlbARN}, TargetType: "ip"}, elb.Config{LoadBalancer: albDim}, nil, 1},
		{"lambda group", elbtest.TargetGroup{LoadBalancerARNs: []string{albARN}, TargetType: "lambda"}, elb.Config{}, lb.ErrUnsupported, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := elbtest.New(t, t0)
			tc.group.ARN = tgARN
			s.AddTargetGroup(tc.group)
			ac := s.AWSConfig()
			tc.cfg.AWS, tc.cfg.TargetGroupARN = &ac, tgARN
			_, err := elb.New(context.Background(), tc.cfg)
			if (tc.wantErr == nil && err != nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("New = %v, want %v", err, tc.wantErr)
			}
			if n := s.Calls("DescribeTargetGroups"); n != tc.calls {
				t.Errorf("DescribeTargetGroups calls = %d, want %d", n, tc.calls)
			}
		})
	}
	t.Run("unknown group", func(t *testing.T) {
		s := elbtest.New(t, t0)
		ac := s.AWSConfig()
		_, err := elb.New(context.Background(), elb.Config{TargetGroupARN: tgARN, AWS: &ac})
		if err == nil || !strings.Contains(err.Error(), "TargetGroupNotFound") {
			t.Fatalf("New for a missing target group = %v, want TargetGroupNotFound", err)
		}
	})
}

// TestDefaultChain: with Config.AWS nil, credentials, region and endpoint
// come from the SDK's default chain (here its environment variables), and
// the driver works against the fake with them.
func TestDefaultChain(t *testing.T) {
	s := fakeALB(t, "ip")
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           elbtest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       elbtest.SecretAccessKey,
		"AWS_SESSION_TOKEN":           elbtest.SessionToken,
		"AWS_REGION":                  elbtest.Region,
		"AWS_ENDPOINT_URL":            s.URL,
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_PROFILE":                 "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_RETRY_MODE":              "standard",
		"AWS_MAX_ATTEMPTS":            "2",
	} {
		t.Setenv(k, v)
	}
	b, err := elb.New(context.Background(), elb.Config{TargetGroupARN: tgARN, Logger: testLogger(t), Now: s.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(context.Background(), backend("a", "10.0.0.1:80")); err != nil {
		t.Fatalf("Add with the default chain = %v", err)
	}
	if got := s.Targets(tgARN); len(got) != 1 {
		t.Errorf("targets = %v", got)
	}
	if auth := s.Authorizations(); len(auth) == 0 || !strings.Contains(auth[len(auth)-1], elbtest.AccessKeyID+"/") {
		t.Errorf("requests were not signed with the environment's key: %v", auth)
	}
}
