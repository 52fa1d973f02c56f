package elb_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithylogging "github.com/aws/smithy-go/logging"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

// call is one driver operation, run against a fresh balancer with one
// backend already added (and drained, for WaitDrained).
type call struct {
	name   string
	action string // the AWS action it makes
	run    func(ctx context.Context, b *elb.Balancer) error
}

var calls = []call{
	{"Stats", "GetMetricData", func(ctx context.Context, b *elb.Balancer) error { _, err := b.Stats(ctx); return err }},
	{"Add", "RegisterTargets", func(ctx context.Context, b *elb.Balancer) error {
		return b.Add(ctx, backend("web-2", "10.0.0.2:8080"))
	}},
	{"Drain", "DeregisterTargets", func(ctx context.Context, b *elb.Balancer) error { return b.Drain(ctx, "web-1") }},
	{"Remove", "DeregisterTargets", func(ctx context.Context, b *elb.Balancer) error { return b.Remove(ctx, "web-1") }},
	{"ActiveConns", "DescribeTargetHealth", func(ctx context.Context, b *elb.Balancer) error {
		_, err := b.ActiveConns(ctx, "web-1")
		return err
	}},
	{"Health", "DescribeTargetHealth", func(ctx context.Context, b *elb.Balancer) error { _, err := b.Health(ctx); return err }},
	{"Metrics", "GetMetricData", func(ctx context.Context, b *elb.Balancer) error { _, err := b.Metrics(ctx); return err }},
}

func setupCall(t *testing.T) (*elbtest.Server, *elb.Balancer) {
	s := fakeALB(t, "ip")
	s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(-4), 15)
	b := newBalancer(t, s, elb.Config{})
	if err := b.Add(context.Background(), backend("web-1", "10.0.0.1:8080")); err != nil {
		t.Fatal(err)
	}
	return s, b
}

// TestThrottlingIsRetried: ELB and CloudWatch answer "Throttling" (HTTP
// 400, the code AWS uses) to the first attempts; the SDK's retryer must
// retry and the call succeed, quickly with the test's backoff.
func TestThrottlingIsRetried(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			s, b := setupCall(t)
			before := s.Calls(c.action)
			s.Fail(c.action, http.StatusBadRequest, "Throttling", elbtest.MaxAttempts-1)
			start := time.Now()
			if err := c.run(context.Background(), b); err != nil {
				t.Fatalf("%s with %d throttled attempts = %v, want success after retries", c.name, elbtest.MaxAttempts-1, err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("%s took %s with the test's backoff, want < 1s", c.name, took)
			}
			if got := s.Calls(c.action) - before; got != elbtest.MaxAttempts {
				t.Errorf("%s made %d %s attempts, want %d (throttled ones retried)", c.name, got, c.action, elbtest.MaxAttempts)
			}
		})
	}
}

// TestPersistent5xx: the service keeps answering 500; after the
// retryer's attempts the driver returns the error wrapped (the AWS code
// and the HTTP status stay reachable with errors.As) and records nothing.
func TestPersistent5xx(t *testing.T) {
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			s, b := setupCall(t)
			poolBefore, _ := b.Backends(context.Background())
			before := s.Calls(c.action)
			s.Fail(c.action, http.StatusInternalServerError, "InternalFailure", 1000)
			err := c.run(context.Background(), b)
			if err == nil {
				t.Fatalf("%s with a failing service = nil, want an error", c.name)
			}
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
				t.Errorf("%s error %v: want errors.As to find smithy.APIError code InternalFailure", c.name, err)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
				t.Errorf("%s error %v: want errors.As to find the HTTP 500", c.name, err)
			}
			if !strings.HasPrefix(err.Error(), "elb: ") {
				t.Errorf("%s error %q lacks the driver's prefix", c.name, err)
			}
			if got := s.Calls(c.action) - before; got < elbtest.MaxAttempts {
				t.Errorf("%s made %d attempts, want the retryer's %d", c.name, got, elbtest.MaxAttempts)
			}
			poolAfter, _ := b.Backends(context.Background())
			if len(poolAfter) != len(poolBefore) {
				t.Errorf("%s failed but changed the pool: %v → %v", c.name, poolBefore, poolAfter)
			}
		})
	}
}

// TestNonRetryableErrorsAreNotRetried: a 400 that is not throttling
// (here an ELB validation error) is returned after one attempt.
func TestNonRetryableErrorsAreNotRetried(t *testing.T) {
	s := fakeALB(t, "instance")
	b := newBalancer(t, s, elb.Config{InstanceID: func(context.Context, lb.Backend) (string, error) { return "not-an-instance", nil }})
	err := b.Add(context.Background(), backend("web-1", "10.0.0.1:8080"))
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidTarget" {
		t.Fatalf("Add of an invalid instance = %v, want the InvalidTarget error", err)
	}
	if n := s.Calls("RegisterTargets"); n != 1 {
		t.Errorf("RegisterTargets attempts = %d, want 1", n)
	}
	if bs, _ := b.Backends(context.Background()); len(bs) != 0 {
		t.Errorf("refused Add left %v in the pool", bs)
	}
}

// TestNothingSecretLogged runs every operation, failures included, with
// the driver logging at debug level and the SDK's own logger attached,
// and checks that neither the secret key, the session token nor the
// access key ID reaches the logs or the errors.
func TestNothingSecretLogged(t *testing.T) {
	var logs logBuffer
	s := fakeALB(t, "ip")
	ac := s.AWSConfig()
	ac.Logger = smithylogging.LoggerFunc(func(c smithylogging.Classification, format string, v ...any) {
		_, _ = logs.Write([]byte("sdk " + string(c) + ": " + format + "\n"))
	})
	ac.ClientLogMode = aws.LogRetries | aws.LogDeprecatedUsage
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newBalancer(t, s, elb.Config{AWS: &ac, Logger: logger})
	ctx := context.Background()
	var errs []error
	s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, minute(-4), 15)
	s.Fail("*", http.StatusBadRequest, "Throttling", 2)
	for _, f := range []func() error{
		func() error { return b.Add(ctx, backend("web-1", "10.0.0.1:8080")) },
		func() error { _, err := b.Stats(ctx); return err },
		func() error { return b.Drain(ctx, "web-1") },
		func() error { _, err := b.ActiveConns(ctx, "web-1"); return err },
		func() error { return b.Remove(ctx, "web-1") },
	} {
		errs = append(errs, f())
	}
	s.Fail("*", http.StatusInternalServerError, "InternalFailure", 1000)
	errs = append(errs, b.Add(ctx, backend("web-2", "10.0.0.2:8080")))
	s.Advance(time.Hour)
	_, err := b.Stats(ctx)
	errs = append(errs, err)
	text := logs.String() + errors.Join(errs...).Error()
	if !strings.Contains(text, "elb: registered") || !strings.Contains(text, "InternalFailure") {
		t.Fatalf("the logs and errors lack what the test expects to see; did the operations run?\n%s", text)
	}
	for _, secret := range []string{elbtest.SecretAccessKey, elbtest.SessionToken, elbtest.AccessKeyID, "Signature="} {
		if strings.Contains(text, secret) {
			t.Errorf("%q reached the logs or errors:\n%s", secret, text)
		}
	}
	// The fake saw signed requests: the credentials were used, just not logged.
	if auth := s.Authorizations(); len(auth) == 0 || !strings.Contains(auth[0], elbtest.AccessKeyID) {
		t.Errorf("the fake saw no signed request: %v", auth)
	}
}
