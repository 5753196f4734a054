package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Model is a load model.
type Model string

// Load models.
const (
	// Closed runs Concurrency callers, each sending its next request
	// when the previous one is answered.
	Closed Model = "closed"
	// Open sends Rate requests per second to each target whatever the
	// answers do; latency counts from each request's intended send time.
	Open Model = "open"
)

// Config sets up a run. Warmup, Duration and Requests apply to each
// scenario in turn.
type Config struct {
	Model       Model
	Concurrency int           // closed loop: concurrent callers, shared by the targets
	Rate        float64       // open loop: requests per second to each target
	Rates       []float64     // open-loop rate sweep: each rate in turn (see Sweep); Rate is then unused
	MaxInFlight int           // open loop: requests in flight at most; 0 means 1024
	Warmup      time.Duration // excluded from the results
	Duration    time.Duration // measured time per scenario
	Requests    int           // measured requests per scenario and target; overrides Duration
	Timeout     time.Duration // per request, on the client; 0 means 60 s
	JobTimeout  int           // seconds, sent with each request; 0 leaves the daemon's default
	Seed        uint64        // orders targets within rounds and draws mix programs
	Baseline    string        // the target others are compared with, e.g. "cold"
	Progress    io.Writer     // receives a carriage-return-updated progress line; nil for none
}

