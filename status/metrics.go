package status

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the board's Prometheus collectors, registered on its own
// registry (never the global one, so two boards never collide).
type metrics struct {
	rps          prometheus.Gauge
	desired      prometheus.Gauge
	running      prometheus.Gauge
	decisions    *prometheus.CounterVec
	statsErrors  prometheus.Counter
	membership   *prometheus.CounterVec
	drain        prometheus.Histogram
	pool         *prometheus.GaugeVec
	clientResult *prometheus.CounterVec

	deployRequests   *prometheus.CounterVec
	deployErrors     *prometheus.CounterVec
	deployRPS        *prometheus.GaugeVec
	deployErrorRatio *prometheus.GaugeVec
	deployTasks      *prometheus.GaugeVec
	deployShare      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns = "webfarm"
	m := &metrics{
		rps: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "requests_per_second",
			Help: "Request rate through the balancer over the controller's last poll interval."}),
		desired: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "tasks_desired",
			Help: "Web-server tasks the controller asks for."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "tasks_running",
			Help: "Web-server tasks serving traffic."}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "scaling_decisions_total",
			Help: "Controller decisions by direction (up, down, hold)."}, []string{"direction"}),
		statsErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "balancer_stats_errors_total",
			Help: "Failed reads of the balancer's stats."}),
		membership: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "membership_changes_total",
			Help: "Pool changes made through the balancer, by operation (add, drain, resume, remove)."}, []string{"op"}),
		drain: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "drain_duration_seconds",
			Help:    "Time from draining a backend to removing it.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}}),
		pool: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "pool_backends",
			Help: "Backends in the balancer's pool by state."}, []string{"state"}),
		clientResult: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "client_requests_total",
			Help: "Requests of the built-in load generator by result (ok, failed)."}, []string{"result"}),
		deployRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "deploy_requests_total",
			Help: "Requests served by each version of a deployment, from the balancer's per-backend counters."}, []string{"version"}),
		deployErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "deploy_errors_total",
			Help: "Requests each version of a deployment answered with a 5xx status."}, []string{"version"}),
		deployRPS: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "deploy_requests_per_second",
			Help: "Request rate of each version of the current deployment between its last two readings."}, []string{"version"}),
		deployErrorRatio: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "deploy_error_ratio",
			Help: "Share of each version's requests answered with a 5xx between the last two readings that had requests."}, []string{"version"}),
		deployTasks: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "deploy_tasks",
			Help: "Live tasks of each version of the current deployment."}, []string{"version"}),
		deployShare: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "deploy_traffic_share",
			Help: "The new version's share of the traffic (balancer weights) in the current deployment, 0-1."}, []string{"version"}),
	}
	for _, d := range []string{"up", "down", "hold"} {
		m.decisions.WithLabelValues(d)
	}
	for _, op := range []string{"add", "drain", "resume", "remove"} {
		m.membership.WithLabelValues(op)
	}
	for _, r := range []string{"ok", "failed"} {
		m.clientResult.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.rps, m.desired, m.running, m.decisions, m.statsErrors,
		m.membership, m.drain, m.pool, m.clientResult, m.deployRequests, m.deployErrors, m.deployRPS,
		m.deployErrorRatio, m.deployTasks, m.deployShare} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
