// Package stats is the arithmetic of the capacity tools (scripts/loadtest,
// scripts/workerbench): latency percentiles and medians.
//
// Percentiles use the nearest-rank convention: the p-th percentile of n
// samples is the sample of rank ⌈p·n⌉ (1-based) in ascending order, so at
// least a share p of the samples is at or below it and the value is always
// one that was measured (no interpolation). p ≤ 0 gives the smallest sample.
package stats

import (
	"math"
	"slices"
	"time"
)

// Latency summarises latencies in milliseconds.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Rank is the 1-based nearest rank ⌈p·n⌉ of the p-th percentile (0 ≤ p ≤ 1)
// among n samples, clamped to [1, n]; 0 when n is 0.
func Rank(p float64, n int) int {
	if n <= 0 {
		return 0
	}
	// The tolerance keeps a product that float arithmetic puts a hair above
	// an integer (0.07·100 = 7.000000000000001) from moving up one rank.
	r := int(math.Ceil(p*float64(n) - 1e-9))
	return min(max(r, 1), n)
}

// Percentile is the p-th percentile of samples sorted in ascending order;
// 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[Rank(p, len(sorted))-1]
}

// Latencies sorts d in place and summarises it; all zero when d is empty.
func Latencies(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	pct := func(p float64) float64 { return Millis(Percentile(d, p)) }
	return Latency{Mean: Millis(sum / time.Duration(len(d))), P50: pct(0.50), P90: pct(0.90), P95: pct(0.95),
		P99: pct(0.99), Max: Millis(d[len(d)-1])}
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Median of x (the mean of the middle two for an even count); 0 when x is
// empty. x is not modified.
func Median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
