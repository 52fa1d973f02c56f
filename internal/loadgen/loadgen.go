// Package loadgen is a bounded HTTP load generator for webfarm's tests,
// benchmarks and demo. It only targets loopback addresses, and every run is
// bounded in time and in requests.
//
//	res, err := loadgen.Run(ctx, loadgen.Config{URL: "http://127.0.0.1:8080/", Rate: 500, Duration: 10 * time.Second})
//	if err != nil { ... }
//	fmt.Println(res) // requests 5000, ok 5000, failed 0, p50 0.4ms, p99 1.9ms, ...
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of a run.
const (
	MaxDuration        = 10 * time.Minute
	DefaultMaxRequests = 5_000_000
)

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("loadgen: invalid config")

// Config describes a run. Duration is required; other zero fields take the
// defaults their docs give.
type Config struct {
	// URL is the target. Its host must be a loopback address or "localhost".
	URL string
	// Concurrency is the number of client workers, each keeping its
	// connections alive. If zero, 8 is used.
	Concurrency int
	// Rate is the total request rate per second (an open loop: requests are
	// started on schedule, whatever the latency). If zero and RateFunc is
	// nil, workers send back to back (a closed loop).
	Rate float64
	// RateFunc, if set, gives the rate at each moment of the run and
	// overrides Rate (a load profile). A rate ≤ 0 pauses the load.
	RateFunc func(elapsed time.Duration) float64
	// Duration bounds the run; at most MaxDuration.
	Duration time.Duration
	// MaxRequests bounds the number of requests. If zero,
	// DefaultMaxRequests is used.
	MaxRequests int64
	// Timeout bounds each request. If zero, 5s is used.
	Timeout time.Duration
	// Retry lets Go's HTTP client resend a request once when the server
	// closed a reused keep-alive connection under it, as browsers do. It is
	// off by default: a load generator exists to count what the server
	// dropped, and a silent retry hides exactly the failures a reload or
	// restart causes (wrk and hey count them too).
	Retry bool
}

func (c Config) validate() (Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return c, fmt.Errorf("%w: URL %q: %v", ErrConfig, c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return c, fmt.Errorf("%w: URL %q: scheme must be http or https", ErrConfig, c.URL)
	}
	if !loopback(u.Hostname()) {
		return c, fmt.Errorf("%w: URL %q: host %q is not a loopback address (127.0.0.0/8, ::1, localhost)", ErrConfig, c.URL, u.Hostname())
	}
	switch {
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return c, fmt.Errorf("%w: Duration %s must be in (0, %s]", ErrConfig, c.Duration, MaxDuration)
	case c.Concurrency < 0 || c.Concurrency > 4096:
		return c, fmt.Errorf("%w: Concurrency %d must be in [0, 4096]", ErrConfig, c.Concurrency)
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return c, fmt.Errorf("%w: Rate %v must be a finite number ≥ 0", ErrConfig, c.Rate)
	case c.MaxRequests < 0:
		return c, fmt.Errorf("%w: MaxRequests %d is negative", ErrConfig, c.MaxRequests)
	case c.Timeout < 0:
		return c, fmt.Errorf("%w: Timeout %s is negative", ErrConfig, c.Timeout)
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	return c, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Result summarises a run (or, from Snapshot, the run so far).
type Result struct {
	// Requests counts requests completed, OK those answered 2xx/3xx with
	// the body read fully, Failed the rest.
	Requests, OK, Failed int64
	// Skipped counts requests an open-loop schedule could not start
	// because every worker was busy.
	Skipped int64
	// Errors counts failures by kind ("status 503", "connection reset", …).
	Errors map[string]int64
	// Latency percentiles of completed requests, successes and failures.
	P50, P99, Max time.Duration
	// Elapsed is the run's length.
	Elapsed time.Duration

	hist histogram // a copy, for Since
}

// Since returns what happened between two snapshots of one run, prev
// taken before r: counts, errors and elapsed time are differences, and
// the percentiles are those of the requests completed in between (Max is
// the upper edge of the slowest one's bucket, at most r.Max).
func (r Result) Since(prev Result) Result {
	d := Result{Requests: r.Requests - prev.Requests, OK: r.OK - prev.OK, Failed: r.Failed - prev.Failed,
		Skipped: r.Skipped - prev.Skipped, Errors: map[string]int64{}, Elapsed: r.Elapsed - prev.Elapsed}
	for k, v := range r.Errors {
		if n := v - prev.Errors[k]; n > 0 {
			d.Errors[k] = n
		}
	}
	d.hist = histogram{counts: slices.Clone(r.hist.counts), n: r.hist.n - prev.hist.n, max: r.hist.max}
	for i, c := range prev.hist.counts {
		if i < len(d.hist.counts) {
			d.hist.counts[i] -= c
		}
	}
	d.P50, d.P99 = d.hist.quantile(0.50), d.hist.quantile(0.99)
	d.Max = d.hist.quantile(1)
	return d
}

// RPS returns completed requests per second of the run.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	s := fmt.Sprintf("requests %d, ok %d, failed %d, %.0f req/s, p50 %s, p99 %s, max %s",
		r.Requests, r.OK, r.Failed, r.RPS(), round(r.P50), round(r.P99), round(r.Max))
	if r.Skipped > 0 {
		s += fmt.Sprintf(", skipped %d", r.Skipped)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		s += fmt.Sprintf(", %s: %d", k, r.Errors[k])
	}
	return s
}

