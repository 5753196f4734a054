package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tokenBucket admits rate requests per second with bursts of burst.
type tokenBucket struct {
	mu          sync.Mutex
	rate, burst float64
	tokens      float64
	last        time.Time
}

func (b *tokenBucket) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// answerWithCPU answers a built-in program right and reports cpuMs of
// CPU time, as the daemon does.
func answerWithCPU(w http.ResponseWriter, req Request, cpuMs float64) {
	exit := 0
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Response{
		ExecutionID: "x", Status: "success", Stdout: rightStdout(req), ExitCode: &exit, CPUTimeMs: cpuMs,
		Timing: &Timing{RunMs: 0.1, TotalMs: 0.2},
	})
}

// TestSweepAccounting sweeps two rates over three targets: one that
// always answers, one that answers up to 40 requests per second and
// refuses the rest with 503, and one that never answers in time. Each
// daemon reports a CPU time that puts the ceiling at 40 requests per
// second.
func TestSweepAccounting(t *testing.T) {
	const ceiling = 40.0
	cpuMs := float64(runtime.NumCPU()) * 1000 / ceiling
	fast := newFakeDaemon(t, func(f *fakeDaemon) {
		f.answer = func(w http.ResponseWriter, req Request) { answerWithCPU(w, req, cpuMs) }
	})
	// The burst covers a whole step at 20/s (2 warm-up and 6 measured
	// requests), so timer jitter cannot turn one into a 503.
	bucket := &tokenBucket{rate: 40, burst: 12}
	limited := newFakeDaemon(t, func(f *fakeDaemon) {
		f.answer = func(w http.ResponseWriter, req Request) {
			if !bucket.take() {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":{"code":"capacity","message":"no sandbox free"}}`))
				return
			}
			answerWithCPU(w, req, cpuMs)
		}
	})
	newTarget := func(name, url string) Target {
		h, err := NewHTTP(name, url, "", 64)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.Close)
		return h
	}
	targets := []Target{newTarget("fast", fast.URL), newTarget("limited", limited.URL), sleepTarget("slow", time.Minute, nil)}
	rates := []float64{20, 200}
	var progress bytes.Buffer
	cfg := Config{Model: Open, Rate: 10, Rates: rates, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond,
		Timeout: 250 * time.Millisecond, Seed: 5, Baseline: "cold", Progress: &lockedWriter{w: &progress}}
	rep, err := Run(context.Background(), cfg, targets, []Scenario{mustBuiltin(t, "hello", "python")})
	if err != nil {
		t.Fatal(err)
	}
	sw := rep.Sweep
	if sw == nil || len(rep.Results) != 0 || len(rep.Comparisons) != 0 || rep.Settings.RatePerS != 0 || rep.Settings.Model != Open {
		t.Fatalf("sweep %v, %d results, %d comparisons; want a sweep alone", sw, len(rep.Results), len(rep.Comparisons))
	}
	if len(sw.Points) != 6 {
		t.Fatalf("got %d points, want 6 (3 targets x 2 rates)", len(sw.Points))
	}
	var steps []int
	for i, p := range sw.Points {
		name := p.Target + "@" + fmtRate(p.OfferedPerS)
		steps = append(steps, p.Step)
		if want := targets[i/2].Name(); p.Target != want || p.OfferedPerS != rates[i%2] {
			t.Errorf("point %d is %s, want %s@%g (by target, then rate)", i, name, want, rates[i%2])
		}
		// 300 ms at the rate, to the request.
		if want := int(math.Round(p.OfferedPerS * 0.3)); p.Sent != want {
			t.Errorf("%s: sent %d, want %d", name, p.Sent, want)
		}
		errs := 0
		for _, n := range p.Errors {
			errs += n
		}
		if p.OK+errs != p.Sent || p.Errored() != errs {
			t.Errorf("%s: ok %d + errors %v != sent %d", name, p.OK, p.Errors, p.Sent)
		}
		if p.MeasuredS < float64(p.Sent)/p.OfferedPerS-1e-9 {
			t.Errorf("%s: measured %g s, shorter than the %d requests took to offer", name, p.MeasuredS, p.Sent)
		}
		if math.Abs(p.ServedPerS-float64(p.OK)/p.MeasuredS) > 1e-9 || p.ServedPerS > p.OfferedPerS+1e-9 {
			t.Errorf("%s: served %g/s; want ok %d / measured %g s, at most the offered rate", name, p.ServedPerS, p.OK, p.MeasuredS)
		}
		if wantShare := p.OfferedPerS / ceiling; math.Abs(p.CeilingShare-wantShare) > 1e-6 || p.AboveMark != (wantShare > 0.6) {
			t.Errorf("%s: ceiling share %g, above mark %v; want %g, %v", name, p.CeilingShare, p.AboveMark, wantShare, wantShare > 0.6)
		}
		switch p.Target {
		case "fast":
			if p.OK != p.Sent || p.LatencyMs.P50 <= 0 || p.LatencyMs.P99 > p.LatencyMs.Max {
				t.Errorf("%s: ok %d of %d, latency %+v; want every request right", name, p.OK, p.Sent, p.LatencyMs)
			}
		case "limited":
			if p.OfferedPerS == 20 && p.OK != p.Sent {
				t.Errorf("%s: ok %d of %d (errors %v); want all right below the limit", name, p.OK, p.Sent, p.Errors)
			}
			if p.OfferedPerS == 200 {
				if p.Errors["http_503"] == 0 || p.OK == 0 || p.OK+p.Errors["http_503"] != p.Sent {
					t.Errorf("%s: ok %d, errors %v of %d; want right answers and 503s only", name, p.OK, p.Errors, p.Sent)
				}
				// The bucket admits at most 12 + 40/s, 80/s over 300 ms:
				// far below the offered 200/s.
				if p.ServedPerS >= p.OfferedPerS/2 {
					t.Errorf("%s: served %g/s; want less than half the offered rate", name, p.ServedPerS)
				}
				if !strings.Contains(p.ErrorExamples["http_503"], "capacity") {
					t.Errorf("%s: 503 example %q lacks the API's code", name, p.ErrorExamples["http_503"])
				}
			}
		case "slow":
			if p.OK != 0 || p.Errors[KindTimeout] != p.Sent || p.ServedPerS != 0 || p.LatencyMs != (Latency{}) {
				t.Errorf("%s: ok %d, errors %v, served %g, latency %+v; want every request timed out", name, p.OK, p.Errors, p.ServedPerS, p.LatencyMs)
			}
		}
	}
	slices.Sort(steps)
	if !slices.Equal(steps, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("steps %v, want 1 to 6 once each", steps)
	}

	if len(sw.Ceilings) != 1 {
		t.Fatalf("got %d ceilings, want 1", len(sw.Ceilings))
	}
	c := sw.Ceilings[0]
	// Warm-up answers with a CPU time: fast 2 + 20, limited at most as
	// many; slow reports none.
	if math.Abs(c.PerS-ceiling) > 1e-6 || c.Cores != runtime.NumCPU() || c.From != "warm-up" || c.Samples < 22 || c.Samples > 44 ||
		c.Language != "python" || c.Scenario != "python/hello" {
		t.Errorf("ceiling %+v; want %g/s from 22 to 44 warm-up answers of python/hello", c, ceiling)
	}
	if len(c.ByTargetMs) != 2 || c.ByTargetMs["fast"] != cpuMs || c.ByTargetMs["limited"] != cpuMs {
		t.Errorf("CPU time by target %v; want fast and limited at %g ms", c.ByTargetMs, cpuMs)
	}
	if rep.WrongOutputs() != 0 {
		t.Errorf("%d wrong outputs, want 0", rep.WrongOutputs())
	}
	for _, want := range []string{"rate sweep: 6 steps", "python/hello 200/s limited", "done in"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}

	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rate sweep over 20,200 requests/s", "python/hello: ceiling 40 requests/s",
		"ok/sent", " 20  ", "200*", "6/6", "http_503:", "timeout:60", "first http_503 on limited"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sweep struct {
			Rates    []float64        `json:"rates_per_s"`
			Cores    int              `json:"cores"`
			Ceilings []map[string]any `json:"ceilings"`
			Points   []map[string]any `json:"points"`
		} `json:"sweep"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(doc.Sweep.Rates, rates) || doc.Sweep.Cores != runtime.NumCPU() || len(doc.Sweep.Points) != 6 || len(doc.Sweep.Ceilings) != 1 {
		t.Fatalf("JSON sweep section %+v", doc.Sweep)
	}
	for _, k := range []string{"scenario", "target", "offered_per_s", "served_per_s", "sent", "ok", "errors", "latency_ms", "above_mark"} {
		if _, ok := doc.Sweep.Points[0][k]; !ok {
			t.Errorf("JSON point lacks %q: %v", k, doc.Sweep.Points[0])
		}
	}
	if v, _ := doc.Sweep.Ceilings[0]["per_s"].(float64); math.Abs(v-ceiling) > 1e-6 {
		t.Errorf("JSON ceiling per_s = %v, want %g", doc.Sweep.Ceilings[0]["per_s"], ceiling)
	}
}

// lockedWriter lets the progress goroutine and the test share a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSweepRefusesMultiLanguageScenarios(t *testing.T) {
	mix, err := Mix([]string{"python", "node"}, DefaultMix)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Model: Open, Rates: []float64{5}, Duration: time.Second}
	_, err = Run(context.Background(), cfg, []Target{sleepTarget("a", 0, nil)}, []Scenario{mix})
	if err == nil || !strings.Contains(err.Error(), "one language") {
		t.Errorf("Run(sweep over mix) = %v, want an error about one language per scenario", err)
	}
}

// TestSweepBaseline sweeps a fast target and a slow baseline at two
// rates given highest first: the baseline runs at the lowest rate only,
// and the comparison sets the target's p50 there against it.
func TestSweepBaseline(t *testing.T) {
	var fastCalls, baseCalls atomic.Int64
	targets := []Target{sleepTarget("fast", 2*time.Millisecond, &fastCalls), sleepTarget("ref", 40*time.Millisecond, &baseCalls)}
	var buf strings.Builder
	progress := &lockedWriter{w: &buf}
	cfg := Config{Model: Open, Rates: []float64{20, 5}, Duration: 800 * time.Millisecond, Baseline: "ref", Seed: 7, Progress: progress}
	rep, err := Run(context.Background(), cfg, targets, []Scenario{mustBuiltin(t, "hello", "bash")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rep.Sweep.Points {
		got = append(got, fmt.Sprintf("%s@%g", p.Target, p.OfferedPerS))
	}
	if want := []string{"fast@20", "fast@5", "ref@5"}; !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v (the baseline at the lowest rate only)", got, want)
	}
	if n := baseCalls.Load(); n != 4 {
		t.Errorf("the baseline ran %d requests, want 4 (0.8 s at 5/s)", n)
	}
	if len(rep.Comparisons) != 1 {
		t.Fatalf("comparisons %+v, want one", rep.Comparisons)
	}
	c := rep.Comparisons[0]
	if c.Target != "fast" || c.Baseline != "ref" || c.RatePerS != 5 || c.Ratio < 3 {
		t.Errorf("comparison %+v; want fast against ref at 5/s, several times faster", c)
	}
	if c.TargetP50Ms != rep.Sweep.Points[1].LatencyMs.P50 || c.BaselineP50Ms != rep.Sweep.Points[2].LatencyMs.P50 {
		t.Errorf("comparison %+v does not use the p50s of the points at 5/s", c)
	}
	var table strings.Builder
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if want := "=> at 5/s, fast is " + fmtRatio(c.Ratio) + " faster than ref at p50"; !strings.Contains(table.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, table.String())
	}
	progress.mu.Lock()
	defer progress.mu.Unlock()
	if want := "3 steps (1 scenarios x 2 rates x 2 targets, the baseline ref at 5/s only)"; !strings.Contains(buf.String(), want) {
		t.Errorf("progress lacks %q:\n%s", want, buf.String())
	}
}

func TestSweepInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	cfg := Config{Model: Open, Rates: []float64{50, 100}, Duration: time.Minute, Timeout: time.Second}
	rep, err := Run(ctx, cfg, []Target{sleepTarget("a", 0, nil)}, []Scenario{mustBuiltin(t, "hello", "bash")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run error = %v, want the context's deadline", err)
	}
	if rep == nil || !rep.Interrupted || len(rep.Sweep.Points) != 1 || !rep.Sweep.Points[0].Interrupted || len(rep.Sweep.Ceilings) != 1 {
		t.Fatalf("report %+v; want one interrupted point and the ceiling of what ran", rep)
	}
	if p := rep.Sweep.Points[0]; p.OK == 0 || p.OK != p.Sent {
		t.Errorf("interrupted point: ok %d of %d; want the answers that came before the end", p.OK, p.Sent)
	}
}

func TestCeiling(t *testing.T) {
	for _, c := range []struct {
		name  string
		cores int
		cpuMs float64
		want  float64
	}{
		{"16 cores, 400 ms", 16, 400, 40},
		{"1 core, 25 ms", 1, 25, 40},
		{"4 cores, 2.5 ms", 4, 2.5, 1600},
		{"no CPU time", 8, 0, 0},
		{"NaN CPU time", 8, math.NaN(), 0},
		{"no cores", 0, 10, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ceilingPerS(c.cores, c.cpuMs); math.Abs(got-c.want) > 1e-9 {
				t.Errorf("ceilingPerS(%d, %g) = %g, want %g", c.cores, c.cpuMs, got, c.want)
			}
		})
	}

	scen := mustBuiltin(t, "hello", "node")
	phaseWith := func(samples ...sample) *phase { return &phase{samples: samples} }
	for _, c := range []struct {
		name      string
		phases    map[string]*phase
		wantMs    float64
		wantN     int
		wantFrom  string
		byTargets int
	}{
		{"median of the warm-up, errors and zeros left out", map[string]*phase{"a": phaseWith(
			sample{warmup: true, cpuMs: 30}, sample{warmup: true, cpuMs: 10}, sample{warmup: true, cpuMs: 20},
			sample{warmup: true, cpuMs: 0}, sample{warmup: true, cpuMs: 5, kind: "http_503"},
			sample{cpuMs: 1000})}, 20, 3, "warm-up", 0},
		{"pooled over targets", map[string]*phase{
			"a": phaseWith(sample{warmup: true, cpuMs: 10}, sample{warmup: true, cpuMs: 12}),
			"b": phaseWith(sample{warmup: true, cpuMs: 40}, sample{warmup: true, cpuMs: 50}, sample{warmup: true, cpuMs: 60}),
		}, 40, 5, "warm-up", 2},
		{"measured when no warm-up", map[string]*phase{"a": phaseWith(sample{cpuMs: 8}, sample{cpuMs: 4})}, 4, 2, "measured", 0},
		{"unknown", map[string]*phase{"a": phaseWith(sample{warmup: true}, sample{})}, 0, 0, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ct cpuTimes
			for _, name := range []string{"a", "b"} {
				if p, ok := c.phases[name]; ok {
					ct.add(name, p)
				}
			}
			got := ct.ceiling(scen, 8)
			if got.CPUTimeMs != c.wantMs || got.Samples != c.wantN || got.From != c.wantFrom || len(got.ByTargetMs) != c.byTargets ||
				got.PerS != ceilingPerS(8, c.wantMs) || got.Language != "node" {
				t.Errorf("ceiling = %+v; want %g ms from %d %s answers, %d targets apart", got, c.wantMs, c.wantN, c.wantFrom, c.byTargets)
			}
			if c.wantMs == 0 && !strings.Contains(got.describe(), "ceiling unknown") {
				t.Errorf("describe() = %q, want it to say the ceiling is unknown", got.describe())
			}
		})
	}
}

// sweepReport is a hand-made sweep of two scenarios over two targets,
// one with a name that needs escaping.
func sweepReport() *Report {
	lat := func(p50, p99 float64) Latency {
		return Latency{Min: p50 / 2, P50: p50, P90: p99 * 0.8, P99: p99, Max: p99 * 1.2}
	}
	point := func(scen, target string, rate float64, ok, sent int, l Latency) SweepPoint {
		return SweepPoint{Scenario: scen, Target: target, OfferedPerS: rate, ServedPerS: float64(ok) / 2, MeasuredS: 2,
			Sent: sent, OK: ok, Errors: map[string]int{"http_503": sent - ok}, LatencyMs: l, AboveMark: scen == "python/hello" && rate > 24}
	}
	weird := `a<b&"c"`
	return &Report{
		Started:  time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC),
		Settings: Settings{Model: Open, MaxInFlight: 64, WarmupS: 1, DurationS: 2, Seed: 9},
		Targets:  []TargetInfo{{Name: "default"}, {Name: weird}},
		Sweep: &Sweep{RatesPerS: []float64{1, 10, 100}, Cores: 4, Mark: 0.6,
			Ceilings: []Ceiling{
				{Scenario: "python/hello", Language: "python", Cores: 4, CPUTimeMs: 100, Samples: 9, From: "warm-up", PerS: 40},
				{Scenario: "node/hello", Language: "node", Cores: 4},
			},
			Points: []SweepPoint{
				point("python/hello", "default", 1, 2, 2, lat(5, 9)),
				point("python/hello", "default", 10, 20, 20, lat(6, 12)),
				point("python/hello", "default", 100, 80, 200, lat(400, 2000)),
				point("python/hello", weird, 1, 2, 2, lat(7, 8)),
				point("python/hello", weird, 10, 0, 20, Latency{}),
				point("python/hello", weird, 100, 3, 200, lat(900, 3000)),
				point("node/hello", "default", 1, 2, 2, lat(3, 4)),
				point("node/hello", "default", 10, 20, 20, lat(3, 5)),
				point("node/hello", "default", 100, 200, 200, lat(4, 30)),
			},
		},
	}
}

func TestSweepSVG(t *testing.T) {
	rep := sweepReport()
	var buf bytes.Buffer
	if err := rep.WriteSweepSVG(&buf); err != nil {
		t.Fatal(err)
	}
	svg := buf.String()
	type panel struct {
		series  []string
		ceiling string
		lines   int
	}
	panels := map[string]*panel{}
	var cur *panel
	root := ""
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root == "" {
			root = se.Name.Local
		}
		attrs := map[string]string{}
		for _, a := range se.Attr {
			attrs[a.Name.Local] = a.Value
		}
		switch {
		case attrs["class"] == "panel":
			cur = &panel{}
			panels[attrs["data-scenario"]] = cur
		case attrs["class"] == "series":
			cur.series = append(cur.series, attrs["data-target"])
		case attrs["class"] == "ceiling":
			cur.ceiling = attrs["data-per-s"]
		case se.Name.Local == "polyline":
			cur.lines++
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	want := map[string]panel{
		// default: p50 and p99 over three rates; the other target has no
		// right answer at 10/s, so its two lines break into single
		// points and are not drawn.
		"python/hello": {series: []string{"default", `a<b&"c"`}, ceiling: "40", lines: 2},
		"node/hello":   {series: []string{"default"}, ceiling: "", lines: 2},
	}
	for name, w := range want {
		got, ok := panels[name]
		if !ok {
			t.Errorf("no panel for %s; panels %v", name, panels)
			continue
		}
		if !slices.Equal(got.series, w.series) || got.ceiling != w.ceiling || got.lines != w.lines {
			t.Errorf("panel %s: series %q, ceiling %q, %d lines; want %q, %q, %d", name, got.series, got.ceiling, got.lines, w.series, w.ceiling, w.lines)
		}
	}
	for _, s := range []string{"default", "a&lt;b&amp;", "ceiling 40/s", "python/hello (ceiling 40 requests/s)", "node/hello (ceiling unknown)",
		"offered rate, requests/s (log scale)", "latency, ms (log scale)"} {
		if !strings.Contains(svg, s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
	if err := (&Report{}).WriteSweepSVG(io.Discard); err == nil {
		t.Error("WriteSweepSVG of a report without a sweep did not fail")
	}
}

func TestSweepTable(t *testing.T) {
	var b strings.Builder
	if err := sweepReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"open-loop rate sweep over 1,10,100 requests/s (at most 64 in flight)",
		"python/hello: ceiling 40 requests/s = 4 cores / 100 ms CPU per request (median of 9 warm-up answers)",
		"node/hello: ceiling unknown",
		"80/200", "100*", "120 http_503:120", "197 http_503:197",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The unmarked rates carry no star.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "default" && (f[1] == "10*" || f[1] == "1*") {
			t.Errorf("rate below the mark is starred: %q", line)
		}
	}
}

func TestRateRange(t *testing.T) {
	for _, c := range []struct {
		name           string
		rates          []float64
		ceiling        float64
		wantLo, wantHi float64
	}{
		{"rates alone", []float64{1, 5, 20, 50, 100}, 0, 1, 100},
		{"ceiling within reach", []float64{1, 5, 20}, 40, 1, 50},
		{"ceiling far above", []float64{1, 5, 20}, 5000, 1, 20},
		{"one rate", []float64{5}, 0, 2, 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			lo, hi := rateRange(c.rates, c.ceiling, 0.6)
			if lo != c.wantLo || hi != c.wantHi {
				t.Errorf("rateRange = %g..%g, want %g..%g", lo, hi, c.wantLo, c.wantHi)
			}
		})
	}
}
