package status

import (
	"context"
	"io"
	"net/netip"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/lbtest"
)

// Boards of several services share one registry: every series carries its
// board's service label, and each board counts only its own service.
func TestBoardsShareRegistryByService(t *testing.T) {
	reg := prometheus.NewRegistry()
	boards := map[string]*Board{}
	for _, name := range []string{"web", "api"} {
		b, err := NewBoard(Options{Registry: reg, Service: name, Logger: logLines(io.Discard)})
		if err != nil {
			t.Fatalf("NewBoard(%s): %v", name, err)
		}
		boards[name] = b
	}
	if _, err := NewBoard(Options{Registry: reg, Service: "web"}); err == nil {
		t.Fatal("a second board for service web on the same registry: got nil error")
	}
	ctx := context.Background()
	for name, n := range map[string]int{"web": 1, "api": 2} {
		bal := boards[name].Watch(lbtest.NewMemory())
		for i := range n {
			if err := bal.Add(ctx, lb.Backend{ID: name + string(rune('a'+i)), Addr: netip.MustParseAddrPort("127.0.0.1:8080")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "webfarm_membership_changes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var service, op string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "service":
					service = l.GetValue()
				case "op":
					op = l.GetValue()
				}
			}
			if service == "" {
				t.Errorf("series %v has no service label", m.GetLabel())
			}
			if op == "add" {
				got[service] = m.GetCounter().GetValue()
			}
		}
	}
	if got["web"] != 1 || got["api"] != 2 {
		t.Fatalf("membership_changes_total{op=add} by service = %v, want web 1, api 2", got)
	}
	var services []string
	for k := range got {
		services = append(services, k)
	}
	slices.Sort(services)
	if !slices.Equal(services, []string{"api", "web"}) {
		t.Fatalf("services in /metrics = %v, want [api web]", services)
	}
}
