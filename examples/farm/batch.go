package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/webfarm/webfarm/mesos/local"
	"github.com/webfarm/webfarm/mesos/local/batch"
	"github.com/webfarm/webfarm/status"
)

// The web tasks' resources and role; with -batch the farm's quota
// guarantee is -max of them.
const (
	webRole = "web"
	webCPUs = 0.1
	webMem  = 64.0
)

// runBatch runs a batch framework (role "batch", 30-second tasks of 0.5
// cpus) beside the farm on the embedded cluster, and shows the cluster's
// share per framework on the board every 2 s. The returned func stops both
// and waits for them.
func runBatch(ctx context.Context, cluster *local.Cluster, board *status.Board, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	b := &batch.Framework{Name: "batch", Role: "batch", CPUs: 0.5, Mem: 256, TaskTime: 30 * time.Second}
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		if err := b.Run(ctx, cluster.URL()); err != nil {
			log.Warn("batch framework stopped", "err", err)
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			board.SetInfo("cluster share", sharesLine(cluster.Shares()))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		<-done
	}
}

// sharesLine formats shares as "farm (web) 12% · batch (batch) 75%".
func sharesLine(shares []local.FrameworkShare) string {
	parts := make([]string, 0, len(shares))
	for _, s := range shares {
		parts = append(parts, fmt.Sprintf("%s (%s) %.0f%%", s.Name, s.Role, s.Share*100))
	}
	if len(parts) == 0 {
		return "no framework"
	}
	return strings.Join(parts, " · ")
}