func round(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Load is a run in progress.
type Load struct {
	cfg   Config
	start time.Time
	done  chan struct{}
	err   error

	requests, ok, failed, skipped atomic.Int64

	mu     sync.Mutex
	errs   map[string]int64
	hist   histogram
	result Result
}

// Run runs a load and waits for it to end: after Duration, after
// MaxRequests, or when ctx is done (which is not an error).
func Run(ctx context.Context, cfg Config) (Result, error) {
	return Start(ctx, cfg).Wait()
}

// Start starts a load in the background.
func Start(ctx context.Context, cfg Config) *Load {
	l := &Load{done: make(chan struct{}), errs: map[string]int64{}}
	c, err := cfg.validate()
	if err != nil {
		l.err = err
		close(l.done)
		return l
	}
	l.cfg = c
	l.start = time.Now()
	go l.run(ctx)
	return l
}

// Wait waits for the run to end and returns its result.
func (l *Load) Wait() (Result, error) {
	<-l.done
	return l.result, l.err
}

// Done is closed when the run has ended.
func (l *Load) Done() <-chan struct{} { return l.done }

// Snapshot returns the result so far; it may be called while the load runs.
func (l *Load) Snapshot() Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapshotLocked()
}

func (l *Load) snapshotLocked() Result {
	r := Result{
		Requests: l.requests.Load(), OK: l.ok.Load(), Failed: l.failed.Load(), Skipped: l.skipped.Load(),
		Errors: maps.Clone(l.errs), Elapsed: time.Since(l.start),
	}
	r.P50, r.P99, r.Max = l.hist.quantile(0.50), l.hist.quantile(0.99), l.hist.max
	r.hist = histogram{counts: slices.Clone(l.hist.counts), n: l.hist.n, max: l.hist.max}
	return r
}

func (l *Load) run(ctx context.Context) {
	defer close(l.done)
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Duration)
	defer cancel()
	tr := &http.Transport{
		MaxIdleConns:        l.cfg.Concurrency,
		MaxIdleConnsPerHost: l.cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: l.cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var issued atomic.Int64
	take := func() bool { return issued.Add(1) <= l.cfg.MaxRequests }
	var tokens chan struct{}
	if l.cfg.Rate > 0 || l.cfg.RateFunc != nil {
		tokens = make(chan struct{}, l.cfg.Concurrency)
		go l.pace(ctx, tokens)
	}
	var wg sync.WaitGroup
	for range l.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if tokens != nil {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
					}
				} else if ctx.Err() != nil {
					return
				}
				if !take() {
					cancel()
					return
				}
				l.do(ctx, client)
			}
		}()
	}
	wg.Wait()
	l.mu.Lock()
	l.result = l.snapshotLocked()
	l.mu.Unlock()
}

// pace puts tokens at the configured rate; a token that finds every worker
// busy is counted as skipped rather than queued, so latency stays honest.
func (l *Load) pace(ctx context.Context, tokens chan<- struct{}) {
	const tick = 5 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	var owed float64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rate := l.cfg.Rate
			if l.cfg.RateFunc != nil {
				rate = l.cfg.RateFunc(now.Sub(l.start))
			}
			if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
				owed, last = 0, now
				continue
			}
			owed += rate * now.Sub(last).Seconds()
			last = now
			for ; owed >= 1; owed-- {
				select {
				case tokens <- struct{}{}:
				default:
					l.skipped.Add(1)
				}
			}
		}
	}
}

func (l *Load) do(ctx context.Context, client *http.Client) {
	start := time.Now()
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, l.cfg.URL, nil)
	if err != nil {
		l.record(time.Since(start), "request: "+err.Error())
		return
	}
	if !l.cfg.Retry {
		noRetry(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		l.record(time.Since(start), classify(err))
		return
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		l.record(time.Since(start), "body: "+classify(err))
	case resp.StatusCode >= 400:
		l.record(time.Since(start), fmt.Sprintf("status %d", resp.StatusCode))
	default:
		l.record(time.Since(start), "")
	}
}

// noRetry makes req non-replayable for net/http's Transport, which resends a
// body-less GET on a new connection when a reused one turns out closed. A
// request with a Body and no GetBody is not replayable; the Transport probes
// the empty body, finds it empty, and sends no body on the wire.
func noRetry(req *http.Request) {
	req.Body = io.NopCloser(strings.NewReader(""))
	req.GetBody = nil
	req.ContentLength = 0
}

func (l *Load) record(d time.Duration, failure string) {
	l.requests.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hist.add(d)
	if failure == "" {
		l.ok.Add(1)
		return
	}
	l.failed.Add(1)
	l.errs[failure]++
}

func classify(err error) string {
	var ne net.Error
	switch s := err.Error(); {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(s, "connection reset"):
		return "connection reset"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case strings.Contains(s, "server closed idle connection"):
		return "idle connection closed"
	case strings.Contains(s, "EOF"):
		return "EOF"
	default:
		return "error"
	}
}

// histogram buckets latencies logarithmically, 2 % wide, from 1 µs.
type histogram struct {
	counts []int64
	n      int64
	max    time.Duration
}

const bucketGrowth = 1.02

func (h *histogram) add(d time.Duration) {
	us := float64(d) / float64(time.Microsecond)
	i := 0
	if us > 1 {
		i = int(math.Log(us)/math.Log(bucketGrowth)) + 1
	}
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			d := time.Duration(math.Pow(bucketGrowth, float64(i)) * float64(time.Microsecond))
			return min(d, h.max)
		}
	}
	return h.max
}
