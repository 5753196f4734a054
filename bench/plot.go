package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Plot geometry, in SVG user units.
const (
	panelW, panelH  = 560, 360
	headerH         = 64
	plotLeft        = 64
	plotRight       = 24
	plotTop         = 64
	plotBottom      = 52
	maxSeriesPoints = 600
)

// palette colours the targets in report order; the baseline is drawn in
// the warm red, whatever its position.
var palette = []string{"#1f6fb4", "#2a9d3b", "#7b3fa0", "#d98b00", "#555555"}

const baselineColor = "#c8372d"

// WriteSVG draws one panel per scenario, side by side, each with the
// latency CDF of every target: x is latency in ms on a log scale, y the
// share of requests answered within x. It is a plain SVG document.
func (r *Report) WriteSVG(w io.Writer) error {
	scens := r.scenarios()
	cols := min(2, max(1, len(scens)))
	rows := max(1, (len(scens)+cols-1)/cols)
	width, height := cols*panelW, headerH+rows*panelH
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	text(&b, 16, 26, "start", 17, "bold", "warmbox bench: latency distribution (CDF) of each target, per scenario")
	text(&b, 16, 48, "start", 12, "", r.subtitle())
	for i, sc := range scens {
		r.panel(&b, sc, float64((i%cols)*panelW), float64(headerH+(i/cols)*panelH))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Report) subtitle() string {
	s := r.Settings
	load := fmt.Sprintf("closed loop, concurrency %d", s.Concurrency)
	if s.Model == Open {
		load = fmt.Sprintf("open loop, %g req/s per target", s.RatePerS)
	}
	m := r.Machine
	engine := ""
	if m.Engine != "" {
		engine = ", " + m.Engine
	}
	return fmt.Sprintf("%s; latency from the intended send time; %d CPUs%s; %s",
		load, m.CPUs, engine, r.Started.Format("2006-01-02 15:04 UTC"))
}

func (r *Report) color(target string) string {
	if target == r.Settings.Baseline {
		return baselineColor
	}
	i := 0
	for _, t := range r.Targets {
		if t.Name == target {
			break
		}
		if t.Name != r.Settings.Baseline {
			i++
		}
	}
	return palette[i%len(palette)]
}

// panel draws one scenario's CDFs with its top-left corner at (x0, y0).
func (r *Report) panel(b *bytes.Buffer, scenario string, x0, y0 float64) {
	var results []Result
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, res := range r.Results {
		if res.Scenario != scenario {
			continue
		}
		results = append(results, res)
		if n := len(res.SamplesMs); n > 0 {
			lo, hi = math.Min(lo, res.SamplesMs[0]), math.Max(hi, res.SamplesMs[n-1])
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	xLo, xHi := niceFloor(lo), niceCeil(hi)
	if xHi <= xLo {
		xHi = niceCeil(xLo * 1.01)
	}
	dLo, dHi := math.Log10(xLo), math.Log10(xHi)
	left, top := x0+plotLeft, y0+plotTop
	pw, ph := float64(panelW-plotLeft-plotRight), float64(panelH-plotTop-plotBottom)
	px := func(v float64) float64 { return left + (math.Log10(math.Max(v, 1e-3))-dLo)/(dHi-dLo)*pw }
	py := func(q float64) float64 { return top + (1-q)*ph }

	fmt.Fprintf(b, `<g class="panel" data-scenario="%s">`+"\n", attr(scenario))
	title := scenario
	for _, c := range r.Comparisons {
		if c.Scenario == scenario {
			title += fmt.Sprintf(" (%s %s faster than %s at p50)", c.Target, fmtRatio(c.Ratio), c.Baseline)
		}
	}
	text(b, x0+plotLeft, y0+20, "start", 14, "bold", title)
	for i, res := range results {
		ly := y0 + 38 + float64(i)*14
		if i >= 2 { // a third target's legend goes beside the first
			ly = y0 + 38 + float64(i-2)*14
		}
		lx := x0 + plotLeft + float64(i/2)*250
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+18, ly-4, r.color(res.Target))
		label := fmt.Sprintf("%s: no right answers", res.Target)
		if res.OK > 0 {
			label = fmt.Sprintf("%s: p50 %s ms, p99 %s ms (n=%d)", res.Target, fmtMs(res.LatencyMs.P50), fmtMs(res.LatencyMs.P99), res.OK)
		}
		text(b, lx+24, ly, "start", 12, "", label)
	}

	// Frame, grid and axes.
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	for _, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		y := py(q)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", left, y, left+pw, y)
		text(b, left-6, y+4, "end", 11, "", fmt.Sprintf("%.0f%%", q*100))
	}
	for _, g := range []struct {
		q     float64
		label string
	}{{0.5, "p50"}, {0.9, "p90"}, {0.99, "p99"}} {
		y := py(g.q)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" stroke-dasharray="4 3"/>`+"\n", left, y, left+pw, y)
		text(b, left+pw+3, y+3, "start", 10, "", g.label)
	}
	xLogAxis(b, xLo, xHi, px, x0, left, top, pw, ph, "latency, ms (log scale)", "requests answered within x")

	// One series per target.
	for _, res := range results {
		c := r.color(res.Target)
		fmt.Fprintf(b, `<g class="series" data-target="%s">`+"\n", attr(res.Target))
		if pts := cdfPoints(res.SamplesMs); len(pts) > 0 {
			b.WriteString(`<polyline fill="none" stroke="` + c + `" stroke-width="2" points="`)
			for i, p := range pts {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(b, "%.1f,%.1f", px(p[0]), py(p[1]))
			}
			b.WriteString("\"/>\n")
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", px(res.LatencyMs.P50), py(0.5), c)
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")
}

// steps are the 1-2-5 values of a decade.
var steps = []float64{1, 2, 5}

// niceFloor returns the largest 1-2-5 value (..., 0.5, 1, 2, 5, 10, ...)
// not above v; niceCeil the smallest not below it.
func niceFloor(v float64) float64 {
	v = math.Max(v, 1e-3)
	d := math.Pow(10, math.Floor(math.Log10(v)))
	out := d
	for _, m := range steps {
		if m*d <= v*(1+1e-9) {
			out = m * d
		}
	}
	return out
}

func niceCeil(v float64) float64 {
	v = math.Max(v, 1e-3)
	d := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range append(steps, 10) {
		if m*d >= v*(1-1e-9) {
			return m * d
		}
	}
	return 10 * d
}

// logTicks lists the 1-2-5 values from lo to hi, or only the powers of
// ten when the range spans more than three decades.
func logTicks(lo, hi float64) []float64 {
	decadesOnly := math.Log10(hi/lo) > 3
	var out []float64
	for d := math.Floor(math.Log10(lo)); d <= math.Ceil(math.Log10(hi)); d++ {
		for _, m := range steps {
			v := m * math.Pow(10, d)
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) && (m == 1 || !decadesOnly) {
				out = append(out, v)
			}
		}
	}
	return out
}

// cdfPoints returns the empirical CDF of sorted samples as (x, share)
// points: a step per sample when there are few, else the nearest-rank
// percentiles at maxSeriesPoints evenly spaced shares.
func cdfPoints(sorted []float64) [][2]float64 {
	n := len(sorted)
	if n == 0 {
		return nil
	}
	var pts [][2]float64
	if n <= maxSeriesPoints/2 {
		for i, v := range sorted {
			pts = append(pts, [2]float64{v, float64(i) / float64(n)}, [2]float64{v, float64(i+1) / float64(n)})
		}
		return pts
	}
	pts = append(pts, [2]float64{sorted[0], 0})
	for j := 1; j <= maxSeriesPoints; j++ {
		q := float64(j) / maxSeriesPoints
		pts = append(pts, [2]float64{Percentile(sorted, q*100), q})
	}
	return pts
}

func text(b *bytes.Buffer, x, y float64, anchor string, size int, weight, s string) {
	fw := ""
	if weight != "" {
		fw = ` font-weight="` + weight + `"`
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="%d"%s>%s</text>`+"\n", x, y, anchor, size, fw, attr(s))
}

// attr escapes s for XML text and attribute values.
func attr(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return sb.String()
}

// xLogAxis draws a log-scale x axis from lo to hi (px maps a value to its
// x) as vertical grid lines with their values, the x title under the
// plot area and the y title turned along its left edge (x0).
func xLogAxis(b *bytes.Buffer, lo, hi float64, px func(float64) float64, x0, left, top, pw, ph float64, xTitle, yTitle string) {
	for _, v := range logTicks(lo, hi) {
		x := px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", x, top, x, top+ph)
		text(b, x, top+ph+16, "middle", 11, "", fmt.Sprintf("%g", v))
	}
	text(b, left+pw/2, top+ph+36, "middle", 12, "", xTitle)
	cy := top + ph/2
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="12" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x0+16, cy, x0+16, cy, yTitle)
}
