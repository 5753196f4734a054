package bench

import (
	"math"
	"slices"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the sample at rank ceil(p/100*n), counting ranks
// from 1. It is always one of the samples. p <= 0 gives the minimum; an
// empty slice gives 0.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// The small epsilon keeps p/100*n from landing just above a whole
	// number through floating-point error (99.9/100*1000 = 999.0000001).
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = max(1, min(rank, n))
	return sorted[rank-1]
}

// Summarize sorts ms in place and summarises it.
func Summarize(ms []float64) Latency {
	if len(ms) == 0 {
		return Latency{}
	}
	slices.Sort(ms)
	sum := 0.0
	for _, v := range ms {
		sum += v
	}
	return Latency{
		Min:  ms[0],
		Mean: sum / float64(len(ms)),
		P50:  Percentile(ms, 50),
		P90:  Percentile(ms, 90),
		P99:  Percentile(ms, 99),
		P999: Percentile(ms, 99.9),
		Max:  ms[len(ms)-1],
	}
}

// median sorts ms in place and returns its nearest-rank 50th percentile.
func median(ms []float64) float64 {
	slices.Sort(ms)
	return Percentile(ms, 50)
}
