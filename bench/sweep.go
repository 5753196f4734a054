package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxRate bounds an offered rate, in requests per second to one target.
const maxRate = 10_000

// ceilingMark is the share of the ceiling above which an offered rate is
// marked: past it, queueing in front of the CPUs starts to show in the
// latency even with nothing else on the machine.
const ceilingMark = 0.6

// Sweep is the figures of an open-loop rate sweep: for each scenario,
// each rate in the order given, each target one after the other, a
// phase of its own (warm-up, then the measured time) at that rate.
type Sweep struct {
	RatesPerS   []float64    `json:"rates_per_s"`
	TargetOrder string       `json:"target_order"`
	Served      string       `json:"served"`
	Cores       int          `json:"cores"`
	Mark        float64      `json:"ceiling_mark"` // share of the ceiling above which a rate is marked
	Ceilings    []Ceiling    `json:"ceilings"`     // one per scenario
	Points      []SweepPoint `json:"points"`       // per scenario, by target, then by rate
}

// Ceiling is what the machine could serve of one scenario's program if
// the program's own CPU time were the only cost: cores divided by the
// median CPU time of one request (for hello, one interpreter start plus
// the print). It leaves out the daemon's, the runtime's and the engine's
// CPU, so the real saturation point lies at or below it.
type Ceiling struct {
	Scenario   string             `json:"scenario"`
	Language   string             `json:"language"`
	Cores      int                `json:"cores"`
	CPUTimeMs  float64            `json:"cpu_time_ms"` // median of Samples; 0 when no answer reported one
	Samples    int                `json:"samples"`
	From       string             `json:"from,omitempty"` // "warm-up" answers, or "measured" ones when the warm-up had none
	PerS       float64            `json:"per_s"`          // Cores / CPUTimeMs; 0 when unknown
	ByTargetMs map[string]float64 `json:"cpu_time_ms_by_target,omitempty"`
}

// SweepPoint is one target at one offered rate in one scenario. Latency
// covers right answers only; every failure is counted in Errors by kind.
type SweepPoint struct {
	Scenario      string            `json:"scenario"`
	Target        string            `json:"target"`
	Step          int               `json:"step"` // 1-based position in the run
	OfferedPerS   float64           `json:"offered_per_s"`
	ServedPerS    float64           `json:"served_per_s"` // right answers per second of MeasuredS
	MeasuredS     float64           `json:"measured_s"`
	Sent          int               `json:"sent"` // measured requests, right or not
	OK            int               `json:"ok"`
	Errors        map[string]int    `json:"errors"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"` // the first of each kind
	LatencyMs     Latency           `json:"latency_ms"`
	SendLagMs     *Latency          `json:"send_lag_ms,omitempty"`
	ServerMs      *Server           `json:"server_ms,omitempty"`
	CeilingShare  float64           `json:"ceiling_share,omitempty"` // offered / the scenario's ceiling
	AboveMark     bool              `json:"above_mark"`              // CeilingShare > the sweep's mark
	Interrupted   bool              `json:"interrupted,omitempty"`
}

// Errored counts the failed requests.
func (p SweepPoint) Errored() int { return p.Sent - p.OK }

// ParseRates reads offered rates written as "1,5,20,50,100", in
// requests per second; they run in the order given. Each must be > 0
// and <= 10000, and given once.
func ParseRates(spec string) ([]float64, error) {
	var out []float64
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(part, "/s"), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number of requests per second", part)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, errors.New("no rate given (e.g. 1,5,20,50,100)")
	}
	if err := validRates(out); err != nil {
		return nil, err
	}
	return out, nil
}

func validRates(rates []float64) error {
	seen := map[float64]bool{}
	for _, r := range rates {
		if !(r > 0 && r <= maxRate) { // also refuses NaN
			return fmt.Errorf("each rate must be > 0 and <= %d per second, got %g", maxRate, r)
		}
		if seen[r] {
			return fmt.Errorf("rate %g is given twice", r)
		}
		seen[r] = true
	}
	return nil
}

