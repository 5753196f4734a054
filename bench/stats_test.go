package bench

import (
	"math"
	"testing"
)

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestPercentile(t *testing.T) {
	cases := []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", []float64{7}, 50, 7},
		{"one sample p99.9", []float64{7}, 99.9, 7},
		{"p0 is the minimum", seq(10), 0, 1},
		{"negative p is the minimum", seq(10), -5, 1},
		{"four p25 is rank 1", seq(4), 25, 1},
		{"four p26 is rank 2", seq(4), 26, 2},
		{"four p50 is rank 2 (no interpolation)", seq(4), 50, 2},
		{"four p75 is rank 3", seq(4), 75, 3},
		{"four p76 is rank 4", seq(4), 76, 4},
		{"ten p10", seq(10), 10, 1},
		{"ten p11", seq(10), 11, 2},
		{"ten p50", seq(10), 50, 5},
		{"ten p90", seq(10), 90, 9},
		{"ten p99 rounds up to the max", seq(10), 99, 10},
		{"ten p100", seq(10), 100, 10},
		{"p above 100 is the max", seq(10), 150, 10},
		{"thousand p50", seq(1000), 50, 500},
		{"thousand p99", seq(1000), 99, 990},
		{"thousand p99.9 (no float overshoot)", seq(1000), 99.9, 999},
		{"thousand p99.95", seq(1000), 99.95, 1000},
		{"hundred p99.9 is the max", seq(100), 99.9, 100},
		{"duplicates", []float64{1, 1, 1, 9}, 75, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Percentile(c.sorted, c.p); got != c.want {
				t.Errorf("Percentile(%d samples, %g) = %g, want %g", len(c.sorted), c.p, got, c.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	in := []float64{9, 3, 1, 7, 5, 2, 10, 4, 8, 6} // 1..10, shuffled
	got := Summarize(in)
	want := Latency{Min: 1, Mean: 5.5, P50: 5, P90: 9, P99: 10, P999: 10, Max: 10}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	for i := 1; i < len(in); i++ {
		if in[i-1] > in[i] {
			t.Fatalf("Summarize left its input unsorted: %v", in)
		}
	}
	if z := Summarize(nil); z != (Latency{}) {
		t.Errorf("Summarize(nil) = %+v, want zero", z)
	}
}

func TestPercentileIsAlwaysASample(t *testing.T) {
	s := []float64{0.5, 1.25, 3, 3, 8.75, 100}
	for p := 0.0; p <= 100; p += 0.1 {
		got := Percentile(s, p)
		found := false
		for _, v := range s {
			found = found || v == got
		}
		if !found || math.IsNaN(got) {
			t.Fatalf("Percentile(%g) = %g, not one of the samples", p, got)
		}
	}
}

func TestLogAxis(t *testing.T) {
	for _, c := range []struct{ v, floor, ceil float64 }{
		{1, 1, 1}, {3.7, 2, 5}, {7, 5, 10}, {262, 200, 500}, {1228, 1000, 2000}, {0.04, 0.02, 0.05},
	} {
		if f, cl := niceFloor(c.v), niceCeil(c.v); math.Abs(f-c.floor) > 1e-9*c.floor || math.Abs(cl-c.ceil) > 1e-9*c.ceil {
			t.Errorf("niceFloor/niceCeil(%g) = %g, %g; want %g, %g", c.v, f, cl, c.floor, c.ceil)
		}
	}
	got := logTicks(2, 500)
	want := []float64{2, 5, 10, 20, 50, 100, 200, 500}
	if len(got) != len(want) {
		t.Fatalf("logTicks(2, 500) = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9*want[i] {
			t.Errorf("logTicks(2, 500) = %v, want %v", got, want)
		}
	}
	if got := logTicks(1, 1e5); len(got) != 6 {
		t.Errorf("logTicks over 5 decades = %v, want the 6 powers of ten", got)
	}
}
