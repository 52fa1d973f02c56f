package elb

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/webfarm/webfarm/lb"
)

// scope is the dimension set a metric is read by.
type scope int

const (
	scopeTG      scope = iota + 1 // LoadBalancer + TargetGroup (ELBv2)
	scopeLB                       // LoadBalancer only (ELBv2)
	scopeClassic                  // LoadBalancerName (classic ELB)
)

// publishedScopes lists, per namespace and metric, the scopes of the
// driver's that AWS publishes it by, from AWS's metric tables:
//
//   - AWS/ApplicationELB: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
//     — target metrics (RequestCount, TargetResponseTime,
//     HTTPCode_Target_*, …) by LoadBalancer and by TargetGroup,
//     LoadBalancer; the balancer's own (HTTPCode_ELB_*, connections,
//     bytes, LCUs) by LoadBalancer only.
//   - AWS/NetworkELB: https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
//     — flows, bytes, packets, resets by LoadBalancer (and
//     AvailabilityZone, LoadBalancer) only; per target group only
//     HealthyHostCount and UnHealthyHostCount.
//   - AWS/ELB: https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-cloudwatch-metrics.html
//     — by LoadBalancerName.
var publishedScopes = map[string]map[string][]scope{
	"AWS/ApplicationELB": table(
		row([]scope{scopeTG, scopeLB}, "RequestCount", "TargetResponseTime", "HTTPCode_Target_2XX_Count",
			"HTTPCode_Target_3XX_Count", "HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count",
			"TargetConnectionErrorCount", "TargetTLSNegotiationErrorCount", "GrpcRequestCount"),
		row([]scope{scopeTG}, "RequestCountPerTarget", "HealthyHostCount", "UnHealthyHostCount"),
		row([]scope{scopeLB}, "HTTPCode_ELB_3XX_Count", "HTTPCode_ELB_4XX_Count", "HTTPCode_ELB_5XX_Count",
			"HTTPCode_ELB_500_Count", "HTTPCode_ELB_502_Count", "HTTPCode_ELB_503_Count", "HTTPCode_ELB_504_Count",
			"ActiveConnectionCount", "NewConnectionCount", "RejectedConnectionCount", "ProcessedBytes",
			"ConsumedLCUs", "ClientTLSNegotiationErrorCount", "HTTP_Redirect_Count", "HTTP_Fixed_Response_Count",
			"RuleEvaluations")),
	"AWS/NetworkELB": table(
		row([]scope{scopeLB}, "NewFlowCount", "NewFlowCount_TCP", "NewFlowCount_TLS", "NewFlowCount_UDP",
			"ActiveFlowCount", "ActiveFlowCount_TCP", "ActiveFlowCount_TLS", "ActiveFlowCount_UDP",
			"ProcessedBytes", "ProcessedBytes_TCP", "ProcessedBytes_TLS", "ProcessedBytes_UDP", "ProcessedPackets",
			"TCP_Client_Reset_Count", "TCP_ELB_Reset_Count", "TCP_Target_Reset_Count", "ConsumedLCUs",
			"PeakPacketsPerSecond"),
		row([]scope{scopeTG}, "HealthyHostCount", "UnHealthyHostCount")),
	"AWS/ELB": table(
		row([]scope{scopeClassic}, "RequestCount", "Latency", "HTTPCode_ELB_4XX", "HTTPCode_ELB_5XX",
			"HTTPCode_Backend_2XX", "HTTPCode_Backend_3XX", "HTTPCode_Backend_4XX", "HTTPCode_Backend_5XX",
			"BackendConnectionErrors", "SurgeQueueLength", "SpilloverCount", "HealthyHostCount",
			"UnHealthyHostCount", "EstimatedALBActiveConnectionCount", "EstimatedALBNewConnectionCount",
			"EstimatedProcessedBytes")),
}

// tableRow is metrics published by the same scopes.
type tableRow struct {
	scopes []scope
	names  []string
}

func row(ss []scope, names ...string) tableRow { return tableRow{ss, names} }

func table(rows ...tableRow) map[string][]scope {
	m := map[string][]scope{}
	for _, r := range rows {
		for _, n := range r.names {
			m[n] = r.scopes
		}
	}
	return m
}

// metricFor returns the metric to read name by, for this load balancer:
// by LoadBalancer and TargetGroup when AWS publishes name per target
// group, else by LoadBalancer alone (which counts every target group of
// the load balancer), for classic ELB by LoadBalancerName. A metric AWS
// does not publish by either fails, naming namespace, metric and
// dimensions, wrapping lb.ErrInvalid.
func (b *Balancer) metricFor(name string) (metric, error) {
	ns := map[kind]string{kindALB: "AWS/ApplicationELB", kindNLB: "AWS/NetworkELB", kindClassic: "AWS/ELB"}[b.kind]
	lbOnly := []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(b.lbDim)}}
	byTG := append(lbOnly[:1:1], cwtypes.Dimension{Name: aws.String("TargetGroup"), Value: aws.String(b.tgDim)})
	classicDims := []cwtypes.Dimension{{Name: aws.String("LoadBalancerName"), Value: aws.String(b.cfg.LoadBalancerName)}}
	want := []scope{scopeTG, scopeLB}
	if b.kind == kindClassic {
		want = []scope{scopeClassic}
	}
	have := publishedScopes[ns][name]
	for _, w := range want {
		for _, h := range have {
			if w != h {
				continue
			}
			switch w {
			case scopeTG:
				return metric{ns, name, byTG}, nil
			case scopeLB:
				return metric{ns, name, lbOnly}, nil
			default:
				return metric{ns, name, classicDims}, nil
			}
		}
	}
	tried := metric{ns, name, byTG}.String() + " or " + metric{ns, name, lbOnly}.String()
	if b.kind == kindClassic {
		tried = metric{ns, name, classicDims}.String()
	}
	return metric{}, fmt.Errorf("elb: config: MetricName: AWS does not publish %s: no datapoint would ever match: %w", tried, lb.ErrInvalid)
}