// sweep runs cfg.Rates over every scenario and target. The targets at
// one rate run one after the other, so that they never share the
// machine; their order is shuffled at each rate (from cfg.Seed), so that
// drift does not always fall on the same one.
func sweep(ctx context.Context, cfg Config, targets []Target, scenarios []Scenario) (*Report, error) {
	for _, s := range scenarios {
		if len(s.Languages) != 1 {
			return nil, fmt.Errorf("bench: a rate sweep runs scenarios of one language; %s has %d", s.Name, len(s.Languages))
		}
	}
	base := -1 // the baseline's index in targets; it runs at the lowest rate only
	for i, t := range targets {
		if t.Name() == cfg.Baseline {
			base = i
		}
	}
	if base < 0 {
		cfg.Baseline = "" // nothing to compare with
	}
	lowest := slices.Min(cfg.Rates)
	cfg.Rate = 0 // each phase has its own; the sweep section lists them
	rep := newReport(cfg, targets, scenarios)
	rep.Results = []Result{}
	sw := &Sweep{
		RatesPerS:   slices.Clone(cfg.Rates),
		TargetOrder: "one after the other at each rate, in an order shuffled per rate from the seed",
		Served:      "right answers per second of measured time: the longer of sent/offered rate and first due time to last answer",
		Cores:       runtime.NumCPU(),
		Mark:        ceilingMark,
		Ceilings:    []Ceiling{},
		Points:      []SweepPoint{},
	}
	rep.Sweep = sw
	swept := len(targets) // the targets run at every rate
	if base >= 0 {
		swept--
	}
	steps := len(scenarios) * len(cfg.Rates) * swept
	length := sweepLength(cfg, cfg.Rates, len(scenarios)*swept)
	if base >= 0 {
		steps += len(scenarios)
		length += sweepLength(cfg, []float64{lowest}, len(scenarios))
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "rate sweep: %d steps (%d scenarios x %d rates x %d targets", steps, len(scenarios), len(cfg.Rates), len(targets))
		if base >= 0 {
			fmt.Fprintf(cfg.Progress, ", the baseline %s at %s/s only", cfg.Baseline, fmtRate(lowest))
		}
		fmt.Fprintf(cfg.Progress, "), about %s\n", length.Round(time.Second))
	}
	step := 0
	for si, s := range scenarios {
		first := len(sw.Points)
		var cpu cpuTimes
		var err error
	rates:
		for ri, rate := range cfg.Rates {
			for _, ti := range targetOrder(cfg.Seed, si, ri, len(targets)) {
				if ti == base && rate != lowest {
					continue
				}
				step++
				c := cfg
				c.Rate = rate
				p := newPhase(c, targets[ti:ti+1], s, step)
				p.label = fmt.Sprintf("%s %g/s %s (%d/%d)", s.Name, rate, targets[ti].Name(), step, steps)
				err = p.run(ctx)
				sw.Points = append(sw.Points, p.sweepPoint(step, err != nil))
				cpu.add(targets[ti].Name(), p)
				if err != nil {
					break rates
				}
			}
		}
		ceil := cpu.ceiling(s, sw.Cores)
		sw.Ceilings = append(sw.Ceilings, ceil)
		pts := sw.Points[first:]
		markPoints(pts, ceil, sw.Mark)
		sortPoints(pts, targets, cfg.Rates)
		if err != nil {
			return rep.end(err)
		}
	}
	return rep.end(nil)
}

// sweepLength estimates how long a sweep runs when each of rates is
// measured phases times.
func sweepLength(cfg Config, rates []float64, phases int) time.Duration {
	var d time.Duration
	for _, r := range rates {
		measured := cfg.Duration
		if cfg.Requests > 0 {
			measured = time.Duration(float64(cfg.Requests) / r * float64(time.Second))
		}
		d += cfg.Warmup + measured
	}
	return d * time.Duration(phases)
}

// targetOrder is the order of n targets at rate ri of scenario si.
func targetOrder(seed uint64, si, ri, n int) []int {
	return rand.New(rand.NewPCG(seed, uint64(si)<<32|uint64(ri))).Perm(n)
}

