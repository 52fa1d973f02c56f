package elbtest

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// PutMetric records a sample of one metric at t, as a load balancer
// publishes it (for counts: the sum over the minute that starts at t).
// GetMetricData aggregates the samples of each period with the statistic
// asked for (Sum, Average, Minimum, Maximum or SampleCount).
//
// In the AWS/ApplicationELB, AWS/NetworkELB and AWS/ELB namespaces the
// fake is as strict as CloudWatch: a metric AWS does not publish, or a
// dimension set AWS does not publish it by, fails the test (a query by
// such a set finds no datapoints, as in AWS), and a zero sample of a
// metric AWS reports only when it is non-zero (RequestCount,
// NewFlowCount, …) is dropped, so that a minute without traffic has no
// datapoint, not a zero. See [Published].
func (s *Server) PutMetric(namespace, name string, dims map[string]string, t time.Time, v float64) {
	if p, known := published[namespace]; known {
		m, ok := p[name]
		if !ok {
			s.tb.Errorf("elbtest: PutMetric: AWS does not publish %s %s", namespace, name)
			return
		}
		if !m.publishedBy(dims) {
			s.tb.Errorf("elbtest: PutMetric: AWS does not publish %s %s by %s (it does by %s)", namespace, name, dimNames(dims), m.setsString())
			return
		}
		if v == 0 && m.nonZero {
			return // reporting criterion "there is a nonzero value"
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := metricKey(namespace, name, dims)
	s.metrics[k] = append(s.metrics[k], datapoint{t, v})
}

// Traffic publishes n requests (NLB: new flows) in the minute that starts
// at t under every dimension set AWS publishes the load balancer's
// request counter by: for an ALB ("app/<name>/<id>") RequestCount by
// LoadBalancer and by LoadBalancer+TargetGroup (targetGroup
// "targetgroup/<name>/<id>"); for an NLB ("net/…") NewFlowCount by
// LoadBalancer only (targetGroup is ignored: AWS/NetworkELB has no flow
// count per target group); for a classic load balancer (its name)
// RequestCount by LoadBalancerName. Like AWS, it publishes nothing for
// n = 0.
func (s *Server) Traffic(balancer, targetGroup string, t time.Time, n float64) {
	switch {
	case strings.HasPrefix(balancer, "app/"):
		s.PutMetric("AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": balancer}, t, n)
		s.PutMetric("AWS/ApplicationELB", "RequestCount", map[string]string{"LoadBalancer": balancer, "TargetGroup": targetGroup}, t, n)
	case strings.HasPrefix(balancer, "net/"):
		s.PutMetric("AWS/NetworkELB", "NewFlowCount", map[string]string{"LoadBalancer": balancer}, t, n)
	default:
		s.PutMetric("AWS/ELB", "RequestCount", map[string]string{"LoadBalancerName": balancer}, t, n)
	}
}

// publishedMetric is what AWS publishes of one ELB metric: the dimension
// sets (sorted names) it can be read by, and whether a datapoint exists
// only for a non-zero value.
type publishedMetric struct {
	sets    [][]string
	nonZero bool
}

func (m publishedMetric) publishedBy(dims map[string]string) bool {
	names := slices.Sorted(maps.Keys(dims))
	return slices.ContainsFunc(m.sets, func(set []string) bool { return slices.Equal(set, names) })
}

func (m publishedMetric) setsString() string {
	parts := make([]string, len(m.sets))
	for i, set := range m.sets {
		parts[i] = "{" + strings.Join(set, ",") + "}"
	}
	return strings.Join(parts, " or ")
}

func dimNames(dims map[string]string) string {
	return "{" + strings.Join(slices.Sorted(maps.Keys(dims)), ",") + "}"
}

// Dimension sets, names sorted.
var (
	byLB      = []string{"LoadBalancer"}
	byAZLB    = []string{"AvailabilityZone", "LoadBalancer"}
	byLBTG    = []string{"LoadBalancer", "TargetGroup"}
	byAZLBTG  = []string{"AvailabilityZone", "LoadBalancer", "TargetGroup"}
	byTG      = []string{"TargetGroup"}
	byName    = []string{"LoadBalancerName"}
	byAZName  = []string{"AvailabilityZone", "LoadBalancerName"}
	byAZ      = []string{"AvailabilityZone"}
	lbSets    = [][]string{byLB, byAZLB}
	tgSets    = [][]string{byLBTG, byAZLBTG}
	allV2Sets = [][]string{byLB, byAZLB, byLBTG, byAZLBTG}
	clbSets   = [][]string{byName, byAZName, byAZ, {}}
)

// published lists the metrics the fake knows per AWS namespace, with the
// dimension sets and reporting criteria of AWS's metric tables:
//   - AWS/ApplicationELB: "CloudWatch metrics for your Application Load
//     Balancer", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
//     (RequestCount: LoadBalancer; AvailabilityZone, LoadBalancer;
//     TargetGroup, LoadBalancer; TargetGroup, AvailabilityZone,
//     LoadBalancer; reported when non-zero).
//   - AWS/NetworkELB: "CloudWatch metrics for your Network Load
//     Balancer", https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
//     (flow and byte counts by LoadBalancer and AvailabilityZone,
//     LoadBalancer only; only (Un)HealthyHostCount per TargetGroup).
//   - AWS/ELB: "CloudWatch metrics for your Classic Load Balancer",
//     https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/elb-cloudwatch-metrics.html
//     (by LoadBalancerName, AvailabilityZone, both, or none).
//
// Each page also says that ELB reports metrics only while requests flow:
// "If there are no requests flowing through the load balancer or no data
// for a metric, the metric is not reported."
var published = map[string]map[string]publishedMetric{
	"AWS/ApplicationELB": {
		"RequestCount":              {allV2Sets, true},
		"TargetResponseTime":        {allV2Sets, true},
		"HTTPCode_Target_2XX_Count": {allV2Sets, true},
		"HTTPCode_Target_5XX_Count": {allV2Sets, true},
		"HTTPCode_ELB_5XX_Count":    {lbSets, true},
		"ActiveConnectionCount":     {lbSets, true},
		"NewConnectionCount":        {lbSets, true},
		"RequestCountPerTarget":     {[][]string{byTG, byLBTG, byAZLBTG}, true},
		"HealthyHostCount":          {tgSets, false},
		"UnHealthyHostCount":        {tgSets, false},
	},
	"AWS/NetworkELB": {
		"NewFlowCount":       {lbSets, false},
		"NewFlowCount_TCP":   {lbSets, true},
		"NewFlowCount_UDP":   {lbSets, true},
		"NewFlowCount_TLS":   {lbSets, true},
		"ActiveFlowCount":    {lbSets, false},
		"ProcessedBytes":     {lbSets, false},
		"HealthyHostCount":   {tgSets, false},
		"UnHealthyHostCount": {tgSets, false},
	},
	"AWS/ELB": {
		"RequestCount":         {clbSets, true},
		"Latency":              {clbSets, true},
		"HTTPCode_ELB_5XX":     {clbSets, true},
		"HTTPCode_Backend_2XX": {clbSets, true},
		"SurgeQueueLength":     {clbSets, true},
		"HealthyHostCount":     {clbSets, false},
		"UnHealthyHostCount":   {clbSets, false},
	},
}

// Published reports whether AWS publishes the metric by the dimension
// set named by dims (only the names count), per the tables cited on the
// fake's rules. Metrics outside the three ELB namespaces are custom:
// anything goes.
func Published(namespace, name string, dims map[string]string) bool {
	p, known := published[namespace]
	if !known {
		return true
	}
	m, ok := p[name]
	return ok && m.publishedBy(dims)
}

// SetMetricPageSize makes GetMetricData return at most n datapoints per
// page, with StatusCode PartialData and a NextToken, as CloudWatch does for
// large answers. 0 removes the limit.
func (s *Server) SetMetricPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// SetMetricStatus makes every GetMetricData result carry status (for
// example "InternalError" or "Forbidden") and no data. "" restores normal
// answers.
func (s *Server) SetMetricStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusOverride = status
}

