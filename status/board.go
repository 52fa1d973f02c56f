package status

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/scaler"
)

// Options configures a [Board]. The zero Options is valid: each field's
// doc gives its default.
type Options struct {
	// Window is how much history the chart keeps. If zero, 10 minutes.
	Window time.Duration
	// Decisions is how many of the latest scaling decisions are kept. If
	// zero, 30.
	Decisions int
	// Logger receives one line per membership change. If nil,
	// slog.Default() is used.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time
	// Registry receives the board's metrics and is what /metrics serves.
	// If nil, a new registry is made (never the global one).
	Registry *prometheus.Registry
	// Service, if set, names the service the board shows (one board per
	// service of a farm): every metric carries the label service=Service,
	// so that the boards of several services can share one Registry and
	// one /metrics. If empty, metrics have no service label and a
	// Registry holds one board.
	Service string
}

// Board is the farm's live status. All methods are safe for concurrent use.
type Board struct {
	opts Options
	log  *slog.Logger
	reg  *prometheus.Registry
	m    *metrics

	mu         sync.Mutex
	started    time.Time
	info       []Info
	points     []Point
	decisions  []Decision // oldest first
	last       *Point
	lastReason string
	lastErr    string
	pool       map[string]*poolEntry // as the last Stats reading saw it
	members    map[string]*member    // as Add, Drain and Remove made it
	load       *Load
	counts     Counts
	deploy     *deployState // the last SetDeployment reading
}

type poolEntry struct {
	addr     string
	state    lb.State
	requests uint64
	active   int
	rps      float64
}

type member struct {
	addr      string
	drainedAt time.Time
}

// Info is one line of static information shown on the page ("balancer":
// "haproxy 2.6 on 127.0.0.1:40001").
type Info struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Point is one controller tick on the chart.
type Point struct {
	// T is the tick's time in Unix milliseconds.
	T int64 `json:"t"`
	// RPS is the measured request rate, or nil when the tick had none.
	RPS *float64 `json:"rps"`
	// Desired is the count in force after the tick; Running the tasks
	// serving traffic.
	Desired int `json:"desired"`
	Running int `json:"running"`
	// Target is the rate the client load generator aimed at, or nil when
	// none was running.
	Target *float64 `json:"target,omitempty"`
}

// Decision is one scaling decision that changed the count (or failed).
type Decision struct {
	T         int64  `json:"t"`
	From      int    `json:"from"`
	To        int    `json:"to"`
	Direction string `json:"direction"`
	Reason    string `json:"reason"`
	Applied   bool   `json:"applied"`
	Err       string `json:"err,omitempty"`
}

// Backend is one backend in the pool as the balancer last reported it.
type Backend struct {
	ID       string  `json:"id"`
	Addr     string  `json:"addr"`
	State    string  `json:"state"`
	Requests uint64  `json:"requests"`
	Active   int     `json:"active"`
	RPS      float64 `json:"rps"`
}

