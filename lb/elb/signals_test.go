package elb_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/webfarm/webfarm/lb/elb"
	"github.com/webfarm/webfarm/lb/elb/elbtest"
	"github.com/webfarm/webfarm/scaler"
)

var _ scaler.MetricSource = (*elb.Balancer)(nil)

func TestMetrics(t *testing.T) {
	alb := map[string]string{"LoadBalancer": albDim, "TargetGroup": tgDim}
	albLB := map[string]string{"LoadBalancer": albDim}
	nlb := map[string]string{"LoadBalancer": nlbDim, "TargetGroup": tgDim}
	nlbLB := map[string]string{"LoadBalancer": nlbDim}
	cl := map[string]string{"LoadBalancerName": classicLB}
	type put struct {
		ns, name string
		dims     map[string]string
		minute   int
		v        float64
	}
	tests := []struct {
		name  string
		lbARN string // "" for classic
		cfg   elb.Config
		puts  []put
		want  map[string]float64
	}{
		{"ALB", albARN, elb.Config{}, []put{
			{"AWS/ApplicationELB", "TargetResponseTime", alb, -3, 0.1},
			{"AWS/ApplicationELB", "TargetResponseTime", alb, -3, 0.3},
			{"AWS/ApplicationELB", "TargetResponseTime", alb, -6, 9}, // older: not the newest period
			{"AWS/ApplicationELB", "RequestCountPerTarget", alb, -3, 600},
			{"AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", albLB, -3, 120},
			{"AWS/ApplicationELB", "HealthyHostCount", alb, -3, 3},
			{"AWS/ApplicationELB", "HealthyHostCount", alb, -3, 2},
		}, map[string]float64{elb.SignalResponseTime: 200, elb.SignalRequestsPerTarget: 10, elb.SignalELB5xx: 2, elb.SignalHealthyTargets: 2}},
		{"ALB without traffic: counts are zero, the rest absent", albARN, elb.Config{Missing: elb.MissingZero}, nil,
			map[string]float64{elb.SignalRequestsPerTarget: 0, elb.SignalELB5xx: 0}},
		{"ALB without traffic, missing unknown (the default): nothing", albARN, elb.Config{}, nil, map[string]float64{}},
		{"ALB gauge 4m old kept", albARN, elb.Config{MaxStaleness: 4 * time.Minute, Missing: elb.MissingZero}, []put{
			{"AWS/ApplicationELB", "HealthyHostCount", alb, -9, 4},
			{"AWS/ApplicationELB", "HealthyHostCount", alb, -5, 3},
		}, map[string]float64{elb.SignalRequestsPerTarget: 0, elb.SignalELB5xx: 0, elb.SignalHealthyTargets: 3}},
		{"ALB gauge older than MaxStaleness left out", albARN, elb.Config{MaxStaleness: 4 * time.Minute, Missing: elb.MissingZero}, []put{
			{"AWS/ApplicationELB", "HealthyHostCount", alb, -6, 3},
		}, map[string]float64{elb.SignalRequestsPerTarget: 0, elb.SignalELB5xx: 0}},
		{"NLB", nlbARN, elb.Config{}, []put{
			{"AWS/NetworkELB", "ActiveFlowCount", nlbLB, -3, 40},
			{"AWS/NetworkELB", "ActiveFlowCount", nlbLB, -3, 60},
			{"AWS/NetworkELB", "HealthyHostCount", nlb, -3, 5},
		}, map[string]float64{elb.SignalActiveFlows: 50, elb.SignalHealthyTargets: 5}},
		{"classic", "", elb.Config{LoadBalancerName: classicLB, InstanceID: instanceOf}, []put{
			{"AWS/ELB", "Latency", cl, -3, 0.05},
			{"AWS/ELB", "SurgeQueueLength", cl, -3, 7},
			{"AWS/ELB", "SurgeQueueLength", cl, -3, 30},
			{"AWS/ELB", "HTTPCode_ELB_5XX", cl, -3, 6},
			{"AWS/ELB", "HealthyHostCount", cl, -3, 2},
		}, map[string]float64{elb.SignalResponseTime: 50, elb.SignalSurgeQueue: 30, elb.SignalELB5xx: 0.1, elb.SignalHealthyTargets: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := elbtest.New(t, t0)
			if tc.lbARN != "" {
				s.AddTargetGroup(elbtest.TargetGroup{ARN: tgARN, LoadBalancerARNs: []string{tc.lbARN}, TargetType: "ip", Port: 80})
			} else {
				s.AddClassic(elbtest.ClassicLB{Name: classicLB})
			}
			for _, p := range tc.puts {
				s.PutMetric(p.ns, p.name, p.dims, minute(p.minute), p.v)
			}
			b := newBalancer(t, s, tc.cfg)
			got, err := b.Metrics(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("Metrics() = %v, want %v", got, tc.want)
			}
			got[elb.SignalELB5xx] = 1e9 // the caller's copy
			again, err := b.Metrics(context.Background())
			if err != nil || !maps.Equal(again, tc.want) || s.Calls("GetMetricData") != 1 {
				t.Errorf("second Metrics() in the same period = %v, %v after %d calls; want the same reading, one call", again, err, s.Calls("GetMetricData"))
			}
		})
	}
}

// TestMetricsFeedTheController: the Balancer is also the Controller's
// metric source, and its signals reach the policy's observation.
func TestMetricsFeedTheController(t *testing.T) {
	s := fakeALB(t, "ip")
	b := newBalancer(t, s, elb.Config{})
	tgt := &countTarget{n: 2}
	c := &scaler.Controller{Balancer: b, Sources: []scaler.MetricSource{b}, Runner: tgt,
		Policy: delayedPolicy(t, 4*time.Minute), Interval: time.Minute, MaxGap: 3 * time.Minute, Now: s.Now, Logger: testLogger(t)}
	var r scaler.Report
	for range 3 { // the first reading with data is the meter's baseline
		s.PutMetric("AWS/ApplicationELB", "RequestCount", albDims, s.Now().Add(-time.Minute), 600)
		s.PutMetric("AWS/ApplicationELB", "TargetResponseTime", albDims, s.Now().Add(-time.Minute), 0.25)
		s.Advance(time.Minute)
		r, _ = c.Tick(context.Background())
	}
	if r.Input.Obs == nil || r.Input.Obs.Signals[elb.SignalResponseTime] != 250 {
		t.Fatalf("observation = %+v, want signal %s = 250", r.Input.Obs, elb.SignalResponseTime)
	}
}