// SetRawMetricReply makes GetMetricData answer 200 with body as is (nil
// restores normal answers). The fuzz test uses it.
func (s *Server) SetRawMetricReply(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rawMetricReply = body
}

func metricKey(namespace, name string, dims map[string]string) string {
	parts := make([]string, 0, len(dims))
	for k, v := range dims {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return namespace + "|" + name + "|" + strings.Join(parts, ",")
}

func cborError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{
		"__type":  cbor.String("com.amazonaws.cloudwatch#" + code),
		"message": cbor.String(msg),
	}))
}

// maxMetricDataQueries is the most MetricDataQuery structures one
// GetMetricData call may carry (see parseQueries).
const maxMetricDataQueries = 500

var queryIDRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]{0,254}$`)

type metricQuery struct {
	id, key string
	period  int64
	stat    string
}

func (s *Server) serveCloudWatch(w http.ResponseWriter, r *http.Request, op string, body []byte) {
	if r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor" {
		cborError(w, http.StatusBadRequest, "InvalidParameterValue", "elbtest: want Smithy-Protocol rpc-v2-cbor and Content-Type application/cbor")
		return
	}
	if op != "GetMetricData" {
		cborError(w, http.StatusBadRequest, "UnknownOperationException", "elbtest: operation "+op+" is not faked")
		return
	}
	v, err := cbor.Decode(body)
	if err != nil {
		cborError(w, http.StatusBadRequest, "SerializationException", "elbtest: decode CBOR: "+err.Error())
		return
	}
	in, ok := v.(cbor.Map)
	if !ok {
		cborError(w, http.StatusBadRequest, "SerializationException", fmt.Sprintf("elbtest: body is %T, want a map", v))
		return
	}
	start, err1 := cbor.AsTime(in["StartTime"])
	end, err2 := cbor.AsTime(in["EndTime"])
	if err1 != nil || err2 != nil || !start.Before(end) {
		cborError(w, http.StatusBadRequest, "ValidationError", "The parameter StartTime must be less than the parameter EndTime.")
		return
	}
	descending := true
	if sb, ok := in["ScanBy"].(cbor.String); ok {
		descending = sb != "TimestampAscending"
	}
	queries, err := parseQueries(in["MetricDataQueries"])
	if err != nil {
		cborError(w, http.StatusBadRequest, "ValidationError", err.Error())
		return
	}
	offset := 0
	if tok, ok := in["NextToken"].(cbor.String); ok {
		offset, err = strconv.Atoi(strings.TrimPrefix(string(tok), "page-"))
		if err != nil || offset < 0 {
			cborError(w, http.StatusBadRequest, "InvalidNextToken", "The service couldn't process the NextToken.")
			return
		}
	}

	s.mu.Lock()
	raw := s.rawMetricReply
	override := s.statusOverride
	pageSize := s.pageSize
	type bucket struct {
		t time.Time
		v float64
	}
	series := make([][]bucket, len(queries))
	for i, q := range queries {
		vals := map[int64][]float64{}
		for _, dp := range s.metrics[q.key] {
			if dp.t.Before(start) || !dp.t.Before(end) {
				continue
			}
			b := dp.t.Unix() - (dp.t.Unix() % q.period)
			vals[b] = append(vals[b], dp.v)
		}
		for b, vs := range vals {
			series[i] = append(series[i], bucket{time.Unix(b, 0), aggregate(q.stat, vs)})
		}
		slices.SortFunc(series[i], func(a, b bucket) int {
			if descending {
				return b.t.Compare(a.t)
			}
			return a.t.Compare(b.t)
		})
	}
	s.mu.Unlock()

	if raw != nil {
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		w.Header().Set("Content-Type", "application/cbor")
		_, _ = w.Write(raw)
		return
	}
	results := cbor.List{}
	more := false
	for i, q := range queries {
		pts := series[i]
		if offset < len(pts) {
			pts = pts[offset:]
		} else {
			pts = nil
		}
		status := "Complete"
		if pageSize > 0 && len(pts) > pageSize {
			pts, status, more = pts[:pageSize], "PartialData", true
		}
		ts, vs := cbor.List{}, cbor.List{}
		if override != "" {
			status = override
		} else {
			for _, p := range pts {
				ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(p.t.Unix()))})
				vs = append(vs, cbor.Float64(p.v))
			}
		}
		results = append(results, cbor.Map{
			"Id":         cbor.String(q.id),
			"Label":      cbor.String(q.stat),
			"StatusCode": cbor.String(status),
			"Timestamps": ts,
			"Values":     vs,
			"Messages":   cbor.List{},
		})
	}
	out := cbor.Map{"MetricDataResults": results, "Messages": cbor.List{}}
	if more {
		out["NextToken"] = cbor.String("page-" + strconv.Itoa(offset+pageSize))
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(cbor.Encode(out))
}

func parseQueries(v cbor.Value) ([]metricQuery, error) {
	list, ok := v.(cbor.List)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("the parameter MetricDataQueries is required")
	}
	// "A single GetMetricData call can include as many as 500
	// MetricDataQuery structures" (CloudWatch API Reference,
	// GetMetricData, Request Parameters: MetricDataQueries; the same text
	// is on GetMetricDataInput.MetricDataQueries in aws-sdk-go-v2's
	// service/cloudwatch/api_op_GetMetricData.go).
	if len(list) > maxMetricDataQueries {
		return nil, fmt.Errorf("the collection MetricDataQueries must not have more than %d members (it has %d)", maxMetricDataQueries, len(list))
	}
	var qs []metricQuery
	ids := make(map[cbor.String]bool, len(list))
	for i, e := range list {
		m, ok := e.(cbor.Map)
		if !ok {
			return nil, fmt.Errorf("MetricDataQueries.member.%d is not a structure", i+1)
		}
		id, _ := m["Id"].(cbor.String)
		if !queryIDRE.MatchString(string(id)) {
			return nil, fmt.Errorf("the value %q for parameter MetricDataQueries.member.%d.Id is invalid: it must start with a lower-case letter", id, i+1)
		}
		// "This name must be unique within a single call to
		// GetMetricData" (CloudWatch API Reference, MetricDataQuery: Id;
		// MetricDataQuery.Id in aws-sdk-go-v2's service/cloudwatch/types/types.go).
		if ids[id] {
			return nil, fmt.Errorf("the value %q for parameter MetricDataQueries.member.%d.Id is not unique in the request", id, i+1)
		}
		ids[id] = true
		ms, ok := m["MetricStat"].(cbor.Map)
		if !ok {
			return nil, fmt.Errorf("MetricDataQueries.member.%d: MetricStat is required (expressions are not faked)", i+1)
		}
		metric, _ := ms["Metric"].(cbor.Map)
		ns, _ := metric["Namespace"].(cbor.String)
		name, _ := metric["MetricName"].(cbor.String)
		if ns == "" || name == "" {
			return nil, fmt.Errorf("MetricDataQueries.member.%d: Namespace and MetricName are required", i+1)
		}
		dims := map[string]string{}
		if dl, ok := metric["Dimensions"].(cbor.List); ok {
			for _, d := range dl {
				dm, _ := d.(cbor.Map)
				dn, _ := dm["Name"].(cbor.String)
				dv, _ := dm["Value"].(cbor.String)
				dims[string(dn)] = string(dv)
			}
		}
		period, err := cbor.AsInt64(ms["Period"])
		if err != nil || period <= 0 || (period%60 != 0 && !slices.Contains([]int64{1, 5, 10, 20, 30}, period)) {
			return nil, fmt.Errorf("the parameter MetricDataQueries.member.%d.MetricStat.Period must be a multiple of 60", i+1)
		}
		stat, _ := ms["Stat"].(cbor.String)
		if !slices.Contains([]cbor.String{"Sum", "Average", "Minimum", "Maximum", "SampleCount"}, stat) {
			return nil, fmt.Errorf("elbtest: statistic %q is not faked (Sum, Average, Minimum, Maximum, SampleCount are)", stat)
		}
		if rd, ok := m["ReturnData"].(cbor.Bool); ok && !bool(rd) {
			continue
		}
		qs = append(qs, metricQuery{id: string(id), key: metricKey(string(ns), string(name), dims), period: period, stat: string(stat)})
	}
	return qs, nil
}

// aggregate computes a CloudWatch statistic over one period's datapoints.
func aggregate(stat string, vs []float64) float64 {
	switch stat {
	case "Average":
		sum := 0.0
		for _, v := range vs {
			sum += v
		}
		return sum / float64(len(vs))
	case "Minimum":
		return slices.Min(vs)
	case "Maximum":
		return slices.Max(vs)
	case "SampleCount":
		return float64(len(vs))
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	return sum
}
