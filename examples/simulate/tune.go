package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/webfarm/webfarm/scaler"
	"github.com/webfarm/webfarm/scaler/sim"
)

// tuneGrid is the grid of Budget settings -tune replays on the training
// trace; scaler's Default* constants are its pick (see package scaler,
// "Evaluation protocol").
var tuneGrid = struct {
	margin          []float64
	hindsight, down []time.Duration
}{
	margin:    []float64{0.7, 0.8, 0.9, 1},
	hindsight: []time.Duration{12 * time.Hour, 24 * time.Hour, 72 * time.Hour},
	down:      []time.Duration{-1, time.Minute},
}

// tuneMargin is the share of the budget a setting may use on the training
// trace to be picked: a margin for traffic it has not seen.
const tuneMargin = 0.9

// tune replays the Budget policy with every setting of tuneGrid on the
// training trace tr (already scaled), prints task-hours ÷ oracle and the
// share over capacity of each, and the pick: the cheapest setting whose
// share over capacity is at most tuneMargin × the budget.
func tune(ctx context.Context, w io.Writer, tr sim.Trace, cfg sim.Config, capacity, budget float64) error {
	type point struct {
		cfg     scaler.BudgetConfig
		cost    float64
		over    float64
		actions int
	}
	var pols []sim.Policy
	var cfgs []scaler.BudgetConfig
	for _, m := range tuneGrid.margin {
		for _, h := range tuneGrid.hindsight {
			for _, d := range tuneGrid.down {
				bc := scaler.BudgetConfig{Capacity: capacity, Budget: budget, Startup: cfg.Startup, Min: cfg.Min, Max: cfg.Max,
					Margin: m, Hindsight: h, DownDelay: d}
				cfgs = append(cfgs, bc)
				pols = append(pols, sim.Policy{Name: fmt.Sprint(len(pols)), New: func() (scaler.Policy, error) { return scaler.NewBudget(bc) }})
			}
		}
	}
	res, err := sim.Compare(ctx, tr, cfg, pols)
	if err != nil {
		return err
	}
	oracle := res[len(res)-1]
	pts := make([]point, len(cfgs))
	for i, c := range cfgs {
		pts[i] = point{c, res[i].TaskSeconds / oracle.TaskSeconds, res[i].OverPercent(), res[i].Actions}
	}
	pick := -1
	for i, p := range pts {
		if p.over <= tuneMargin*100*budget && (pick < 0 || p.cost < pts[pick].cost) {
			pick = i
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "Margin\tHindsight\tDownDelay\t×oracle\tover %%\tactions\tover ≤ %g × budget\t\n", tuneMargin)
	for i, p := range pts {
		mark := ""
		if i == pick {
			mark = " ← pick"
		}
		fmt.Fprintf(tw, "%g\t%s\t%s\t%.4f\t%.3f%%\t%d\t%v%s\t\n", p.cfg.Margin, p.cfg.Hindsight, p.cfg.DownDelay,
			p.cost, p.over, p.actions, p.over <= tuneMargin*100*budget, mark)
	}
	return tw.Flush()
}
