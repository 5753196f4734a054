package bench

import (
	"fmt"
	"io"
	"strings"
)

// lateMs is the p99 send lag above which the table points out that the
// open loop sent requests late (below it, it is timer jitter).
const lateMs = 5

// WriteTable writes the report for a terminal: the run's settings and
// machine, then one row per scenario and target, then each comparison
// with the baseline; for a rate sweep, one table per scenario instead
// (see writeSweep).
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	r.writeHeader(&b)
	if r.Sweep != nil {
		r.writeSweep(&b)
	} else {
		r.writeResults(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHeader writes the run's settings, targets and machine.
func (r *Report) writeHeader(b *strings.Builder) {
	s := r.Settings
	load := fmt.Sprintf("closed loop, concurrency %d", s.Concurrency)
	if s.Model == Open {
		load = fmt.Sprintf("open loop, %g requests/s to each target (at most %d in flight)", s.RatePerS, s.MaxInFlight)
	}
	length := fmt.Sprintf("%gs measured", s.DurationS)
	if s.Requests > 0 {
		length = fmt.Sprintf("%d requests per target measured", s.Requests)
	}
	each, order := "scenario", "targets interleaved"
	if sw := r.Sweep; sw != nil {
		load = fmt.Sprintf("open-loop rate sweep over %s requests/s (at most %d in flight)", fmtRates(sw.RatesPerS), s.MaxInFlight)
		each, order = "scenario, rate and target", "targets one after the other at each rate, order shuffled"
	}
	fmt.Fprintf(b, "warmbox bench, %s: %s; per %s %gs warm-up then %s; %s (seed %d)\n",
		r.Started.Format("2006-01-02 15:04 UTC"), load, each, s.WarmupS, length, order, s.Seed)
	targW := 6
	for _, t := range r.Targets {
		targW = max(targW, len(t.Name))
	}
	for i, t := range r.Targets {
		label := "targets:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(b, "%-8s %-*s %s\n", label, targW, t.Name, t.Description)
	}
	fmt.Fprintf(b, "machine: %s\n", r.Machine.Summary())
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the figures cover only what ran before the run stopped\n")
	}
}

// writeResults writes one row per scenario and target, then each
// comparison with the baseline.
func (r *Report) writeResults(b *strings.Builder) {
	b.WriteString("\nlatency in ms from the intended send time over right answers (percentiles nearest-rank); server = the daemon's own timing, medians\n")

	scenW, targW := len("scenario"), len("target")
	for _, res := range r.Results {
		scenW, targW = max(scenW, len(res.Scenario)), max(targW, len(res.Target))
	}
	row := func(cells ...string) {
		fmt.Fprintf(b, "%-*s  %-*s", scenW, cells[0], targW, cells[1])
		for _, c := range cells[2:10] {
			fmt.Fprintf(b, " %7s", c)
		}
		fmt.Fprintf(b, " | %6s %7s %6s %6s | %s\n", cells[10], cells[11], cells[12], cells[13], cells[14])
	}
	row("scenario", "target", "count", "ok/s", "mean", "p50", "p90", "p99", "p99.9", "max",
		"queue", "acquire", "run", "total", "errors")
	for i, sc := range r.scenarios() {
		if i > 0 {
			b.WriteString("\n")
		}
		for _, res := range r.Results {
			if res.Scenario != sc {
				continue
			}
			l := res.LatencyMs
			lat := []string{fmtMs(l.Mean), fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max)}
			if res.OK == 0 {
				lat = []string{"-", "-", "-", "-", "-", "-"}
			}
			srv := []string{"-", "-", "-", "-"}
			if sv := res.ServerMs; sv != nil {
				srv = []string{fmtMs(sv.QueueP50), fmtMs(sv.AcquireP50), fmtMs(sv.RunP50), fmtMs(sv.TotalP50)}
			}
			cells := []string{res.Scenario, res.Target, fmt.Sprint(res.Count), fmt.Sprintf("%.1f", res.Throughput)}
			cells = append(append(cells, lat...), srv...)
			row(append(cells, errorsCell(res.Errored(), res.Errors))...)
			if res.SendLagMs != nil && res.SendLagMs.P99 >= lateMs {
				fmt.Fprintf(b, "%-*s  %-*s   sent late: p50 %s ms, p99 %s ms, max %s ms after due (counted in the latency)\n",
					scenW, "", targW, "", fmtMs(res.SendLagMs.P50), fmtMs(res.SendLagMs.P99), fmtMs(res.SendLagMs.Max))
			}
		}
		for _, c := range r.Comparisons {
			if c.Scenario == sc {
				fmt.Fprintf(b, "%-*s  => %s is %s faster than %s at p50 (%s ms vs %s ms)\n",
					scenW, "", c.Target, fmtRatio(c.Ratio), c.Baseline, fmtMs(c.TargetP50Ms), fmtMs(c.BaselineP50Ms))
			}
		}
	}
	for _, res := range r.Results {
		for _, k := range res.errorKinds() {
			fmt.Fprintf(b, "first %s of %s on %s: %s\n", k, res.Scenario, res.Target, res.ErrorExamples[k])
		}
	}
}

// errorsCell is the number of errors, then the count of each kind.
func errorsCell(errored int, errs map[string]int) string {
	if errored == 0 {
		return "0"
	}
	parts := []string{fmt.Sprint(errored)}
	for _, k := range errorKinds(errs) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, errs[k]))
	}
	return strings.Join(parts, " ")
}

// fmtMs prints milliseconds with three significant digits or so.
func fmtMs(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRatio(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fx", v)
	}
	return fmt.Sprintf("%.1fx", v)
}

// Summary is the machine on one line.
func (m Machine) Summary() string {
	parts := []string{fmt.Sprintf("%d CPUs", m.CPUs)}
	if m.CPUModel != "" {
		parts[0] += " (" + m.CPUModel + ")"
	}
	if m.MemoryMB > 0 {
		parts = append(parts, fmt.Sprintf("%.1f GiB", float64(m.MemoryMB)/1024))
	}
	if m.Kernel != "" {
		parts = append(parts, m.OS+" "+m.Kernel)
	}
	if m.Engine != "" {
		e := m.Engine
		var extra []string
		for _, x := range []string{m.EngineAPI, m.Runtime, m.Cgroup} {
			if x != "" {
				extra = append(extra, x)
			}
		}
		if len(extra) > 0 {
			e += " (" + strings.Join(extra, ", ") + ")"
		}
		parts = append(parts, e)
	}
	parts = append(parts, m.GoVersion, fmt.Sprintf("load %.2f at start", m.Load1))
	if m.Warmbox != "" {
		parts = append(parts, "warmbox "+m.Warmbox)
	}
	return strings.Join(parts, ", ")
}
