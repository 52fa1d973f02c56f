package haproxy

import (
	"context"
	"net/netip"
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
			var url string
			lbtest.RunConfig(t, func(t *testing.T) lb.Balancer {
				p := startProc(t, tc.proc)
				url = p.URL()
				cfg := tc.cfg
				if tc.proc.StatsTCP {
					cfg.Socket = "tcp://" + p.StatsAddr().String()
				}
				return connect(t, p, cfg)
			}, lbtest.Config{
				Addr:    func(i int) netip.AddrPort { return farm.addr(i) },
				Timeout: 3 * time.Second, // generous: the machine is shared
				Traffic: func(ctx context.Context) error {
					// With no server, haproxy answers 503 (HTTP) or
					// closes (TCP); either way its counters move.
					_, _ = get(ctx, url, 3)
					return nil
				},
			})
		})
	}
}