// Validate checks the settings without side effects.
func (c Config) Validate() error {
	var errs []error
	switch c.Model {
	case Closed:
		if c.Concurrency < 1 {
			errs = append(errs, fmt.Errorf("concurrency: must be >= 1, got %d", c.Concurrency))
		}
	case Open:
		if len(c.Rates) > 0 {
			if err := validRates(c.Rates); err != nil {
				errs = append(errs, fmt.Errorf("rates: %w", err))
			}
		} else if c.Rate <= 0 || c.Rate > maxRate {
			errs = append(errs, fmt.Errorf("rate: must be > 0 and <= %d per second, got %g", maxRate, c.Rate))
		}
		if c.MaxInFlight < 0 {
			errs = append(errs, fmt.Errorf("max in flight: must be >= 0, got %d", c.MaxInFlight))
		}
	default:
		errs = append(errs, fmt.Errorf("model: must be closed or open, got %q", c.Model))
	}
	if len(c.Rates) > 0 && c.Model != Open {
		errs = append(errs, fmt.Errorf("rates: a rate sweep runs the open loop; it cannot be combined with model %q", c.Model))
	}
	if c.Warmup < 0 {
		errs = append(errs, fmt.Errorf("warmup: must be >= 0, got %s", c.Warmup))
	}
	if c.Requests < 0 || (c.Requests == 0 && c.Duration <= 0) {
		errs = append(errs, errors.New("a positive duration or request count is required"))
	}
	if c.Timeout < 0 || c.JobTimeout < 0 {
		errs = append(errs, errors.New("timeouts: must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return 60 * time.Second
	}
	return c.Timeout
}

// Run runs each scenario in turn against every target, interleaved, and
// reports. With cfg.Rates set it runs a rate sweep instead (see Sweep).
// When ctx ends, or the daemon rate-limits the harness or
// refuses its key (ErrRateLimited, ErrUnauthorized), it stops and
// returns what it measured with the error.
func Run(ctx context.Context, cfg Config, targets []Target, scenarios []Scenario) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if len(targets) == 0 || len(scenarios) == 0 {
		return nil, errors.New("bench: at least one target and one scenario are required")
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if seen[t.Name()] {
			return nil, fmt.Errorf("bench: two targets are named %q", t.Name())
		}
		seen[t.Name()] = true
	}
	if len(cfg.Rates) > 0 {
		return sweep(ctx, cfg, targets, scenarios)
	}
	rep := newReport(cfg, targets, scenarios)
	for i, s := range scenarios {
		p := newPhase(cfg, targets, s, i)
		err := p.run(ctx)
		rep.Results = append(rep.Results, p.results()...)
		if err != nil {
			return rep.end(err)
		}
	}
	return rep.end(nil)
}

// sample is one request's outcome, times relative to the phase start.
type sample struct {
	target   int
	warmup   bool
	intended time.Duration // when it should have been sent
	sent     time.Duration // when it was sent
	done     time.Duration // when its answer (or error) came
	kind     string        // "" for a right answer
	detail   string
	timing   *Timing
	cpuMs    float64 // the program's CPU time as the target reported it; right answers only
}

// latency counts from the intended send time.
func (s sample) latency() time.Duration { return s.done - s.intended }

// phase runs one scenario against every target.
type phase struct {
	cfg     Config
	targets []Target
	scen    Scenario
	label   string // names the phase on the progress line; the scenario's name when empty
	seed    uint64
	start   time.Time
	abort   context.CancelCauseFunc

	next     atomic.Int64   // closed loop: next slot
	admitted []atomic.Int64 // closed loop with Requests: measured slots per target
	ok       []atomic.Int64 // progress: measured right answers per target
	failed   atomic.Int64   // progress: measured errors

	mu      sync.Mutex
	samples []sample // guarded by mu
}

func newPhase(cfg Config, targets []Target, s Scenario, index int) *phase {
	return &phase{
		cfg: cfg, targets: targets, scen: s,
		seed:     cfg.Seed ^ (uint64(index+1) * 0x9e3779b97f4a7c15),
		admitted: make([]atomic.Int64, len(targets)),
		ok:       make([]atomic.Int64, len(targets)),
	}
}

func (p *phase) run(parent context.Context) error {
	ctx, abort := context.WithCancelCause(parent)
	defer abort(nil)
	p.abort = abort
	p.start = time.Now()
	stopProgress := p.showProgress()
	if p.cfg.Model == Open {
		p.open(ctx)
	} else {
		p.closed(ctx)
	}
	stopProgress()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return parent.Err()
}

// round returns the target order and the program of round r: every
// target runs the same program in a round, in a random order.
func (p *phase) round(r int64) ([]int, Case) {
	order := rand.New(rand.NewPCG(p.seed, uint64(r)*2)).Perm(len(p.targets))
	c := p.scen.pick(rand.New(rand.NewPCG(p.seed, uint64(r)*2+1)))
	return order, c
}

func (p *phase) targetOf(slot int64) int {
	n := int64(len(p.targets))
	order, _ := p.round(slot / n)
	return order[slot%n]
}

// closed runs the closed loop: each caller takes the next slot when its
// previous request is answered.
func (p *phase) closed(ctx context.Context) {
	var wg sync.WaitGroup
	for range p.cfg.Concurrency {
		wg.Go(func() {
			for {
				slot, warm, ok := p.closedSlot(ctx)
				if !ok {
					return
				}
				now := time.Since(p.start)
				if s := p.do(ctx, slot, now, warm); s.kind == KindTransport {
					// A dead target fails at once; do not spin on it.
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
}

// closedSlot admits the next slot, or reports that the phase is over.
func (p *phase) closedSlot(ctx context.Context) (slot int64, warm, ok bool) {
	for ctx.Err() == nil {
		now := time.Since(p.start)
		warm := now < p.cfg.Warmup
		if p.cfg.Requests == 0 && !warm && now >= p.cfg.Warmup+p.cfg.Duration {
			return 0, false, false
		}
		slot := p.next.Add(1) - 1
		if warm || p.cfg.Requests == 0 {
			return slot, warm, true
		}
		if p.admitted[p.targetOf(slot)].Add(1) <= int64(p.cfg.Requests) {
			return slot, false, true
		}
		full := true
		for i := range p.admitted {
			full = full && p.admitted[i].Load() >= int64(p.cfg.Requests)
		}
		if full {
			return 0, false, false
		}
	}
	return 0, false, false
}

// open runs the open loop: slot k is due at k/(rate*targets) seconds
// after the start, whether or not earlier requests were answered. When
// MaxInFlight requests are outstanding the scheduler waits, and the
// requests it sends late still count their latency from when they were
// due.
func (p *phase) open(ctx context.Context) {
	n := int64(len(p.targets))
	interval := float64(time.Second) / (p.cfg.Rate * float64(n))
	roundUp := func(slots float64) int64 { k := int64(math.Ceil(slots - 1e-9)); return (k + n - 1) / n * n }
	warmSlots := roundUp(float64(p.cfg.Warmup) / interval)
	measured := int64(p.cfg.Requests) * n
	if p.cfg.Requests == 0 {
		measured = max(n, roundUp(float64(p.cfg.Duration)/interval))
	}
	inFlight := p.cfg.MaxInFlight
	if inFlight == 0 {
		inFlight = 1024
	}
	sem := make(chan struct{}, inFlight)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for slot := range warmSlots + measured {
		due := time.Duration(float64(slot) * interval)
		if wait := time.Until(p.start.Add(due)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			p.do(ctx, slot, due, slot < warmSlots)
		})
	}
}

// do runs one slot and records its sample. intended is when it was due.
func (p *phase) do(ctx context.Context, slot int64, intended time.Duration, warm bool) sample {
	n := int64(len(p.targets))
	order, c := p.round(slot / n)
	t := order[slot%n]
	req := c.Request
	if req.Timeout == 0 {
		req.Timeout = p.cfg.JobTimeout
	}
	s := sample{target: t, warmup: warm, intended: intended, sent: time.Since(p.start)}
	rctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	resp, err := p.targets[t].Do(rctx, req)
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	s.done = time.Since(p.start)
	if ctx.Err() != nil {
		return s // interrupted: not a measurement
	}
	switch {
	case err != nil:
		if fatal(err) {
			p.abort(err)
		}
		s.kind, s.detail = ErrorKind(err, timedOut), err.Error()
	default:
		if cerr := c.Check(resp); cerr != nil {
			s.kind, s.detail = ErrorKind(cerr, false), cerr.Error()
		} else {
			s.timing, s.cpuMs = resp.Timing, resp.CPUTimeMs
		}
	}
	if !warm {
		if s.kind == "" {
			p.ok[t].Add(1)
		} else {
			p.failed.Add(1)
		}
	}
	p.mu.Lock()
	p.samples = append(p.samples, s)
	p.mu.Unlock()
	return s
}
