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
