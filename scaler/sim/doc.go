// Package sim replays a request trace through a [scaler.Policy] and says
// what it cost and how well it served, next to an oracle that knows the
// future.
//
//	tr, err := sim.LoadCSV("../shared/traces/nasa-http-1995-5m.csv")
//	if err != nil { ... }
//	tr, err = tr.ScaleToPeak(5000) // busiest bucket → 5,000 req/s
//	cfg := sim.Config{Capacity: 100, Startup: 30 * time.Second, Min: 1}
//	p, _ := scaler.NewTargetTracking(scaler.TargetTrackingConfig{RequestsPerTask: 90, Min: 1})
//	res, err := sim.Run(ctx, tr, p, cfg)
//	orc, err := sim.Oracle(ctx, tr, cfg)
//	fmt.Printf("%.1f%% over the oracle, %.3f%% of requests over capacity\n",
//		100*(res.TaskSeconds/orc.TaskSeconds-1), res.OverPercent())
//
// # The model
//
// Time runs in whole seconds. Each trace bucket's rate is spread evenly
// over its seconds. Every Config.Poll the policy gets the mean rate of the
// seconds since the previous poll, the count in force and the tasks ready
// and starting, as scaler.Controller would give it; its decision applies
// at once. A launched task costs from launch but serves only after
// Config.Startup; a removed task stops at once (starting ones first). A
// ready task serves Config.Capacity requests per second; what goes beyond
// the ready tasks' capacity in a second is "over capacity", the SLO
// violation. Buckets of unknown demand (NaN) are left out of every figure,
// and the policy sees no data while they last.
//
// Besides cost (task-seconds) and SLO (requests and seconds over
// capacity), a [Result] counts scaling actions, reversals (an action that
// undoes the previous one within [FlapWindow]) and flaps (a reversal with
// no change in demand in between: the policy oscillating on its own).
//
// The oracle runs exactly ⌈rate/Capacity⌉ tasks (within Min and Max),
// launching each Startup before it is needed, and keeps a task idle rather
// than relaunching it when it is needed again within Startup: the least
// task-seconds that never run over capacity.
//
// [Compare] replays several policies and the oracle; [WriteTable] prints
// them. examples/simulate is the command (`make simulate`).
package sim
