package mesos

import (
	"context"
	"crypto/tls"
	"log/slog"
	"testing"

	"github.com/webfarm/webfarm/lb/lbtest"
)

// TestZKLeaderURL: the master ZooKeeper names becomes the endpoint,
// https when Config.TLS is set; each change drops the subscription once;
// with no leader, requests have nowhere to go.
func TestZKLeaderURL(t *testing.T) {
	for _, tc := range []struct {
		tls  bool
		want string
	}{{false, "http://10.0.0.2:5050/api/v1/scheduler"}, {true, "https://10.0.0.2:5050/api/v1/scheduler"}} {
		cfg := baseConfig(lbtest.NewMemory())
		cfg.Masters = []string{"zk://jo:pw@zk1:2181,zk2:2181/mesos"}
		if tc.tls {
			cfg.TLS = &tls.Config{}
		}
		cfg.Logger = slog.New(slog.DiscardHandler)
		s, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.Leader() != "" {
			t.Errorf("Leader() = %q before any detection, want none", s.Leader())
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		s.runZK(ctx) // sets up the leader and returns: ctx is done
		drops := 0
		s.leader.zk.moved = func() { drops++ }
		s.leader.detected("10.0.0.2:5050")
		s.leader.detected("10.0.0.2:5050") // the same leader again: no change
		if s.Leader() != tc.want || drops != 1 {
			t.Errorf("tls %v: Leader() = %q after %d drops, want %q after 1", tc.tls, s.Leader(), drops, tc.want)
		}
		s.leader.detected("")
		if s.Leader() != "" || drops != 2 {
			t.Errorf("no leader: Leader() = %q after %d drops", s.Leader(), drops)
		}
	}
}
