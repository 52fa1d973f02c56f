package elbtest

// Each rule that makes the fake as strict as AWS, checked through the
// real aws-sdk-go-v2 clients. The AWS page or SDK file a rule follows is
// cited on the code that applies it (cloudwatch.go, elb.go, server.go).

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	classic "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	classictypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

const (
	tgARN  = "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/73e2d6bc24d8a067"
	albARN = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/front/50dc6c495c0c9188"
	albDim = "app/front/50dc6c495c0c9188"
	nlbDim = "net/front/a1b2c3d4e5f60718"
	tgDim  = "targetgroup/web/73e2d6bc24d8a067"
)

// recorder is a testing.TB that records Errorf calls instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// datapoints asks CloudWatch for the Sum of a metric by dims over the 10
// minutes before t0.
func datapoints(t *testing.T, s *Server, ns, name string, dims map[string]string) []float64 {
	t.Helper()
	cw := cloudwatch.NewFromConfig(s.AWSConfig())
	var ds []cwtypes.Dimension
	for k, v := range dims {
		ds = append(ds, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(v)})
	}
	out, err := cw.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(t0.Add(-10 * time.Minute)), EndTime: aws.Time(t0),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("q"), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String(ns), MetricName: aws.String(name), Dimensions: ds},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.MetricDataResults) != 1 || out.MetricDataResults[0].StatusCode != cwtypes.StatusCodeComplete {
		t.Fatalf("GetMetricData results = %+v", out.MetricDataResults)
	}
	return out.MetricDataResults[0].Values
}

func TestCloudWatchPublishesOnlyAWSDimensionSets(t *testing.T) {
	s := New(t, t0)
	m := t0.Add(-5 * time.Minute)
	s.Traffic(nlbDim, tgDim, m, 33)
	s.Traffic(albDim, tgDim, m, 12)
	s.Traffic(albDim, tgDim, m.Add(time.Minute), 0) // no traffic: no datapoint
	for _, tc := range []struct {
		ns, name string
		dims     map[string]string
		want     int
	}{
		{"AWS/NetworkELB", "NewFlowCount", map[string]string{"LoadBalancer": nlbDim}, 1},
		{"AWS/NetworkELB", "NewFlowCount", map[string]string{"LoadBalancer": nlbDim, "TargetGroup": tgDim}, 0},
		{"AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": albDim}, 1},
		{"AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": albDim, "TargetGroup": tgDim}, 1},
		{"AWS/ApplicationELB", "RequestCount", map[string]string{"TargetGroup": tgDim}, 0},
	} {
		if got := datapoints(t, s, tc.ns, tc.name, tc.dims); len(got) != tc.want {
			t.Errorf("%s %s by %v: %v, want %d datapoints", tc.ns, tc.name, tc.dims, got, tc.want)
		}
	}
	rec := &recorder{TB: t}
	r := New(rec, t0)
	r.PutMetric("AWS/NetworkELB", "NewFlowCount", map[string]string{"LoadBalancer": nlbDim, "TargetGroup": tgDim}, m, 1)
	r.PutMetric("AWS/NetworkELB", "RequestCount", map[string]string{"LoadBalancer": nlbDim}, m, 1)
	r.PutMetric("Custom/Web", "Anything", map[string]string{"Any": "x"}, m, 1)
	if len(rec.errs) != 2 || !strings.Contains(rec.errs[0], "{LoadBalancer,TargetGroup}") || !strings.Contains(rec.errs[1], "RequestCount") {
		t.Errorf("PutMetric of unpublished sets reported %q, want two errors naming them", rec.errs)
	}
	if Published("AWS/NetworkELB", "HealthyHostCount", map[string]string{"LoadBalancer": nlbDim, "TargetGroup": tgDim}) != true {
		t.Error("NLB HealthyHostCount is published per target group")
	}
}

