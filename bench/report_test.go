package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleReport runs two scenarios against a fast HTTP target and a slow
// baseline without server timing.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	f := newFakeDaemon(t, nil)
	targets := []Target{mustHTTP(t, f.URL), sleepTarget("cold", 3*time.Millisecond, nil)}
	mix, err := Mix([]string{"python", "node"}, DefaultMix)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Model: Closed, Concurrency: 2, Requests: 20, Timeout: 5 * time.Second, Seed: 3, Baseline: "cold"}
	rep, err := Run(context.Background(), cfg, targets, []Scenario{mustBuiltin(t, "hello", "python"), mix})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport(t)
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, k := range []string{"format_version", "started", "finished", "settings", "machine", "targets", "results", "comparisons"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	machine := doc["machine"].(map[string]any)
	for _, k := range []string{"cpus", "os", "arch", "go_version"} {
		if _, ok := machine[k]; !ok {
			t.Errorf("machine has no %q", k)
		}
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 4 {
		t.Fatalf("got %d results, want 4 (2 scenarios x 2 targets)", len(back.Results))
	}
	for _, r := range back.Results {
		name := r.Scenario + "/" + r.Target
		errs := 0
		for _, n := range r.Errors {
			errs += n
		}
		if r.Count != r.OK+errs || r.OK != len(r.SamplesMs) || r.Count != 20 {
			t.Errorf("%s: count %d, ok %d, errors %d, samples %d: inconsistent", name, r.Count, r.OK, errs, len(r.SamplesMs))
		}
		for _, k := range []string{KindWrongOutput, KindTimeout, KindTransport} {
			if _, ok := r.Errors[k]; !ok {
				t.Errorf("%s: errors has no %q entry", name, k)
			}
		}
		l := r.LatencyMs
		if !(l.Min > 0 && l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max && l.Mean >= l.Min && l.Mean <= l.Max) {
			t.Errorf("%s: latency figures out of order: %+v", name, l)
		}
		if l.P50 != Percentile(r.SamplesMs, 50) || l.Max != r.SamplesMs[len(r.SamplesMs)-1] {
			t.Errorf("%s: summary %+v does not match the samples", name, l)
		}
		if r.WindowS <= 0 || math.Abs(r.Throughput-float64(r.OK)/r.WindowS) > 1e-9 {
			t.Errorf("%s: throughput %g != ok %d / window %g", name, r.Throughput, r.OK, r.WindowS)
		}
		if (r.Target == "warm") != (r.ServerMs != nil) {
			t.Errorf("%s: server timing %+v; want it for warm only", name, r.ServerMs)
		}
		if r.ServerMs != nil && (r.ServerMs.Samples != r.OK || r.ServerMs.TotalP50 <= 0) {
			t.Errorf("%s: server timing %+v", name, r.ServerMs)
		}
	}
	if len(back.Comparisons) != 2 {
		t.Fatalf("got %d comparisons, want 2: %+v", len(back.Comparisons), back.Comparisons)
	}
	for _, c := range back.Comparisons {
		if c.Target != "warm" || c.Baseline != "cold" || c.Ratio != c.BaselineP50Ms/c.TargetP50Ms || c.Ratio <= 0 {
			t.Errorf("comparison %+v is inconsistent", c)
		}
	}
	if got := back.Settings.Scenarios; len(got) != 2 || got[0] != "python/hello" || got[1] != "mix" {
		t.Errorf("settings.scenarios = %v", got)
	}
}

func TestReportSVG(t *testing.T) {
	rep := sampleReport(t)
	svg := rep.svgString(t)
	// Well-formed XML, one panel per scenario, one series per target
	// in each.
	dec := xml.NewDecoder(strings.NewReader(svg))
	panels := map[string][]string{}
	var panel string
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
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
		switch attrs["class"] {
		case "panel":
			panel = attrs["data-scenario"]
			panels[panel] = nil
		case "series":
			panels[panel] = append(panels[panel], attrs["data-target"])
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	if len(panels) != 2 {
		t.Errorf("got panels %v, want python/hello and mix", panels)
	}
	for p, series := range panels {
		if strings.Join(series, ",") != "warm,cold" {
			t.Errorf("panel %s has series %v, want warm,cold", p, series)
		}
	}
	for _, want := range []string{"latency, ms (log scale)", "python/hello", "faster than cold", "p50"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func (r *Report) svgString(t *testing.T) string {
	var b bytes.Buffer
	if err := r.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReportSVGEscapes(t *testing.T) {
	rep := &Report{Settings: Settings{Model: Closed, Concurrency: 1},
		Targets: []TargetInfo{{Name: "a<b"}},
		Results: []Result{{Scenario: `python/file:"x&y".py`, Target: "a<b", SamplesMs: []float64{}}}}
	if err := xml.Unmarshal([]byte(rep.svgString(t)), new(struct{})); err != nil {
		t.Fatalf("SVG with odd names is not well-formed: %v", err)
	}
}

func TestReportTable(t *testing.T) {
	rep := sampleReport(t)
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"scenario", "p99.9", "acquire", "python/hello", "mix", "warm is", "faster than cold at p50", "machine:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
