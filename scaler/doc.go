// Package scaler decides how many web-server tasks the farm runs.
//
// A [Policy] decides: observations and the current count in, a desired
// count and a human-readable reason out. Policies do no I/O and read no
// clock (time comes in with each [Input]), so they are table-tested and
// replayed by the simulator in scaler/sim. A [Controller] does the I/O: it
// polls an [lb.Balancer], turns counters into rates with an [lb.Meter],
// reads any further [MetricSource], asks the Policy, and tells a [Runner]
// (the Mesos scheduler, or one of its services) how many tasks to run.
//
//	policy, err := scaler.NewTargetTracking(scaler.TargetTrackingConfig{
//		RequestsPerTask: 150, // req/s per ready task
//		Min:             2, Max: 40,
//	})
//	if err != nil { ... }
//	c := &scaler.Controller{Balancer: b, Policy: policy, Runner: sched,
//		OnDecision: func(r scaler.Report) { log.Print(r.Decision) }}
//	err = c.Run(ctx) // until ctx is done
//
// A decision reads like "rps 812 (1m0s avg) over 4 ready tasks, target
// 150/task → 6".
//
// # Policies
//
//   - [TargetTracking] is the one to use: RequestsPerTask (requests per
//     second per ready task) and any other [Signal] with its ValuePerTask
//     (queue length, requests in flight, CPU, response time; the largest
//     recommendation wins), a stable and a panic window, a tolerance band,
//     scale-down stabilization, per-direction rate limits, and the safety
//     rules below.
//   - [Budget] is for users who would rather state how much over-capacity
//     they accept than a utilisation target: a budget (0.5% of requests
//     may arrive while the ready capacity is exceeded) and a per-task
//     capacity. It sets its own headroom: alongside the farm it replays
//     every level (the last rate, or a mean over minutes to an hour) and
//     headroom (a share of the level, or a multiple of the rate's measured
//     rise over the start-up time) on the traffic it has seen, and runs
//     the cheapest setting that would have kept within the budget; the
//     over-capacity the balancer reports tightens its aim when the replay
//     falls short. So it holds the budget on traffic burstier than any it
//     was tuned on, where a fixed target does not (see below). Optional
//     floors by time of day, day of week or event.
//   - [Step] is for users who want explicit threshold rules, as AWS step
//     scaling and the original Mesos framework had them.
//
// Package scaler/baseline reimplements the Kubernetes HPA, the Knative pod
// autoscaler and marathon-lb-autoscale, for the simulator to compare with.
//
// # Safety rules
//
// Every policy here holds the count when there is no data, and never
// returns a count outside [Min, Max] or panics, whatever the input (NaN,
// ±Inf, negative or huge figures; FuzzPolicies in scaler/baseline checks
// them and the baselines). TargetTracking also holds on a sample older
// than MaxAge, never scales down on a degraded input (a failed
// [MetricSource]) or while panicking, leaves starting tasks out of
// per-task figures, and after a start or restart waits a full
// stable window of samples before any scale-down. The Controller never
// scales to zero on a balancer error, and can raise the count to a
// Fallback after a number of failed polls.
//
// # Evaluation protocol
//
// The defaults of [TargetTrackingConfig] were tuned on the whole NASA-HTTP
// 1995 trace (5-minute buckets) scaled to a 5,000 req/s peak with 30 s
// task start-up and 100 req/s per task: with a target of 90% of a task's
// capacity it ran 14.1% more task-seconds than an oracle that knows the
// future, with 0.39% of requests over capacity. Those figures are not an
// evaluation: they were measured on the data the defaults were tuned on.
//
// [Budget]'s defaults follow a stricter protocol, written here so the
// figures can be checked:
//
//  1. Data. The 5-minute NASA trace (/work/shared/traces, timestamps in
//     UTC−4) is cut at 1995-08-23 00:00 of its own zone: 1 July to 22
//     August is the training trace, 23 to 31 August the held-out trace.
//     Rates are scaled by one factor, the one that makes the training
//     trace's busiest bucket 5,000 req/s, for every trace. 1-minute traces
//     are synthesised by sim Trace.Split: "random" places each request of
//     a 5-minute bucket in one of its minutes uniformly at random;
//     "bursty" weights the minutes by log-normal factors whose σ
//     (sim.Burstiness: the spread of the training trace's 5-minute counts
//     about their local trend beyond Poisson noise, 0.228) assumes the
//     traffic is as bursty minute to minute as it is from one 5-minute
//     bucket to the next.
//  2. Development. The design (the replay, the level windows, the two
//     headroom units, the grid of factors) was worked out on the training
//     trace and on 1-minute traces synthesised from it with a development
//     seed (7), never with the report's seed (1995) and never on the
//     held-out days. For the record: this design replaced one whose
//     report (below, "before") missed two cost goals, so the report's
//     training-derived 1-minute traces had been seen once before; the
//     held-out 1-minute traces had not.
//  3. Choice. The defaults Margin, Hindsight and DownDelay are chosen on
//     the training trace only: `go run ./examples/simulate -trace …
//     -heldout 1995-08-23 -tune` replays a grid of 24 settings (Margin
//     0.7, 0.8, 0.9, 1; Hindsight 12 h, 24 h, 72 h; DownDelay none or 1
//     minute) and picks the cheapest (task-hours ÷ oracle) whose share of
//     requests over capacity is at most 90% of the 0.5% budget, the
//     margin being for traffic it has not seen. It picked Margin 0.9,
//     Hindsight 72 h, no DownDelay: 1.068× the oracle with 0.440% over
//     capacity (2 to 5 minutes on 2 cores). Budget, Startup and Capacity are
//     the user's; VolatilityWindow (30 m) is the issue's; Warmup (1 h)
//     and InitialHeadroom (0.3) were set before any replay and not tuned.
//  4. Report, once. `make simulate` replays every policy on the training
//     trace, the held-out trace, the random and bursty 1-minute traces
//     synthesised from the training trace (seed 1995), and the same two
//     syntheses of the held-out trace (seed 1995, the training trace's
//     σ): 1-minute traffic that no step above saw. No setting was changed
//     after seeing these figures. Goal: under 0.5% of requests over
//     capacity on every trace, at most 1.08× the oracle on the 5-minute
//     traces and 1.5× on the bursty 1-minute traces.
//
// One break of "once", for the record. The first report of this design
// used factors interpolated between the grid's points (a grid of ratio
// 1.5): 1.067× 0.446%, 1.062× 0.430%, 1.227× 0.441%, 1.459× 0.435%,
// 1.226× 0.425%, 1.475× 0.349% on the six traces below. A unit test then
// showed that with few tasks an interpolated factor can run the very
// counts of a setting that failed in hindsight (whole tasks make the
// share over a step function of the factor). The fix — only factors the
// replay has checked, on a finer grid (ratio 1.2) — was chosen on the
// development traces, the grid of step 3 was replayed again (same pick),
// and the report below is the second and last run.
//
// Measured (`make simulate`, 2 s polls, 30 s start-up, 100 req/s per
// task, Min 1, Max 1000; 40 s to 100 s on 2 cores), task-hours ÷ oracle
// and share of requests over capacity:
//
//	                        training 5m      held-out 5m      random 1m        bursty 1m        held-out         held-out
//	policy                                                                                      random 1m        bursty 1m
//	Budget (0.5%)           1.068  0.440%    1.062  0.429%    1.247  0.409%    1.475  0.407%    1.250  0.413%    1.493  0.323%
//	TargetTracking (90%)    1.142  0.397%    1.139  0.378%    1.251  0.468%    1.372  0.940%    1.250  0.448%    1.368  0.876%
//	HPA-equivalent          1.153  0.481%    1.149  0.449%    1.259  0.645%    1.373  1.368%    1.259  0.609%    1.368  1.288%
//	KPA-equivalent          1.093  0.605%    1.094  0.549%    1.072  2.623%    1.058  6.897%    1.074  2.576%    1.058  6.763%
//	marathon-lb-autoscale   1.094  4.050%    1.106  3.448%    1.066  5.300%    1.040  7.762%    1.070  4.822%    1.045  7.245%
//
// Budget meets every goal: under 0.5% on every trace (the only policy
// that is), 1.068× and 1.062× on the 5-minute traces, 1.475× and 1.493×
// on the bursty ones (the held-out one within 0.007 of the goal).
// TargetTracking, tuned on this 5-minute trace, lets 0.94% and 0.88%
// through on the bursty ones. Budget changes the count less often than
// TargetTracking on the bursty trace (15,460 vs 22,556 actions), more
// often on the random one (21,085 vs 16,081), and reverses itself within
// two minutes more often (5,832 vs 1,960 on the bursty trace): it follows
// the rate down at once, where TargetTracking waits out its
// stabilization. A DownDelay trades task-hours for fewer reversals; the
// grid's 1-minute DownDelay cost 0.011× on the training trace.
//
// Before (the first Budget: headroom = a factor × the volatility on a
// 30 s mean, the factor set by a 24 h feedback loop on the farm's own
// over-capacity): 1.096× 0.447%, 1.073× 0.452%, 1.292× 0.422%, 1.591×
// 0.449% on the first four traces, changing the count 91,000 and 157,000
// times on the 1-minute ones, and 0.556% over in the first week of the
// bursty one while the loop settled. The replay needs no settling: the
// first week of a cold start is within the goals (TestBudgetGoalsOnSlices
// in scaler/sim, on the development seed).
package scaler
