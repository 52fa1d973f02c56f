package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Cut returns the buckets of t that start before at, and those that start
// at or after it.
func (t Trace) Cut(at time.Time) (before, after Trace) {
	i := 0
	if d := at.Sub(t.Start); d > 0 && t.Step > 0 {
		i = int(min((d+t.Step-1)/t.Step, time.Duration(len(t.Rates))))
	}
	return t.Slice(0, i), t.Slice(i, len(t.Rates))
}

// Burstiness measures how bursty a trace is beyond chance: the standard
// deviation σ of a log-normal factor on each bucket's count that, together
// with Poisson noise, gives the spread of the trace's counts about their
// local trend.
//
// For each known bucket i with known, non-zero neighbours it takes the
// residual rᵢ = ln cᵢ − (ln cᵢ₋₁ + ln cᵢ₊₁)/2 of its count about the
// geometric mean of its neighbours (which removes a locally linear
// trend). Independent factors of variance σ² give Var(r) = 1.5 σ², and
// Poisson counts add about 1/cᵢ to the variance of ln cᵢ, so
//
//	σ² = Var(r)/1.5 − mean(1/cᵢ)
//
// (0 when negative). Counts are rate × Step; the trace must not be scaled.
func Burstiness(t Trace) (float64, error) {
	if err := t.Validate(); err != nil {
		return 0, err
	}
	sec := t.Step.Seconds()
	var sum, sumSq, poisson float64
	n := 0
	for i := 1; i+1 < len(t.Rates); i++ {
		a, b, c := t.Rates[i-1]*sec, t.Rates[i]*sec, t.Rates[i+1]*sec
		if !(a > 0 && b > 0 && c > 0) { // NaN or zero
			continue
		}
		r := math.Log(b) - (math.Log(a)+math.Log(c))/2
		sum += r
		sumSq += r * r
		poisson += 1 / b
		n++
	}
	if n < 2 {
		return 0, errors.New("sim: burstiness needs at least two known buckets with known neighbours")
	}
	mean := sum / float64(n)
	v := (sumSq/float64(n) - mean*mean) / 1.5
	return math.Sqrt(max(0, v-poisson/float64(n))), nil
}

// Split returns a trace of parts buckets for each bucket of t (the step
// divided by parts) with the same requests, placed at random: each of a
// bucket's requests (rate × Step, rounded) lands in sub-bucket j with
// probability wⱼ. With sigma 0 the wⱼ are equal (a random split: Poisson-
// like noise only); otherwise each wⱼ is proportional to exp(sigma × Zⱼ)
// with Zⱼ standard normal, drawn afresh for each bucket (bursts: some
// sub-buckets get much more than others; [Burstiness] measures a sigma
// from a trace). Unknown buckets stay unknown. The same seed gives the same
// trace.
func (t Trace) Split(parts int, sigma float64, seed uint64) (Trace, error) {
	if err := t.Validate(); err != nil {
		return Trace{}, err
	}
	switch {
	case parts < 1:
		return Trace{}, fmt.Errorf("sim: split into %d parts; want ≥ 1", parts)
	case t.Step%(time.Duration(parts)*time.Second) != 0:
		return Trace{}, fmt.Errorf("sim: step %s does not split into %d whole seconds", t.Step, parts)
	case len(t.Rates)*parts > 1<<24:
		return Trace{}, fmt.Errorf("sim: split trace would have more than %d buckets", 1<<24)
	case math.IsNaN(sigma) || sigma < 0 || sigma > 10:
		return Trace{}, fmt.Errorf("sim: sigma %v must be in [0, 10]", sigma)
	}
	var requests float64
	for _, r := range t.Rates {
		if !math.IsNaN(r) {
			requests += math.Round(r * t.Step.Seconds())
		}
	}
	if requests > 1<<32 {
		return Trace{}, fmt.Errorf("sim: split places each request; %.3g requests are too many (split the trace before scaling it)", requests)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	sec := t.Step.Seconds()
	sub := t.Step / time.Duration(parts)
	out := Trace{Start: t.Start, Step: sub, Rates: make([]float64, 0, len(t.Rates)*parts)}
	cum := make([]float64, parts)
	counts := make([]float64, parts)
	for _, r := range t.Rates {
		if math.IsNaN(r) {
			for range parts {
				out.Rates = append(out.Rates, math.NaN())
			}
			continue
		}
		total := 0.0
		for j := range cum {
			w := 1.0
			if sigma > 0 {
				w = math.Exp(sigma * rng.NormFloat64())
			}
			total += w
			cum[j] = total
		}
		clear(counts)
		n := int(math.Round(r * sec))
		for range n {
			x := rng.Float64() * total
			j := 0
			for j < parts-1 && cum[j] <= x {
				j++
			}
			counts[j]++
		}
		for _, c := range counts {
			out.Rates = append(out.Rates, c/sub.Seconds())
		}
	}
	return out, nil
}
