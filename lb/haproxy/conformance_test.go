package haproxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/webfarm/webfarm/internal/haproxyproc"
	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// TestConformance runs lbtest against a real haproxy, a fresh process per
// case, with traffic through it between Stats readings.
func TestConformance(t *testing.T) {
	needHAProxy(t)
	farm := newWebFarm(t, 6)
	for _, tc := range []struct {
		name string
		cfg  Config
		proc haproxyproc.Config
	}{
		{"unix socket, per-server stats", Config{}, haproxyproc.Config{}},
		{"tcp socket, totals only, frontend counters", Config{TotalsOnly: true, Frontend: "http-in"}, haproxyproc.Config{StatsTCP: true}},
		{"tcp mode leastconn", Config{}, haproxyproc.Config{Mode: "tcp", Balance: "leastconn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var urls sync.Map // lb.Balancer → the frontend URL of its haproxy
			lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
				p := startProc(t, tc.proc)
				cfg := tc.cfg
				if tc.proc.StatsTCP {
					cfg.Socket = "tcp://" + p.StatsAddr().String()
				}
				b := connect(t, p, cfg)
				urls.Store(lb.Balancer(b), p.URL())
				return b
			}, lbtest.Config{
				Addr:    func(i int) netip.AddrPort { return farm.addr(i) },
				Timeout: 3 * time.Second, // generous: the machine is shared
				Traffic: func(ctx context.Context, b lb.Balancer) (int, error) {
					url, ok := urls.Load(b)
					if !ok {
						return 0, fmt.Errorf("no haproxy for %T %p", b, b)
					}
					return getFresh(ctx, url.(string), 6)
				},
				// HAProxy counts a request when its stream ends, just
				// after the client has the answer.
				Lag: 2 * time.Second,
			})
		})
	}
}

// getFresh sends n requests through url, each on a new connection (so
// that a TCP-mode haproxy counts and balances each), and returns how many
// were answered, whatever the status: with no server in the pool haproxy
// answers 503 (HTTP) or closes (TCP), and counts either way.
func getFresh(ctx context.Context, url string, n int) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	answered := 0
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return answered, err
		}
		resp, err := c.Do(req)
		if ctx.Err() != nil {
			return answered, ctx.Err()
		}
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered++
	}
	return answered, nil
}
