package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteSweepSVG draws a rate sweep, one panel per scenario: the p50
// (solid) and p99 (dashed) latency of each target against the offered
// rate, both on log scales, one colour per target, and the scenario's
// ceiling as a vertical line with the band above the mark shaded. A
// hollow point is a rate at which some requests failed.
func (r *Report) WriteSweepSVG(w io.Writer) error {
	sw := r.Sweep
	if sw == nil {
		return errors.New("the report holds no rate sweep")
	}
	cols := min(2, max(1, len(sw.Ceilings)))
	rows := max(1, (len(sw.Ceilings)+cols-1)/cols)
	width, height := cols*panelW, headerH+rows*panelH
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	text(&b, 16, 26, "start", 17, "bold", "warmbox bench: latency against offered rate (open loop), per scenario")
	text(&b, 16, 48, "start", 12, "", fmt.Sprintf(
		"p50 solid, p99 dashed; hollow point: some requests failed; red line: ceiling (%d cores / CPU per request), shaded from %.0f%% of it; %s",
		sw.Cores, sw.Mark*100, r.Started.Format("2006-01-02 15:04 UTC")))
	for i, c := range sw.Ceilings {
		r.sweepPanel(&b, c, float64((i%cols)*panelW), float64(headerH+(i/cols)*panelH))
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// sweepPanel draws one scenario with its top-left corner at (x0, y0).
func (r *Report) sweepPanel(b *bytes.Buffer, c Ceiling, x0, y0 float64) {
	sw := r.Sweep
	var pts []SweepPoint
	var targets []string
	yMin, yMax := math.Inf(1), math.Inf(-1)
	for _, p := range sw.Points {
		if p.Scenario != c.Scenario {
			continue
		}
		pts = append(pts, p)
		if !slices.Contains(targets, p.Target) {
			targets = append(targets, p.Target)
		}
		if p.OK > 0 {
			yMin, yMax = math.Min(yMin, p.LatencyMs.P50), math.Max(yMax, p.LatencyMs.P99)
		}
	}
	if math.IsInf(yMin, 1) {
		yMin, yMax = 1, 10
	}
	xLo, xHi := rateRange(sw.RatesPerS, c.PerS, sw.Mark)
	yLo, yHi := niceRange(yMin, yMax)
	left, top := x0+plotLeft, y0+plotTop
	pw, ph := float64(panelW-plotLeft-plotRight), float64(panelH-plotTop-plotBottom)
	px := func(v float64) float64 {
		return left + (math.Log10(math.Max(v, 1e-3))-math.Log10(xLo))/(math.Log10(xHi)-math.Log10(xLo))*pw
	}
	py := func(v float64) float64 {
		return top + ph - (math.Log10(math.Max(v, 1e-3))-math.Log10(yLo))/(math.Log10(yHi)-math.Log10(yLo))*ph
	}
	clampX := func(x float64) float64 { return math.Max(left, math.Min(left+pw, x)) }

	fmt.Fprintf(b, `<g class="panel" data-scenario="%s">`+"\n", attr(c.Scenario))
	title := c.Scenario + " (ceiling unknown)"
	if c.PerS > 0 {
		title = fmt.Sprintf("%s (ceiling %s requests/s)", c.Scenario, fmtRate(c.PerS))
	}
	text(b, x0+plotLeft, y0+20, "start", 14, "bold", title)
	lx, ly := x0+plotLeft, y0+40
	for _, t := range targets {
		w := 24 + 7*float64(len(t)) + 18
		if lx+w > x0+panelW-plotRight && lx > x0+plotLeft {
			lx, ly = x0+plotLeft, ly+14
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", lx, ly-4, lx+18, ly-4, r.color(t))
		text(b, lx+24, ly, "start", 12, "", t)
		lx += w
	}

	// Frame, the ceiling's band and line, grid and axes.
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	if c.PerS > 0 {
		fmt.Fprintf(b, `<g class="ceiling" data-per-s="%g">`+"\n", c.PerS)
		if from, to := clampX(px(c.PerS*sw.Mark)), clampX(px(c.PerS)); to > from {
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.08"/>`+"\n", from, top, to-from, ph, baselineColor)
		}
		if x := px(c.PerS); x >= left && x <= left+pw {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" stroke-dasharray="6 3"/>`+"\n", x, top, x, top+ph, baselineColor)
			anchor, tx := "end", x-4
			if x-left < 120 {
				anchor, tx = "start", x+4
			}
			text(b, tx, top+14, anchor, 11, "", fmt.Sprintf("ceiling %s/s", fmtRate(c.PerS)))
		} else {
			text(b, left+pw-4, top+14, "end", 11, "", fmt.Sprintf("ceiling %s/s, off the axis", fmtRate(c.PerS)))
		}
		b.WriteString("</g>\n")
	}
	for _, v := range logTicks(yLo, yHi) {
		y := py(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e3e3e3"/>`+"\n", left, y, left+pw, y)
		text(b, left-6, y+4, "end", 11, "", fmt.Sprintf("%g", v))
	}
	xLogAxis(b, xLo, xHi, px, x0, left, top, pw, ph, "offered rate, requests/s (log scale)", "latency, ms (log scale)")

	// One series per target: p50 and p99, broken where a rate had no
	// right answer.
	for _, t := range targets {
		col := r.color(t)
		fmt.Fprintf(b, `<g class="series" data-target="%s">`+"\n", attr(t))
		for _, line := range []struct {
			pick func(Latency) float64
			dash string
		}{
			{func(l Latency) float64 { return l.P50 }, ""},
			{func(l Latency) float64 { return l.P99 }, ` stroke-dasharray="6 4"`},
		} {
			var seg []string
			flush := func() {
				if len(seg) > 1 {
					fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", col, line.dash, strings.Join(seg, " "))
				}
				seg = seg[:0]
			}
			for _, p := range pts {
				if p.Target != t {
					continue
				}
				if p.OK == 0 {
					flush()
					continue
				}
				seg = append(seg, fmt.Sprintf("%.1f,%.1f", px(p.OfferedPerS), py(line.pick(p.LatencyMs))))
			}
			flush()
		}
		for _, p := range pts {
			if p.Target != t || p.OK == 0 {
				continue
			}
			fill := col
			if p.Errored() > 0 {
				fill = "white"
			}
			tip := fmt.Sprintf("%s at %s/s: p50 %s ms, p99 %s ms; served %.1f/s; ok %d/%d; errors %s",
				t, fmtRate(p.OfferedPerS), fmtMs(p.LatencyMs.P50), fmtMs(p.LatencyMs.P99), p.ServedPerS, p.OK, p.Sent, errorsCell(p.Errored(), p.Errors))
			for _, v := range []float64{p.LatencyMs.P50, p.LatencyMs.P99} {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`+"\n",
					px(p.OfferedPerS), py(v), fill, col, attr(tip))
			}
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")
}

// rateRange is the x axis of a sweep panel: the rates, widened to hold
// the ceiling and its mark when the ceiling lies within a decade of
// them.
func rateRange(rates []float64, ceiling, mark float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rates {
		lo, hi = math.Min(lo, r), math.Max(hi, r)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 10
	}
	if ceiling > 0 && ceiling <= hi*10 && ceiling*mark >= lo/10 {
		lo, hi = math.Min(lo, ceiling*mark), math.Max(hi, ceiling*1.1)
	}
	return niceRange(lo, hi)
}

// niceRange widens [lo, hi] to 1-2-5 values, and to more than one value.
func niceRange(lo, hi float64) (float64, float64) {
	nlo, nhi := niceFloor(lo), niceCeil(hi)
	if nhi <= nlo {
		nlo, nhi = niceFloor(nlo*0.99), niceCeil(nhi*1.01)
	}
	return nlo, nhi
}
