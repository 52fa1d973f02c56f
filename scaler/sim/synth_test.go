package sim_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webfarm/webfarm/scaler/sim"
)

func TestCut(t *testing.T) {
	tr := sim.Trace{Start: time.Unix(0, 0), Step: time.Minute, Rates: []float64{1, 2, 3, 4}}
	tests := []struct {
		at          time.Duration
		before, at0 int
	}{
		{-time.Hour, 0, 4}, {0, 0, 4}, {time.Minute, 1, 3}, {90 * time.Second, 2, 2}, {4 * time.Minute, 4, 0}, {time.Hour, 4, 0},
	}
	for _, tc := range tests {
		b, a := tr.Cut(tr.Start.Add(tc.at))
		if len(b.Rates) != tc.before || len(a.Rates) != tc.at0 {
			t.Errorf("Cut(+%s) = %d and %d buckets, want %d and %d", tc.at, len(b.Rates), len(a.Rates), tc.before, tc.at0)
		}
		if len(a.Rates) > 0 && !a.Start.Equal(tr.Start.Add(time.Duration(tc.before)*time.Minute)) {
			t.Errorf("Cut(+%s): second part starts at %s", tc.at, a.Start)
		}
	}
}

// lognormal returns a trace of n 5-minute buckets of about mean requests
// each, times exp(sigma × Z), with Poisson noise.
func lognormal(n int, mean, sigma float64, seed uint64) sim.Trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	tr := sim.Trace{Step: 5 * time.Minute}
	for i := range n {
		trend := mean * (1 + 0.5*math.Sin(float64(i)/40))
		lambda := trend * math.Exp(sigma*rng.NormFloat64()-sigma*sigma/2)
		// Poisson by normal approximation, fine for large lambda.
		c := math.Max(1, math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64()))
		tr.Rates = append(tr.Rates, c/300)
	}
	return tr
}

func TestBurstiness(t *testing.T) {
	for _, sigma := range []float64{0, 0.1, 0.25} {
		got, err := sim.Burstiness(lognormal(20000, 400, sigma, 7))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-sigma) > 0.02 {
			t.Errorf("Burstiness of log-normal factors with σ %v and Poisson counts = %.3f", sigma, got)
		}
	}
	if _, err := sim.Burstiness(sim.Trace{Step: time.Minute, Rates: []float64{1, math.NaN(), 1}}); err == nil {
		t.Error("Burstiness of a trace without a usable bucket succeeded")
	}
}

func TestSplit(t *testing.T) {
	tr := sim.Trace{Start: time.Unix(0, 0), Step: 5 * time.Minute, Rates: []float64{2, math.NaN(), 0, 10}}
	for _, sigma := range []float64{0, 0.25} {
		a, err := tr.Split(5, sigma, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := tr.Split(5, sigma, 1)
		c, _ := tr.Split(5, sigma, 2)
		if a.Step != time.Minute || len(a.Rates) != 20 || !a.Start.Equal(tr.Start) {
			t.Fatalf("σ %v: split = step %s, %d buckets from %s", sigma, a.Step, len(a.Rates), a.Start)
		}
		if !slices.EqualFunc(a.Rates, b.Rates, func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }) {
			t.Errorf("σ %v: the same seed gave %v and %v", sigma, a.Rates, b.Rates)
		}
		if slices.Equal(a.Rates[15:], c.Rates[15:]) {
			t.Errorf("σ %v: seeds 1 and 2 gave the same split %v", sigma, a.Rates[15:])
		}
		for i, want := range []float64{600, math.NaN(), 0, 3000} {
			sum := 0.0
			for _, r := range a.Rates[5*i : 5*i+5] {
				sum += r * 60
			}
			if sum != want && !(math.IsNaN(want) && math.IsNaN(sum)) {
				t.Errorf("σ %v: bucket %d split into %v requests, want %v", sigma, i, sum, want)
			}
		}
	}
	// The random split is a multinomial: 1,000 requests into 5 minutes have
	// a standard deviation of √(1000 × 0.2 × 0.8) ≈ 12.6 per minute; bursts
	// with σ 0.25 spread much more.
	big := sim.Trace{Step: 5 * time.Minute, Rates: slices.Repeat([]float64{1000.0 / 300}, 2000)}
	for _, tc := range []struct {
		sigma  float64
		lo, hi float64
	}{{0, 11.5, 13.8}, {0.25, 45, 60}} {
		s, err := big.Split(5, tc.sigma, 3)
		if err != nil {
			t.Fatal(err)
		}
		var sq float64
		for _, r := range s.Rates {
			sq += (r*60 - 200) * (r*60 - 200)
		}
		if sd := math.Sqrt(sq / float64(len(s.Rates))); sd < tc.lo || sd > tc.hi {
			t.Errorf("σ %v: per-minute standard deviation %.1f, want in [%v, %v]", tc.sigma, sd, tc.lo, tc.hi)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	tr := sim.Trace{Step: 5 * time.Minute, Rates: []float64{1}}
	tests := []struct {
		name  string
		tr    sim.Trace
		parts int
		sigma float64
		want  string
	}{
		{"no parts", tr, 0, 0, "0 parts"},
		{"uneven", tr, 7, 0, "does not split into 7"},
		{"NaN sigma", tr, 5, math.NaN(), "sigma NaN"},
		{"negative sigma", tr, 5, -1, "sigma -1"},
		{"scaled trace", sim.Trace{Step: 5 * time.Minute, Rates: []float64{1e9}}, 5, 0, "too many"},
		{"bad trace", sim.Trace{Step: time.Minute}, 5, 0, "no buckets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.tr.Split(tc.parts, tc.sigma, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Split = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}
