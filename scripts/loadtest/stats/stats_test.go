package stats

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ms builds latencies from whole milliseconds.
func ms(xs ...int) []time.Duration {
	out := make([]time.Duration, len(xs))
	for i, x := range xs {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// oneTo returns 1, 2, ..., n ms, shuffled: a known distribution in which the
// sample of rank k is k ms.
func oneTo(n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(n, func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

func TestLatencies(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{"empty: all zero", nil, Latency{}},
		{"one sample is every percentile", ms(7), Latency{Mean: 7, P50: 7, P90: 7, P95: 7, P99: 7, Max: 7}},
		{"two samples: p50 is the lower one", ms(10, 20), Latency{Mean: 15, P50: 10, P90: 20, P95: 20, P99: 20, Max: 20}},
		{"unsorted input is sorted first", ms(5, 1, 4, 2, 3), Latency{Mean: 3, P50: 3, P90: 5, P95: 5, P99: 5, Max: 5}},
		{"1..10 ms", oneTo(10), Latency{Mean: 5.5, P50: 5, P90: 9, P95: 10, P99: 10, Max: 10}},
		{"1..100 ms: the k-th percentile is k ms", oneTo(100), Latency{Mean: 50.5, P50: 50, P90: 90, P95: 95, P99: 99, Max: 100}},
		// ⌈0.99·160⌉ = 159: the 1.25 % slowest are above p99, 98.75 % is
		// not enough. Rounding the rank (158) reported a p99 that only
		// 158 of 160 requests met.
		{"1..160 ms: ranks round up", oneTo(160), Latency{Mean: 80.5, P50: 80, P90: 144, P95: 152, P99: 159, Max: 160}},
		// ⌈0.9·7⌉ = 7, not round(6.3) = 6.
		{"1..7 ms: p90 is the slowest", oneTo(7), Latency{Mean: 4, P50: 4, P90: 7, P95: 7, P99: 7, Max: 7}},
		{"ties", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 50), Latency{Mean: 5.9, P50: 1, P90: 1, P95: 50, P99: 50, Max: 50}},
		{"one slow outlier in 1,000 stays out of p99, shows in max",
			append(slices.Repeat(ms(2), 999), 3*time.Second), Latency{Mean: 4.998, P50: 2, P90: 2, P95: 2, P99: 2, Max: 3000}},
		{"sub-millisecond, to the microsecond", []time.Duration{1500 * time.Nanosecond, 2500 * time.Microsecond},
			Latency{Mean: 1.25, P50: 0.001, P90: 2.5, P95: 2.5, P99: 2.5, Max: 2.5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Latencies(tc.in); got != tc.want {
				t.Errorf("Latencies = %+v\nwant         %+v", got, tc.want)
			}
		})
	}
}

// A p-th percentile must have at least a share p of the samples at or below
// it, and be the smallest sample that does: checked against integer
// arithmetic for every sample count up to 5,000 at the percentiles the
// reports show, so no float rounding moves a rank.
func TestRankIsNearestRank(t *testing.T) {
	for _, pct := range []int{1, 7, 50, 90, 95, 99, 100} {
		p := float64(pct) / 100
		for n := 1; n <= 5000; n++ {
			want := (pct*n + 99) / 100 // ⌈pct·n/100⌉
			if got := Rank(p, n); got != want {
				t.Fatalf("Rank(%v, %d) = %d, want %d", p, n, got, want)
			}
		}
	}
}

func TestRankEdges(t *testing.T) {
	for _, tc := range []struct {
		p       float64
		n, want int
	}{
		{0.99, 0, 0}, {0, 10, 1}, {-1, 10, 1}, {1, 10, 10}, {2, 10, 10}, {0.5, 1, 1},
	} {
		if got := Rank(tc.p, tc.n); got != tc.want {
			t.Errorf("Rank(%v, %d) = %d, want %d", tc.p, tc.n, got, tc.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{9.05}, 9.05},
		{[]float64{9.26, 9.05, 9.5}, 9.26},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := slices.Clone(tc.in)
		if got := Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Median reordered its input: %v", in)
		}
	}
}
