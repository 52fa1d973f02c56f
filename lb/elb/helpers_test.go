package elb_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
)

const (
	tgARN     = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067"
	albARN    = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/front/50dc6c495c0c9188"
	nlbARN    = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/net/front/a1b2c3d4e5f60718"
	albDim    = "app/front/50dc6c495c0c9188"
	nlbDim    = "net/front/a1b2c3d4e5f60718"
	tgDim     = "targetgroup/web/73e2d6bc24d8a067"
	classicLB = "web-classic"
)

// t0 is the fake's clock at the start of every test: a minute boundary.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

var albDims = map[string]string{"LoadBalancer": albDim, "TargetGroup": tgDim}

// logBuffer collects log output, safe for concurrent writers.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeALB starts a fake with an ALB target group of the given type.
func fakeALB(t testing.TB, targetType string) *elbtest.Server {
	t.Helper()
	s := elbtest.New(t, t0)
	s.AddTargetGroup(elbtest.TargetGroup{
		ARN: tgARN, LoadBalancerARNs: []string{albARN}, TargetType: targetType,
		Protocol: "HTTP", Port: 80, DeregistrationDelay: 300 * time.Second,
	})
	return s
}

// newBalancer returns a driver aimed at s; cfg's AWS, Now and Logger are
// filled in when empty.
func newBalancer(t testing.TB, s *elbtest.Server, cfg elb.Config) *elb.Balancer {
	t.Helper()
	if cfg.AWS == nil {
		ac := s.AWSConfig()
		cfg.AWS = &ac
	}
	if cfg.Now == nil {
		cfg.Now = s.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.TargetGroupARN == "" && cfg.LoadBalancerName == "" {
		cfg.TargetGroupARN = tgARN
	}
	b, err := elb.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("elb.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// instanceOf maps a backend to a fake instance ID.
func instanceOf(_ context.Context, b lb.Backend) (string, error) {
	return "i-" + b.ID, nil
}

func backend(id, addr string) lb.Backend {
	return lb.Backend{ID: id, Addr: mustAddrPort(addr)}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// testLogger logs to t at debug level.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
