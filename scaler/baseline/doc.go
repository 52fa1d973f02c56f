// Package baseline reimplements other autoscalers' rules as
// [scaler.Policy] values, from their documented algorithms, so the
// simulator in scaler/sim can compare webfarm's policies with them:
//
//   - [HPA]: the Kubernetes Horizontal Pod Autoscaler on a pods metric
//     (requests per second), with its default behavior.
//   - [KPA]: the Knative Serving pod autoscaler on requests per second.
//   - [MarathonLB]: marathon-lb-autoscale's rule (autoscale.rb).
//
// Each takes RequestsPerTask, the request rate per task (pod, instance)
// it aims at, and otherwise defaults to its original's settings. They are
// here to be beaten in the simulator; use [scaler.TargetTracking] or
// [scaler.Budget] in production. Unlike those, a baseline follows its
// original where the original scales down without data.
//
//	p, err := baseline.NewHPA(baseline.HPAConfig{RequestsPerTask: 90, Min: 1})
package baseline