// TestGetMetricDataQueryRules: at most 500 queries per call, each Id
// unique in the call (CloudWatch API Reference, GetMetricData and
// MetricDataQuery; cited in parseQueries).
func TestGetMetricDataQueryRules(t *testing.T) {
	s := New(t, t0)
	s.Traffic(albDim, tgDim, t0.Add(-5*time.Minute), 12)
	cw := cloudwatch.NewFromConfig(s.AWSConfig())
	query := func(id string) cwtypes.MetricDataQuery {
		return cwtypes.MetricDataQuery{Id: aws.String(id), MetricStat: &cwtypes.MetricStat{
			Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("RequestCount"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(albDim)}}},
			Period: aws.Int32(60), Stat: aws.String("Sum")}}
	}
	get := func(qs []cwtypes.MetricDataQuery) (*cloudwatch.GetMetricDataOutput, error) {
		return cw.GetMetricData(context.Background(), &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(t0.Add(-10 * time.Minute)), EndTime: aws.Time(t0), MetricDataQueries: qs})
	}
	var qs []cwtypes.MetricDataQuery
	for i := range 501 {
		qs = append(qs, query(fmt.Sprintf("q%d", i)))
	}
	out, err := get(qs[:500])
	if err != nil {
		t.Fatalf("GetMetricData with 500 queries: %v", err)
	}
	if len(out.MetricDataResults) != 500 || len(out.MetricDataResults[499].Values) != 1 {
		t.Fatalf("GetMetricData with 500 queries: %d results", len(out.MetricDataResults))
	}
	for name, in := range map[string][]cwtypes.MetricDataQuery{
		"501 queries":  qs,
		"duplicate Id": {query("q"), query("q")},
	} {
		_, err := get(in)
		var ae interface{ ErrorCode() string }
		if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
			t.Errorf("GetMetricData with %s = %v, want ValidationError", name, err)
		}
	}
}

func v2Client(s *Server) *elbv2.Client { return elbv2.NewFromConfig(s.AWSConfig()) }

func tgt(id string, port int32) []elbv2types.TargetDescription {
	return []elbv2types.TargetDescription{{Id: aws.String(id), Port: aws.Int32(port)}}
}

func state(t *testing.T, c *elbv2.Client, id string, port int32) string {
	t.Helper()
	out, err := c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN), Targets: tgt(id, port)})
	if err != nil {
		t.Fatal(err)
	}
	return string(out.TargetHealthDescriptions[0].TargetHealth.State)
}

func TestTargetGroupRules(t *testing.T) {
	ctx := context.Background()
	t.Run("DeregisterTargets of an unregistered target succeeds", func(t *testing.T) {
		s := New(t, t0)
		s.AddTargetGroup(TargetGroup{ARN: tgARN, TargetType: "ip", Protocol: "HTTP", Port: 80})
		if _, err := v2Client(s).DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("10.0.0.9", 80)}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ALB drains for the whole delay", func(t *testing.T) {
		s := New(t, t0)
		s.AddTargetGroup(TargetGroup{ARN: tgARN, TargetType: "ip", Protocol: "HTTP", Port: 80, DeregistrationDelay: time.Minute})
		c := v2Client(s)
		_, _ = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("10.0.0.1", 80)})
		_, _ = c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("10.0.0.1", 80)})
		s.Advance(59 * time.Second)
		if st := state(t, c, "10.0.0.1", 80); st != "draining" {
			t.Errorf("idle target 59 s into a 60 s delay: %s, want draining", st)
		}
		s.Advance(time.Second)
		if st := state(t, c, "10.0.0.1", 80); st != "unused" {
			t.Errorf("after the delay: %s, want unused", st)
		}
	})
	for _, termination := range []bool{false, true} {
		t.Run(fmt.Sprintf("NLB flows after the delay, connection termination %t", termination), func(t *testing.T) {
			s := New(t, t0)
			s.AddTargetGroup(TargetGroup{ARN: tgARN, TargetType: "ip", Protocol: "TCP", Port: 80, DeregistrationDelay: time.Minute, ConnectionTermination: termination})
			c := v2Client(s)
			_, _ = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("10.0.0.1", 80)})
			s.SetFlows(tgARN, "10.0.0.1", 80, 3)
			_, _ = c.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("10.0.0.1", 80)})
			s.Advance(time.Minute)
			want := map[bool]int{false: 3, true: 0}[termination]
			if st, n := state(t, c, "10.0.0.1", 80), s.Flows(tgARN, "10.0.0.1", 80); st != "unused" || n != want {
				t.Errorf("after the delay: %s with %d flows, want unused with %d", st, n, want)
			}
			attrs, err := c.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN)})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, a := range attrs.Attributes {
				if aws.ToString(a.Key) == "deregistration_delay.connection_termination.enabled" {
					found = aws.ToString(a.Value) == fmt.Sprint(termination)
				}
			}
			if !found {
				t.Errorf("attributes %v lack connection_termination.enabled=%t", attrs.Attributes, termination)
			}
		})
	}
	t.Run("a terminated instance is InvalidTarget, as the SDK's TargetDeregistered waiter expects", func(t *testing.T) {
		s := New(t, t0)
		s.AddTargetGroup(TargetGroup{ARN: tgARN, TargetType: "instance", Protocol: "HTTP", Port: 80})
		c := v2Client(s)
		both := append(tgt("i-a", 80), tgt("i-b", 80)...)
		_, _ = c.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(tgARN), Targets: both})
		s.TerminateInstance("i-a")
		_, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN), Targets: both})
		var ite *elbv2types.InvalidTargetException
		if !errors.As(err, &ite) || !strings.Contains(err.Error(), "i-a") {
			t.Fatalf("DescribeTargetHealth naming a terminated instance = %v, want InvalidTarget naming it", err)
		}
		all, err := c.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
		if err != nil || len(all.TargetHealthDescriptions) != 1 || aws.ToString(all.TargetHealthDescriptions[0].Target.Id) != "i-b" {
			t.Fatalf("DescribeTargetHealth of all = %+v, %v; want i-b only", all, err)
		}
		w := elbv2.NewTargetDeregisteredWaiter(c, func(o *elbv2.TargetDeregisteredWaiterOptions) {
			o.MinDelay, o.MaxDelay = time.Millisecond, time.Millisecond
		})
		if err := w.Wait(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN), Targets: tgt("i-a", 80)}, time.Second); err != nil {
			t.Errorf("TargetDeregistered waiter on the terminated instance = %v", err)
		}
	})
}

