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
//     capacity. It sets its own headroom from the traffic's measured
//     volatility and a slow feedback loop on the over-capacity the
//     balancer reports, so it holds the budget on traffic burstier than
//     any it was tuned on, where a fixed target does not (see below).
//     Optional floors by time of day, day of week or event.
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
//     trace's busiest bucket 5,000 req/s, for every trace.
//  2. Choice. Every default is chosen on the training trace only:
//     `go run ./examples/simulate -trace … -heldout 1995-08-23 -tune`
//     replays a grid of settings (MeanWindow, DownDelay, FeedbackTime,
//     HeadroomFactor) and picks the cheapest (task-hours ÷ oracle) whose
//     share of requests over capacity is at most 90% of the 0.5% budget,
//     the margin being for traffic it has not seen. Budget, Startup and
//     Capacity are the user's; VolatilityWindow (30 m) is the issue's.
//  3. Report, once. `make simulate` replays every policy on the training
//     trace, the held-out trace, and two 1-minute traces synthesised from
//     the training trace (sim Trace.Split, seed 1995): "random 1m" places
//     each request of a 5-minute bucket in one of its minutes uniformly at
//     random; "bursty 1m" weights the minutes by log-normal factors whose
//     σ (sim.Burstiness: the spread of the training trace's 5-minute
//     counts about their local trend beyond Poisson noise, 0.228) assumes
//     the traffic is as bursty minute to minute as it is from one 5-minute
//     bucket to the next. No setting was changed after seeing those
//     figures. Goal: under 0.5% of requests over capacity on every trace,
//     at most 1.08× the oracle on the 5-minute traces and 1.5× on the
//     bursty 1-minute trace.
//
// The grid (-tune, 54 settings, 6 minutes on 2 cores) picked MeanWindow
// 30 s, no DownDelay, FeedbackTime 24 h and HeadroomFactor 1: 1.096× the
// oracle with 0.447% over capacity on the training trace. One departure
// from the protocol, for the record: the formula (headroom on top of the
// mean, the last rate as a floor, rather than headroom on top of the
// larger of the two) was settled after exploratory replays that included
// a week of the 1-minute traces; no default was.
//
// Measured once (`make simulate`, 2 s polls, 30 s start-up, 100 req/s per
// task, Min 1, Max 1000), task-hours ÷ oracle and share of requests over
// capacity:
//
//	policy                  training 5m      held-out 5m      random 1m        bursty 1m
//	Budget (0.5%)           1.096  0.447%    1.073  0.452%    1.292  0.422%    1.591  0.449%
//	TargetTracking (90%)    1.142  0.397%    1.139  0.378%    1.251  0.468%    1.372  0.940%
//	HPA-equivalent          1.153  0.481%    1.149  0.449%    1.259  0.645%    1.373  1.368%
//	KPA-equivalent          1.093  0.605%    1.094  0.549%    1.072  2.623%    1.058  6.897%
//	marathon-lb-autoscale   1.094  4.050%    1.106  3.448%    1.066  5.300%    1.040  7.762%
//
// Budget holds the budget on every trace; no other policy does.
// TargetTracking, tuned on this 5-minute trace, lets 0.94% through on the
// bursty one. The cost goals are partly missed: 1.073× on the held-out
// trace meets the 1.08× goal, but 1.096× on the training trace misses it
// by 0.016, and 1.591× on the bursty trace misses the 1.5× goal by 0.091
// (6%). The feedback loop takes days to move from its starting factor:
// on the first week of the bursty trace 0.556% of requests are over
// capacity (0.663% on days 1–3, 0.491% on days 4–7; TestBudgetGoalsOnSlices
// in scaler/sim checks those slices).
package scaler
