package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// writeSweep writes a rate sweep: per scenario its ceiling, then one row
// per target and rate, then the late sends and the first error of each
// kind.
func (r *Report) writeSweep(b *strings.Builder) {
	sw := r.Sweep
	fmt.Fprintf(b, "\nlatency in ms from the intended send time over right answers (percentiles nearest-rank); "+
		"served = right answers per second of measured time;\n* = offered rate above %.0f%% of the ceiling "+
		"(cores / the median CPU time of one request, as the target reports it)\n", sw.Mark*100)
	targW := len("target")
	for _, p := range sw.Points {
		targW = max(targW, len(p.Target))
	}
	row := func(cells ...string) {
		fmt.Fprintf(b, "%-*s %9s %8s %11s %7s %7s %7s %7s  %s\n", targW,
			cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8])
	}
	for _, c := range sw.Ceilings {
		b.WriteString("\n")
		b.WriteString(c.describe())
		b.WriteString("\n")
		row("target", "offered", "served", "ok/sent", "p50", "p90", "p99", "max", "errors")
		var notes []string
		examples := map[string]bool{}
		prev := ""
		for _, p := range sw.Points {
			if p.Scenario != c.Scenario {
				continue
			}
			if prev != "" && p.Target != prev {
				b.WriteString("\n")
			}
			prev = p.Target
			offered := fmtRate(p.OfferedPerS) + " "
			if p.AboveMark {
				offered = fmtRate(p.OfferedPerS) + "*"
			}
			lat := []string{"-", "-", "-", "-"}
			if p.OK > 0 {
				l := p.LatencyMs
				lat = []string{fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.Max)}
			}
			errs := errorsCell(p.Errored(), p.Errors)
			if p.Interrupted {
				errs += " (interrupted)"
			}
			row(append(append([]string{p.Target, offered, fmt.Sprintf("%.1f", p.ServedPerS), fmt.Sprintf("%d/%d", p.OK, p.Sent)}, lat...), errs)...)
			if l := p.SendLagMs; l != nil && l.P99 >= lateMs {
				notes = append(notes, fmt.Sprintf("%s at %s/s sent late: p50 %s ms, p99 %s ms, max %s ms after due (the in-flight cap or the client; counted in the latency)",
					p.Target, fmtRate(p.OfferedPerS), fmtMs(l.P50), fmtMs(l.P99), fmtMs(l.Max)))
			}
			for _, k := range errorKinds(p.Errors) {
				if key := p.Target + "\x00" + k; !examples[key] {
					examples[key] = true
					notes = append(notes, fmt.Sprintf("first %s on %s (at %s/s): %s", k, p.Target, fmtRate(p.OfferedPerS), p.ErrorExamples[k]))
				}
			}
		}
		for _, n := range notes {
			b.WriteString(n + "\n")
		}
		for _, cmp := range r.Comparisons {
			if cmp.Scenario == c.Scenario {
				fmt.Fprintf(b, "=> at %s/s, %s is %s faster than %s at p50 (%s ms vs %s ms, measured one after the other)\n",
					fmtRate(cmp.RatePerS), cmp.Target, fmtRatio(cmp.Ratio), cmp.Baseline, fmtMs(cmp.TargetP50Ms), fmtMs(cmp.BaselineP50Ms))
			}
		}
	}
}

// describe is the ceiling on one line.
func (c Ceiling) describe() string {
	if c.PerS <= 0 {
		return fmt.Sprintf("%s: ceiling unknown: no right answer reported its CPU time (cpu_time_ms)", c.Scenario)
	}
	s := fmt.Sprintf("%s: ceiling %s requests/s = %d cores / %s ms CPU per request (median of %d %s answers",
		c.Scenario, fmtRate(c.PerS), c.Cores, fmtMs(c.CPUTimeMs), c.Samples, c.From)
	if len(c.ByTargetMs) > 0 {
		var parts []string
		for _, t := range slices.Sorted(maps.Keys(c.ByTargetMs)) {
			parts = append(parts, fmt.Sprintf("%s %s ms", t, fmtMs(c.ByTargetMs[t])))
		}
		s += "; by target: " + strings.Join(parts, ", ")
	}
	return s + ")"
}

// fmtRate prints a rate in requests per second: whole numbers plainly,
// others with three significant digits or so.
func fmtRate(v float64) string {
	if v == float64(int64(v)) && v < 1e6 {
		return fmt.Sprintf("%d", int64(v))
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// fmtRates prints rates as a --rates list would give them.
func fmtRates(rates []float64) string {
	parts := make([]string, len(rates))
	for i, r := range rates {
		parts[i] = fmt.Sprintf("%g", r)
	}
	return strings.Join(parts, ",")
}
