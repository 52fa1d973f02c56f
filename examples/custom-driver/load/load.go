// Package load is a small open-loop HTTP load generator for the
// custom-driver example and its tests: requests start on a schedule (a rate
// that may change over time) whether or not earlier ones have finished, up
// to a fixed number of workers, for a bounded time and count.
package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Config describes a load. URL, Duration and Rate are required.
type Config struct {
	// URL is requested with GET.
	URL string
	// Rate is the request rate, in requests per second, at each point of
	// the run (elapsed time since the start).
	Rate func(elapsed time.Duration) float64
	// Duration bounds the run.
	Duration time.Duration
	// Workers is the most requests in flight. If zero, 16.
	Workers int
	// MaxRequests bounds the requests started. If zero, there is no bound
	// besides Duration.
	MaxRequests int
}

// Result counts what a run did.
type Result struct {
	// OK counts 2xx answers whose body was read fully; Failed the rest.
	OK, Failed int
	// Skipped counts requests not started because every worker was busy.
	Skipped int
	// Errors counts failures by kind ("status 503", a transport error).
	Errors map[string]int
}

func (r Result) String() string {
	return fmt.Sprintf("ok %d, failed %d, skipped %d, errors %v", r.OK, r.Failed, r.Skipped, r.Errors)
}

// Load is a running load.
type Load struct {
	done chan struct{}
	mu   sync.Mutex
	res  Result
	err  error
}

// Start starts the load; it stops after cfg.Duration, after
// cfg.MaxRequests, or when ctx is done.
func Start(ctx context.Context, cfg Config) *Load {
	l := &Load{done: make(chan struct{}), res: Result{Errors: map[string]int{}}}
	if cfg.URL == "" || cfg.Rate == nil || cfg.Duration <= 0 {
		l.err = fmt.Errorf("load: URL, Rate and a positive Duration are required")
		close(l.done)
		return l
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	go l.run(ctx, cfg)
	return l
}

// Done is closed when the load has ended.
func (l *Load) Done() <-chan struct{} { return l.done }

// Wait waits for the end of the load and returns what it did.
func (l *Load) Wait() (Result, error) {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res, l.err
}

func (l *Load) run(ctx context.Context, cfg Config) {
	defer close(l.done)
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Workers}}
	defer client.CloseIdleConnections()
	tokens := make(chan struct{})
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range tokens {
				l.record(get(ctx, client, cfg.URL))
			}
		}()
	}
	start := time.Now()
	next := start
loop:
	for n := 0; cfg.MaxRequests == 0 || n < cfg.MaxRequests; n++ {
		r := cfg.Rate(next.Sub(start))
		if !(r > 0) || r > 1e6 {
			r = 1 // a zero or absurd rate: idle along at one a second
		}
		next = next.Add(time.Duration(float64(time.Second) / r))
		select {
		case <-ctx.Done():
			break loop
		case <-time.After(time.Until(next)):
		}
		select {
		case tokens <- struct{}{}:
		default:
			l.mu.Lock()
			l.res.Skipped++
			l.mu.Unlock()
		}
	}
	close(tokens)
	wg.Wait()
}

// get does one request and returns "" or the kind of failure.
func get(ctx context.Context, client *http.Client, url string) string {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := client.Do(req)
	if err != nil {
		return "transport error"
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "body cut short"
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("status %d", resp.StatusCode)
	}
	return ""
}

func (l *Load) record(failure string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failure == "" {
		l.res.OK++
		return
	}
	l.res.Failed++
	l.res.Errors[failure]++
}
