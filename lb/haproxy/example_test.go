package haproxy_test

import (
	"context"
	"errors"
	"log"
	"net/netip"
	"time"

	"github.com/webfarm/webfarm/lb"
	"github.com/webfarm/webfarm/lb/haproxy"
)

// A task's life in the pool: add it when it runs, drain it, wait until it
// has no connection, remove it.
func Example() {
	ctx := context.Background()
	b, err := haproxy.New(ctx, haproxy.Config{Socket: "/run/haproxy/admin.sock", Backend: "webfarm"})
	var ce *haproxy.ConfigError
	if errors.As(err, &ce) {
		log.Fatalf("HAProxy is not set up for webfarm (%s): %v", ce.Problem, err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	task := lb.Backend{ID: "web.4f1c", Addr: netip.MustParseAddrPort("10.0.0.7:31000")}
	if err := b.Add(ctx, task); err != nil {
		log.Fatal(err)
	}
	if err := b.Drain(ctx, task.ID); err != nil {
		log.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		n, err := b.ActiveConns(wait, task.ID)
		if err != nil || n == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := b.Remove(ctx, task.ID); err != nil {
		log.Fatal(err)
	}
}

// Rates come from the cumulative counter; a reading says when HAProxy
// restarted.
func ExampleBalancer_Totals() {
	ctx := context.Background()
	b, err := haproxy.New(ctx, haproxy.Config{TotalsOnly: true, Restore: true})
	if err != nil {
		log.Fatal(err)
	}
	var m lb.Meter
	for range time.Tick(time.Second) {
		r, err := b.Totals(ctx)
		if err != nil {
			log.Print(err)
			continue
		}
		if r.Restarted {
			log.Printf("HAProxy restarted (pid %d); %d servers restored", r.PID, r.Restored)
		}
		if rate, err := m.Observe(r.Stats); err == nil {
			log.Printf("%.0f requests/s, %d active", rate.PerSecond, rate.Active)
		}
	}
}
