package status_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
	"github.com/webfarm/webfarm/status"
)

// Wrap the balancer with Watch, give the controller's reports to Record
// (scaler.Controller.OnDecision), and serve Handler: the page at /, its
// JSON at /api/status, Prometheus metrics at /metrics.
func ExampleBoard() {
	ctx := context.Background()
	board, err := status.NewBoard(status.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	bal := board.Watch(lbtest.NewMemory()) // lb/haproxy, lb/lvs, lb/elb in production
	_ = bal.Add(ctx, lb.Backend{ID: "web.1", Addr: netip.MustParseAddrPort("127.0.0.1:31001")})
	_ = bal.Add(ctx, lb.Backend{ID: "web.2", Addr: netip.MustParseAddrPort("127.0.0.1:31002")})
	_ = bal.Drain(ctx, "web.2")
	_ = bal.Remove(ctx, "web.2")
	// ctl := &scaler.Controller{Balancer: bal, OnDecision: board.Record, ...}

	srv := httptest.NewServer(board.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "webfarm_membership_changes_total") {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// webfarm_membership_changes_total{op="add"} 2
	// webfarm_membership_changes_total{op="drain"} 1
	// webfarm_membership_changes_total{op="remove"} 1
	// webfarm_membership_changes_total{op="resume"} 0
}

// Give the board a deployment's progress every second or so while it
// runs (from mesos.Scheduler.DeployStatus); it turns each version's
// cumulative request and 5xx counters into rates.
func ExampleBoard_SetDeployment() {
	now := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	board, err := status.NewBoard(status.Options{Now: func() time.Time { return now }})
	if err != nil {
		fmt.Println(err)
		return
	}
	st := status.Deployment{State: "canary", From: "v1", To: "v2", Desired: 10, Old: 9, New: 1, Ready: 1, Share: 0.1,
		OldRequests: 900, NewRequests: 100, NewErrors: 2}
	_ = board.SetDeployment(st)
	now = now.Add(time.Second)
	st.OldRequests, st.NewRequests, st.NewErrors = 1800, 200, 52
	if err := board.SetDeployment(st); err != nil {
		fmt.Println(err)
		return
	}
	for _, v := range board.Snapshot().Deploy.Versions {
		fmt.Printf("%s %s: %.0f req/s, %.0f 5xx/s, %.0f %% 5xx\n", v.Role, v.Version, *v.RPS, *v.ErrorsPerSecond, 100**v.ErrorRate)
	}
	// Output:
	// old v1: 900 req/s, 0 5xx/s, 0 % 5xx
	// new v2: 100 req/s, 50 5xx/s, 50 % 5xx
}
