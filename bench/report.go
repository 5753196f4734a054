package bench

import (
	"encoding/json"
	"io"
	"maps"
	"slices"
	"time"
)

// FormatVersion is the version of the JSON report's shape.
const FormatVersion = 1

// Report is every figure of a run. Its JSON form is what --json writes.
type Report struct {
	FormatVersion int             `json:"format_version"`
	Started       time.Time       `json:"started"`
	Finished      time.Time       `json:"finished"`
	Command       []string        `json:"command,omitempty"`
	Settings      Settings        `json:"settings"`
	Machine       Machine         `json:"machine"`
	Targets       []TargetInfo    `json:"targets"`
	Daemon        json.RawMessage `json:"daemon_environments,omitempty"` // GET /environments of the first daemon, as answered
	// Daemons holds GET /environments of every daemon target by name,
	// when there is more than one.
	Daemons     map[string]json.RawMessage `json:"daemon_environments_by_target,omitempty"`
	Results     []Result                   `json:"results"` // empty in a rate sweep
	Comparisons []Comparison               `json:"comparisons"`
	Sweep       *Sweep                     `json:"sweep,omitempty"` // a rate sweep's figures
	Interrupted bool                       `json:"interrupted,omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	Model       Model    `json:"model"`
	Concurrency int      `json:"concurrency,omitempty"`
	RatePerS    float64  `json:"rate_per_target_per_s,omitempty"`
	MaxInFlight int      `json:"max_in_flight,omitempty"`
	WarmupS     float64  `json:"warmup_s"`
	DurationS   float64  `json:"duration_s,omitempty"`
	Requests    int      `json:"requests_per_target,omitempty"`
	TimeoutS    float64  `json:"timeout_s"`
	JobTimeoutS int      `json:"job_timeout_s,omitempty"`
	Seed        uint64   `json:"seed"`
	Baseline    string   `json:"baseline,omitempty"`
	Scenarios   []string `json:"scenarios"`
	Percentiles string   `json:"percentiles"`
	Latency     string   `json:"latency"`
}

// TargetInfo names a target and says what it is.
type TargetInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Result is one target's figures in one scenario. Latency covers right
// answers only; every failure is counted in Errors by kind.
type Result struct {
	Scenario      string            `json:"scenario"`
	Target        string            `json:"target"`
	Count         int               `json:"count"` // measured requests, right or not
	OK            int               `json:"ok"`
	Errors        map[string]int    `json:"errors"`
	ErrorExamples map[string]string `json:"error_examples,omitempty"` // the first of each kind
	WindowS       float64           `json:"window_s"`                 // the measured window, shared by the targets
	Throughput    float64           `json:"throughput_per_s"`         // right answers per second of the window
	LatencyMs     Latency           `json:"latency_ms"`
	ServerMs      *Server           `json:"server_ms,omitempty"`
	SendLagMs     *Latency          `json:"send_lag_ms,omitempty"` // open loop: sent minus due
	SamplesMs     []float64         `json:"samples_ms"`            // every right answer's latency, sorted
}

// Server is the medians of the daemon's own timing of the right answers.
type Server struct {
	Samples    int     `json:"samples"`
	QueueP50   float64 `json:"queue_p50"`
	AcquireP50 float64 `json:"acquire_p50"`
	RunP50     float64 `json:"run_p50"`
	TotalP50   float64 `json:"total_p50"`
}

// Comparison sets a target against the baseline in one scenario. Ratio
// is the baseline's p50 over the target's: 20 means the target's median
// request took a twentieth of the baseline's. In a rate sweep both were
// measured at RatePerS, the lowest offered rate, one after the other.
type Comparison struct {
	Scenario      string  `json:"scenario"`
	Target        string  `json:"target"`
	Baseline      string  `json:"baseline"`
	RatePerS      float64 `json:"rate_per_s,omitempty"` // a rate sweep's: where both were measured
	TargetP50Ms   float64 `json:"target_p50_ms"`
	BaselineP50Ms float64 `json:"baseline_p50_ms"`
	Ratio         float64 `json:"ratio"`
}

func newReport(cfg Config, targets []Target, scenarios []Scenario) *Report {
	r := &Report{
		FormatVersion: FormatVersion,
		Started:       time.Now().UTC(),
		Machine:       LocalMachine(),
		Settings: Settings{
			Model:       cfg.Model,
			WarmupS:     cfg.Warmup.Seconds(),
			Requests:    cfg.Requests,
			TimeoutS:    cfg.timeout().Seconds(),
			JobTimeoutS: cfg.JobTimeout,
			Seed:        cfg.Seed,
			Baseline:    cfg.Baseline,
			Percentiles: "nearest-rank over every measured right answer",
			Latency:     "from the intended send time to the end of the answer",
		},
	}
	if cfg.Requests == 0 {
		r.Settings.DurationS = cfg.Duration.Seconds()
	}
	if cfg.Model == Open {
		r.Settings.RatePerS, r.Settings.MaxInFlight = cfg.Rate, cfg.MaxInFlight
	} else {
		r.Settings.Concurrency = cfg.Concurrency
	}
	for _, s := range scenarios {
		r.Settings.Scenarios = append(r.Settings.Scenarios, s.Name)
	}
	for _, t := range targets {
		info := TargetInfo{Name: t.Name()}
		if d, ok := t.(Describer); ok {
			info.Description = d.Describe()
		}
		r.Targets = append(r.Targets, info)
	}
	return r
}

// end finishes the report of a run that ended with err (nil: it ran to
// the end; otherwise it is marked interrupted) and returns both.
func (r *Report) end(err error) (*Report, error) {
	r.Interrupted = err != nil
	r.finish()
	return r, err
}

// finish stamps the end and computes the comparisons.
func (r *Report) finish() {
	r.Finished = time.Now().UTC()
	r.Comparisons = r.Comparisons[:0]
	// A run's results, or a sweep's points, each at its rate (0 in a run).
	type measured struct {
		scenario, target string
		rate             float64
		ok               int
		p50              float64
	}
	var all []measured
	for _, res := range r.Results {
		all = append(all, measured{res.Scenario, res.Target, 0, res.OK, res.LatencyMs.P50})
	}
	if r.Sweep != nil {
		for _, p := range r.Sweep.Points {
			all = append(all, measured{p.Scenario, p.Target, p.OfferedPerS, p.OK, p.LatencyMs.P50})
		}
	}
	base := r.Settings.Baseline
	for _, b := range all {
		if b.target != base || b.ok == 0 {
			continue
		}
		for _, t := range all {
			if t.scenario != b.scenario || t.rate != b.rate || t.target == base || t.ok == 0 || t.p50 <= 0 {
				continue
			}
			r.Comparisons = append(r.Comparisons, Comparison{
				Scenario: b.scenario, Target: t.target, Baseline: base, RatePerS: t.rate,
				TargetP50Ms: t.p50, BaselineP50Ms: b.p50, Ratio: b.p50 / t.p50,
			})
		}
	}
}

// comparison finds the comparison of target in scenario.
func (r *Report) comparison(scenario, target string) (Comparison, bool) {
	for _, c := range r.Comparisons {
		if c.Scenario == scenario && c.Target == target {
			return c, true
		}
	}
	return Comparison{}, false
}

// scenarios lists the scenario names in run order.
func (r *Report) scenarios() []string {
	var out []string
	for _, res := range r.Results {
		if !slices.Contains(out, res.Scenario) {
			out = append(out, res.Scenario)
		}
	}
	return out
}

// WrongOutputs counts the wrong answers of the whole run.
func (r *Report) WrongOutputs() int {
	n := 0
	for _, res := range r.Results {
		n += res.Errors[KindWrongOutput]
	}
	if r.Sweep != nil {
		for _, p := range r.Sweep.Points {
			n += p.Errors[KindWrongOutput]
		}
	}
	return n
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// results turns the phase's samples into one Result per target.
func (p *phase) results() []Result {
	p.mu.Lock()
	samples := slices.Clone(p.samples)
	p.mu.Unlock()

	// The measured window runs from the first measured request's due
	// time to the last measured answer; the targets share it.
	var from, to time.Duration
	first := true
	for _, s := range samples {
		if s.warmup {
			continue
		}
		if first || s.intended < from {
			from = s.intended
		}
		if first || s.done > to {
			to = s.done
		}
		first = false
	}
	window := (to - from).Seconds()

	out := make([]Result, 0, len(p.targets))
	for i, t := range p.targets {
		res := Result{Scenario: p.scen.Name, Target: t.Name(), WindowS: window, SamplesMs: []float64{},
			Errors: map[string]int{KindWrongOutput: 0, KindTimeout: 0, KindTransport: 0}}
		var queue, acquire, run, total, lag []float64
		for _, s := range samples {
			if s.target != i || s.warmup {
				continue
			}
			res.Count++
			lag = append(lag, ms(s.sent-s.intended))
			if s.kind != "" {
				res.Errors[s.kind]++
				if res.ErrorExamples == nil {
					res.ErrorExamples = map[string]string{}
				}
				if _, ok := res.ErrorExamples[s.kind]; !ok {
					res.ErrorExamples[s.kind] = s.detail
				}
				continue
			}
			res.OK++
			res.SamplesMs = append(res.SamplesMs, ms(s.latency()))
			if s.timing != nil {
				queue = append(queue, s.timing.QueueMs)
				acquire = append(acquire, s.timing.AcquireMs)
				run = append(run, s.timing.RunMs)
				total = append(total, s.timing.TotalMs)
			}
		}
		res.LatencyMs = Summarize(res.SamplesMs)
		if window > 0 {
			res.Throughput = float64(res.OK) / window
		}
		if len(total) > 0 {
			res.ServerMs = &Server{Samples: len(total), QueueP50: median(queue), AcquireP50: median(acquire),
				RunP50: median(run), TotalP50: median(total)}
		}
		if p.cfg.Model == Open && len(lag) > 0 {
			l := Summarize(lag)
			res.SendLagMs = &l
		}
		out = append(out, res)
	}
	return out
}

// errorKinds lists a result's error kinds with a count, sorted.
func (r Result) errorKinds() []string { return errorKinds(r.Errors) }

// errorKinds lists the kinds of errs with a count, sorted.
func errorKinds(errs map[string]int) []string {
	return slices.DeleteFunc(slices.Sorted(maps.Keys(errs)), func(k string) bool { return errs[k] == 0 })
}

// Errored counts the failed requests.
func (r Result) Errored() int { return r.Count - r.OK }