// sweepPoint sums up a one-target phase at its rate.
func (p *phase) sweepPoint(step int, interrupted bool) SweepPoint {
	r := p.results()[0]
	pt := SweepPoint{
		Scenario: r.Scenario, Target: r.Target, Step: step, OfferedPerS: p.cfg.Rate,
		Sent: r.Count, OK: r.OK, Errors: r.Errors, ErrorExamples: r.ErrorExamples,
		LatencyMs: r.LatencyMs, SendLagMs: r.SendLagMs, ServerMs: r.ServerMs, Interrupted: interrupted,
	}
	// The offered load spans sent/rate seconds; when answers lag, the
	// measured time runs on to the last answer.
	pt.MeasuredS = max(float64(r.Count)/p.cfg.Rate, r.WindowS)
	if pt.MeasuredS > 0 {
		pt.ServedPerS = float64(r.OK) / pt.MeasuredS
	}
	return pt
}

// markPoints sets each point's share of the ceiling and whether it is
// above the mark.
func markPoints(pts []SweepPoint, c Ceiling, mark float64) {
	if c.PerS <= 0 {
		return
	}
	for i := range pts {
		pts[i].CeilingShare = pts[i].OfferedPerS / c.PerS
		pts[i].AboveMark = pts[i].CeilingShare > mark
	}
}

// sortPoints orders a scenario's points by target, then by rate, both
// in the order given.
func sortPoints(pts []SweepPoint, targets []Target, rates []float64) {
	ti := map[string]int{}
	for i, t := range targets {
		ti[t.Name()] = i
	}
	slices.SortStableFunc(pts, func(a, b SweepPoint) int {
		if a.Target != b.Target {
			return ti[a.Target] - ti[b.Target]
		}
		return slices.Index(rates, a.OfferedPerS) - slices.Index(rates, b.OfferedPerS)
	})
}

// cpuTimes collects the CPU time the targets reported for right
// answers, warm-up and measured apart.
type cpuTimes struct {
	targets        []string
	warm, measured map[string][]float64
}

func (c *cpuTimes) add(target string, p *phase) {
	if c.warm == nil {
		c.warm, c.measured = map[string][]float64{}, map[string][]float64{}
	}
	if !slices.Contains(c.targets, target) {
		c.targets = append(c.targets, target)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.samples {
		switch {
		case s.kind != "" || s.cpuMs <= 0: // 0: the target did not measure it
		case s.warmup:
			c.warm[target] = append(c.warm[target], s.cpuMs)
		default:
			c.measured[target] = append(c.measured[target], s.cpuMs)
		}
	}
}

// ceiling is the scenario's ceiling from the warm-up answers, or from the
// measured ones when the warm-up had none.
func (c *cpuTimes) ceiling(s Scenario, cores int) Ceiling {
	out := Ceiling{Scenario: s.Name, Language: s.Languages[0], Cores: cores}
	from, byTarget := "warm-up", c.warm
	if count(c.warm) == 0 {
		from, byTarget = "measured", c.measured
	}
	var all []float64
	for _, t := range c.targets {
		all = append(all, byTarget[t]...)
	}
	if len(all) == 0 {
		return out
	}
	out.From, out.Samples = from, len(all)
	out.CPUTimeMs = median(all)
	out.PerS = ceilingPerS(cores, out.CPUTimeMs)
	if len(c.targets) > 1 {
		out.ByTargetMs = map[string]float64{}
		for _, t := range c.targets {
			if ms := byTarget[t]; len(ms) > 0 {
				out.ByTargetMs[t] = median(slices.Clone(ms))
			}
		}
	}
	return out
}

func count(m map[string][]float64) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// ceilingPerS is how many requests per second cores CPUs can serve when
// each costs cpuMs of CPU time; 0 when either is unknown.
func ceilingPerS(cores int, cpuMs float64) float64 {
	if cores < 1 || !(cpuMs > 0) {
		return 0
	}
	return float64(cores) * 1000 / cpuMs
}