func TestRequestIDs(t *testing.T) {
	s := New(t, t0)
	s.AddTargetGroup(TargetGroup{ARN: tgARN, TargetType: "ip", Protocol: "HTTP", Port: 80})
	c := v2Client(s)
	ok, err := c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tgARN)})
	if err != nil {
		t.Fatal(err)
	}
	first := s.LastRequestID()
	if id, _ := awsmiddleware.GetRequestIDMetadata(ok.ResultMetadata); id == "" || id != first {
		t.Errorf("result request ID %q, fake sent %q", id, first)
	}
	_, err = c.DescribeTargetHealth(context.Background(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String("arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/x/1")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.ServiceRequestID() == "" || re.ServiceRequestID() != s.LastRequestID() || re.ServiceRequestID() == first {
		t.Errorf("error %v: request ID %q, want the fake's fresh %q", err, re.ServiceRequestID(), s.LastRequestID())
	}
}

func TestClassicRules(t *testing.T) {
	ctx := context.Background()
	s := New(t, t0)
	s.AddClassic(ClassicLB{Name: "web", DrainTimeout: 300 * time.Second, Listeners: []Listener{{Protocol: "HTTP", LoadBalancerPort: 80, InstancePort: 8080}}})
	c := classic.NewFromConfig(s.AWSConfig())
	name := aws.String("web")
	inst := []classictypes.Instance{{InstanceId: aws.String("i-a")}}
	lbs, err := c.DescribeLoadBalancers(ctx, &classic.DescribeLoadBalancersInput{LoadBalancerNames: []string{"web"}})
	if err != nil || aws.ToInt32(lbs.LoadBalancerDescriptions[0].ListenerDescriptions[0].Listener.InstancePort) != 8080 {
		t.Fatalf("DescribeLoadBalancers = %+v, %v; want instance port 8080", lbs, err)
	}
	_, _ = c.RegisterInstancesWithLoadBalancer(ctx, &classic.RegisterInstancesWithLoadBalancerInput{LoadBalancerName: name, Instances: inst})
	_, _ = c.DeregisterInstancesFromLoadBalancer(ctx, &classic.DeregisterInstancesFromLoadBalancerInput{LoadBalancerName: name, Instances: inst})
	health := func() classictypes.InstanceState {
		out, err := c.DescribeInstanceHealth(ctx, &classic.DescribeInstanceHealthInput{LoadBalancerName: name, Instances: inst})
		if err != nil {
			t.Fatal(err)
		}
		return out.InstanceStates[0]
	}
	if h := health(); aws.ToString(h.State) != "InService" || aws.ToString(h.Description) != "Instance deregistration currently in progress" {
		t.Errorf("draining instance: %s %q", aws.ToString(h.State), aws.ToString(h.Description))
	}
	s.EndConnections("web", "i-a")
	if h := health(); aws.ToString(h.State) != "OutOfService" || !strings.Contains(aws.ToString(h.Description), "not currently registered") {
		t.Errorf("after its connections ended: %s %q", aws.ToString(h.State), aws.ToString(h.Description))
	}
}
