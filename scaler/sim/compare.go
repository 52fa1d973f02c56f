package sim

import (
	"context"
	"fmt"
	"io"
	"sync"
	"text/tabwriter"

	"github.com/webfarm/webfarm/scaler"
)

// Policy names a way to build a fresh [scaler.Policy]; each replay needs
// one with no history.
type Policy struct {
	Name string
	New  func() (scaler.Policy, error)
}

// Compare replays tr through each policy, up to two at a time, and
// returns their results in order, followed by the oracle's.
func Compare(ctx context.Context, tr Trace, cfg Config, policies []Policy) ([]Result, error) {
	out := make([]Result, len(policies)+1)
	errs := make([]error, len(policies)+1)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, p := range policies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := p.New()
			if err != nil {
				errs[i] = fmt.Errorf("sim: policy %s: %w", p.Name, err)
				return
			}
			r, err := Run(ctx, tr, s, cfg)
			r.Name = p.Name
			out[i], errs[i] = r, err
		}()
	}
	wg.Wait()
	o, err := Oracle(ctx, tr, cfg)
	out[len(policies)], errs[len(policies)] = o, err
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WriteTable writes results as an aligned table, task-seconds relative to
// the last row when it is the oracle. "reversals<2m" counts actions that
// undo the previous one within FlapWindow, "flaps" those of them with no
// change in demand in between; neither is counted for the oracle.
func WriteTable(w io.Writer, results []Result) error {
	var oracle *Result
	if n := len(results); n > 0 && results[n-1].Name == "oracle" {
		oracle = &results[n-1]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\ttask-hours\tvs oracle\tseconds over\trequests over\tover %\tactions\treversals<2m\tflaps\tpeak tasks\t")
	for _, r := range results {
		vs := "-"
		if oracle != nil && oracle.TaskSeconds > 0 {
			vs = fmt.Sprintf("%+.1f%%", 100*(r.TaskSeconds/oracle.TaskSeconds-1))
		}
		rev, flaps := fmt.Sprint(r.Reversals), fmt.Sprint(r.Flaps)
		if r.Name == "oracle" {
			rev, flaps = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%d\t%.0f\t%.3f%%\t%d\t%s\t%s\t%d\t\n",
			r.Name, r.TaskHours(), vs, r.SecondsOver, r.RequestsOver, r.OverPercent(), r.Actions, rev, flaps, r.PeakTasks)
	}
	return tw.Flush()
}