// Load is what a client load generator reports.
type Load struct {
	// Running is true while the load runs.
	Running bool `json:"running"`
	// TargetRPS is the rate the profile asks for now.
	TargetRPS float64 `json:"target_rps"`
	// Requests, OK and Failed count requests so far.
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	Failed   int64 `json:"failed"`
	// P99Millis is the 99th percentile latency so far.
	P99Millis float64 `json:"p99_ms"`
	// Errors counts failures by kind.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// Counts are totals since the board started.
type Counts struct {
	Up          int64 `json:"up"`
	Down        int64 `json:"down"`
	Hold        int64 `json:"hold"`
	StatsErrors int64 `json:"stats_errors"`
	Adds        int64 `json:"adds"`
	Drains      int64 `json:"drains"`
	Removes     int64 `json:"removes"`
}

// Snapshot is the board's state, as /api/status serves it.
type Snapshot struct {
	Now       int64      `json:"now"`
	Started   int64      `json:"started"`
	Info      []Info     `json:"info"`
	Points    []Point    `json:"points"`
	Decisions []Decision `json:"decisions"` // newest first
	Last      *Point     `json:"last"`
	Reason    string     `json:"reason"`
	Err       string     `json:"err,omitempty"`
	Pool      []Backend  `json:"pool"`
	Load      *Load      `json:"load,omitempty"`
	Counts    Counts     `json:"counts"`
	// Deploy is the deployment [Board.SetDeployment] last recorded, or
	// nil if none was.
	Deploy *DeployView `json:"deploy,omitempty"`
}

// NewBoard returns an empty board. It fails only if opts.Registry already
// holds metrics of the same names (and, with Service, the same service).
func NewBoard(opts Options) (*Board, error) {
	if opts.Window <= 0 {
		opts.Window = 10 * time.Minute
	}
	if opts.Decisions <= 0 {
		opts.Decisions = 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	var r prometheus.Registerer = reg
	if opts.Service != "" {
		r = prometheus.WrapRegistererWith(prometheus.Labels{"service": opts.Service}, reg)
	}
	m, err := newMetrics(r)
	if err != nil {
		return nil, fmt.Errorf("status: register metrics: %w", err)
	}
	return &Board{opts: opts, log: log, reg: reg, m: m, started: opts.Now(),
		pool: make(map[string]*poolEntry), members: make(map[string]*member)}, nil
}

// Registry returns the registry the board's metrics are on, so a caller can
// add its own collectors to what /metrics serves.
func (b *Board) Registry() *prometheus.Registry { return b.reg }

// SetInfo sets one line of static information, replacing a line with the
// same key.
func (b *Board) SetInfo(key, value string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.info {
		if b.info[i].Key == key {
			b.info[i].Value = value
			return
		}
	}
	b.info = append(b.info, Info{key, value})
}

// Record takes one controller report; give it as scaler.Controller's
// OnDecision.
func (b *Board) Record(r scaler.Report) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.At.IsZero() { // the tick failed before the policy was asked
		if r.Err != nil {
			b.lastErr = r.Err.Error()
		}
		return
	}
	b.lastErr = ""
	if r.Err != nil {
		b.lastErr = r.Err.Error()
	}
	dir := r.Direction()
	b.m.decisions.WithLabelValues(dir.String()).Inc()
	switch dir {
	case scaler.Up:
		b.counts.Up++
	case scaler.Down:
		b.counts.Down++
	default:
		b.counts.Hold++
	}
	desired := r.Input.Current
	if r.Applied {
		desired = r.Count
	}
	p := Point{T: r.At.UnixMilli(), Desired: desired, Running: r.Input.Ready}
	if b.load != nil && b.load.Running && finite(b.load.TargetRPS) {
		v := b.load.TargetRPS
		p.Target = &v
	}
	if r.Rate != nil && finite(r.Rate.PerSecond) {
		v := r.Rate.PerSecond
		p.RPS = &v
		b.m.rps.Set(v)
		for id, rps := range r.Rate.Backends {
			if e, ok := b.pool[id]; ok && finite(rps) {
				e.rps = rps
			}
		}
	}
	b.m.desired.Set(float64(desired))
	b.m.running.Set(float64(r.Input.Ready))
	b.points = append(b.points, p)
	b.last = &b.points[len(b.points)-1]
	cut := p.T - b.opts.Window.Milliseconds() // keep (newest - Window, newest]
	i := 0
	for i < len(b.points)-1 && b.points[i].T <= cut {
		i++
	}
	if i > 0 {
		b.points = slices.Clone(b.points[i:])
		b.last = &b.points[len(b.points)-1]
	}
	b.lastReason = r.Reason
	if dir == scaler.Hold && r.Err == nil {
		return
	}
	d := Decision{T: r.At.UnixMilli(), From: r.Current, To: r.Count, Direction: dir.String(),
		Reason: r.Reason, Applied: r.Applied}
	if r.Err != nil {
		d.Err = r.Err.Error()
	}
	b.decisions = append(b.decisions, d)
	if n := len(b.decisions) - b.opts.Decisions; n > 0 {
		b.decisions = slices.Clone(b.decisions[n:])
	}
}

// SetLoad records the client load generator's counters so far.
func (b *Board) SetLoad(l Load) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var prevOK, prevFailed int64
	if b.load != nil {
		prevOK, prevFailed = b.load.OK, b.load.Failed
	}
	if d := l.OK - prevOK; d > 0 {
		b.m.clientResult.WithLabelValues("ok").Add(float64(d))
	}
	if d := l.Failed - prevFailed; d > 0 {
		b.m.clientResult.WithLabelValues("failed").Add(float64(d))
	}
	l.Errors = maps.Clone(l.Errors)
	b.load = &l
}

// Snapshot returns a copy of the board's state.
func (b *Board) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Snapshot{
		Now:       b.opts.Now().UnixMilli(),
		Started:   b.started.UnixMilli(),
		Info:      slices.Clone(b.info),
		Points:    slices.Clone(b.points),
		Decisions: slices.Clone(b.decisions),
		Reason:    b.lastReason,
		Err:       b.lastErr,
		Counts:    b.counts,
		Pool:      make([]Backend, 0, len(b.pool)),
	}
	slices.Reverse(s.Decisions)
	if s.Info == nil {
		s.Info = []Info{}
	}
	if s.Points == nil {
		s.Points = []Point{}
	}
	if s.Decisions == nil {
		s.Decisions = []Decision{}
	}
	if b.last != nil {
		p := *b.last
		s.Last = &p
	}
	if b.load != nil {
		l := *b.load
		l.Errors = maps.Clone(l.Errors)
		s.Load = &l
	}
	if b.deploy != nil {
		s.Deploy = b.deploy.view.clone()
	}
	for _, id := range slices.Sorted(maps.Keys(b.pool)) {
		e := b.pool[id]
		addr := e.addr
		if m, ok := b.members[id]; ok {
			addr = m.addr
		}
		s.Pool = append(s.Pool, Backend{ID: id, Addr: addr, State: e.state.String(), Requests: e.requests,
			Active: e.active, RPS: e.rps})
	}
	return s
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
