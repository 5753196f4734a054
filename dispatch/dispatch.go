package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner/wire"
)

// Errors callers map to responses.
var (
	// ErrUnknownLanguage: no pool serves the requested language.
	ErrUnknownLanguage = errors.New("unknown language")
	// ErrCapacity: no sandbox became free before the caller's deadline.
	ErrCapacity = pool.ErrExhausted
	// ErrShuttingDown: the daemon is draining.
	ErrShuttingDown = pool.ErrClosed
	// ErrUnavailable: the language cannot be served now (sandbox creation
	// keeps failing, e.g. its image is gone or the engine is down, and no
	// sandbox is idle). Callers get it at once, waiters as soon as no
	// sandbox can come.
	ErrUnavailable = pool.ErrUnavailable
	// ErrSandboxLost: the sandbox died or the engine failed mid-job; the
	// program may have partly run. Retrying is safe: sandboxes have no
	// effects outside themselves.
	ErrSandboxLost = errors.New("sandbox lost")
	// ErrRejected: the runner refused the job (e.g. a file name).
	ErrRejected = errors.New("job rejected")
)

// killGrace is how long past a job's timeout the daemon waits for the
// runner's own answer before it destroys the sandbox itself.
const killGrace = 2 * time.Second

// Runtime is what a backend provides for one language.
type Runtime[S pool.Sandbox] interface {
	pool.Runtime[S]
	// Handoff runs one job in s, streamed to onOutput when it is not nil
	// (wire.Conn's Run and RunOnce say how). An error wrapping a
	// not-started sentinel (see Options.NotStarted) means no user code
	// ran.
	Handoff(ctx context.Context, s S, job wire.Job, onOutput wire.OutputFunc) (wire.Result, error)
}

// Language describes one served language.
type Language struct {
	Name    string
	Image   string
	Runtime string // OCI runtime; "" is the engine default
	Handoff string // exec | prestart
	Command []string
	File    string // name of the entry file, e.g. main.py
	Env     []string
	Limits  policy.Limits
	Pool    pool.Config
	// VersionCode is a program that prints the interpreter's version; it
	// is run once at start as a self-test.
	VersionCode string
	// Compile is a compiled language's compiler command (wire.Job's
	// Compile); nil for an interpreted one.
	Compile []string
	// Preload are the modules its pre-started interpreter imports ahead.
	Preload []string
	// Bootstrap names its pre-started interpreter (python, node, bash),
	// which also runs its sessions; "" when it has none.
	Bootstrap string
	// Packages are what its image holds ("name=version"), as the backend
	// reports them; nil when it cannot tell.
	Packages []string
}

// Request is one job, validated by the caller.
type Request struct {
	Language string
	Code     string
	Files    []wire.File // extra files besides the entry file
	Args     []string
	Stdin    []byte
	Timeout  time.Duration // resolved, within the language's limits
	// Lowered are limits the request lowered, checked by the caller
	// (policy.Limits.CheckLowered); zero fields keep the language's.
	Lowered policy.Lowered
	// ReturnFiles are patterns of files the program writes that come
	// back in the outcome's result (wire.Job.ReturnFiles), within the
	// language's return limits.
	ReturnFiles []string
	// OnOutput, when not nil, receives the program's output while it
	// runs, from the goroutine that runs the job: it must not block.
	// The outcome's result still holds the whole output. nil: the job
	// is not streamed.
	OnOutput wire.OutputFunc
}

// Outcome is a finished job.
type Outcome struct {
	Result    wire.Result
	SandboxID string
	Waited    bool
	Acquire   time.Duration
	Run       time.Duration
}

// Observer receives timings for metrics.
type Observer interface {
	AcquireWait(language string, d time.Duration)
	Handoff(language string, d time.Duration, err error)
}

// Dispatcher serves every configured language.
type Dispatcher[S pool.Sandbox] struct {
	langs      map[string]*served[S]
	names      []string
	notStarted error
	logger     *slog.Logger
	obs        Observer
	tracer     trace.Tracer
	sess       sessions[S]
}

type served[S pool.Sandbox] struct {
	Language
	rt   Runtime[S]
	pool *pool.Pool[S]

	mu      sync.Mutex
	version string
	selfErr string // last self-test failure, "" when it passed
}

// Options configure a Dispatcher.
type Options struct {
	// NotStarted is the backend's sentinel for a hand-off that failed
	// before any user code ran; such a hand-off is retried once on
	// another sandbox.
	NotStarted error
	Logger     *slog.Logger
	PoolObs    pool.Observer
	Obs        Observer
	// Host, when set, is shared by every pool: the idle budget and the
	// cap on concurrent creates across languages.
	Host *pool.Host
}

// New builds one pool per language. rts maps a language name to its
// backend runtime.
func New[S pool.Sandbox](langs []Language, rts map[string]Runtime[S], opts Options) (*Dispatcher[S], error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	d := &Dispatcher[S]{
		langs:      make(map[string]*served[S], len(langs)),
		notStarted: opts.NotStarted,
		logger:     logger,
		obs:        opts.Obs,
		tracer:     otel.Tracer("warmbox/dispatch"),
	}
	for _, l := range langs {
		rt, ok := rts[l.Name]
		if !ok {
			d.closeAll()
			return nil, fmt.Errorf("dispatch: no runtime for language %q", l.Name)
		}
		var popts []pool.Option
		if opts.Host != nil {
			popts = append(popts, pool.WithHost(opts.Host))
		}
		p, err := pool.New(l.Name, l.Pool, pool.Runtime[S](rt), opts.PoolObs, logger, popts...)
		if err != nil {
			d.closeAll()
			return nil, fmt.Errorf("dispatch: pool %s: %w", l.Name, err)
		}
		d.langs[l.Name] = &served[S]{Language: l, rt: rt, pool: p}
		d.names = append(d.names, l.Name)
	}
	sort.Strings(d.names)
	return d, nil
}

func (d *Dispatcher[S]) closeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = d.Close(ctx)
}

// Execute runs one job: acquire a sandbox (waiting at most until ctx's
// deadline), hand the job off, recycle the sandbox off the request path.
func (d *Dispatcher[S]) Execute(ctx context.Context, req Request) (Outcome, error) {
	l, ok := d.langs[req.Language]
	if !ok {
		return Outcome{}, fmt.Errorf("%w: %q", ErrUnknownLanguage, req.Language)
	}
	job := Job(l.Language, req)
	var out Outcome
	for attempt := 0; ; attempt++ {
		res, retry, err := d.attempt(ctx, l, job, req.OnOutput, &out)
		if retry && attempt == 0 {
			d.logger.Warn("sandbox failed before the job started; retrying on another", "language", l.Name, "err", err)
			continue
		}
		if err != nil {
			return out, err
		}
		out.Result = res
		return out, nil
	}
}

// attempt acquires one sandbox and hands the job to it, streamed to
// onOutput if not nil. retry reports that the hand-off failed before any
// user code ran (so before any output).
func (d *Dispatcher[S]) attempt(ctx context.Context, l *served[S], job wire.Job, onOutput wire.OutputFunc, out *Outcome) (wire.Result, bool, error) {
	// The pool bounds the wait (pool.max_wait): a saturated pool answers
	// at once rather than after seconds in a queue.
	start := time.Now()
	lease, err := l.pool.Acquire(ctx)
	waited := time.Since(start)
	out.Acquire += waited
	if d.obs != nil {
		d.obs.AcquireWait(l.Name, waited)
	}
	if err != nil {
		return wire.Result{}, false, err
	}
	out.Waited = out.Waited || lease.Waited() > 0
	sb := lease.Sandbox()
	out.SandboxID = sb.ID()

	ctx, span := d.tracer.Start(ctx, "sandbox.handoff",
		trace.WithLinks(trace.Link{SpanContext: lease.CreateSpan()}),
		trace.WithAttributes(
			attribute.String("warmbox.language", l.Name),
			attribute.String("warmbox.handoff", l.Handoff),
			attribute.String("warmbox.sandbox", shortID(sb.ID()))))
	defer span.End()

	// The runner enforces the timeout itself; the daemon's own deadline
	// is the backstop for a runner that cannot answer.
	runCtx, cancel := context.WithTimeout(ctx, job.MaxDuration()+killGrace)
	defer cancel()
	runStart := time.Now()
	res, err := l.rt.Handoff(runCtx, sb, job, onOutput)
	run := time.Since(runStart)
	out.Run += run
	if d.obs != nil {
		d.obs.Handoff(l.Name, run, err)
	}
	switch {
	case err == nil && res.Error != "":
		lease.Release()
		span.SetStatus(codes.Error, res.Error)
		return wire.Result{}, false, fmt.Errorf("%w: %s", ErrRejected, res.Error)
	case err == nil:
		if clamped := clampOutput(&res, job.Limits.OutputBytes); clamped {
			// The runner caps both streams itself: one that did not is
			// not the runner we ship, so its sandbox is not reused.
			d.logger.Warn("runner returned more output than its caps; clamped, sandbox destroyed",
				"language", l.Name, "sandbox", shortID(sb.ID()), "output_bytes", job.Limits.OutputBytes)
			lease.Discard(pool.ReasonUnhealthy)
		} else {
			lease.Release()
		}
		span.SetAttributes(
			attribute.Int("warmbox.exit_code", res.ExitCode),
			attribute.Bool("warmbox.timed_out", res.TimedOut),
			attribute.Bool("warmbox.truncated", res.StdoutTruncated || res.StderrTruncated))
		return res, false, nil
	}
	lease.Discard(pool.ReasonUnhealthy)
	span.RecordError(err)
	span.SetStatus(codes.Error, "hand-off failed")
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		// The runner did not answer by timeout+grace: the job outran its
		// deadline badly enough that the sandbox had to be destroyed.
		span.SetAttributes(attribute.Int("warmbox.exit_code", -1), attribute.Bool("warmbox.timed_out", true),
			attribute.Bool("warmbox.truncated", false))
		return wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true, WallMs: float64(run.Milliseconds())}}, false, nil
	}
	if ctx.Err() != nil {
		return wire.Result{}, false, fmt.Errorf("hand-off: %w", ctx.Err())
	}
	if errors.Is(err, wire.ErrForged) || errors.Is(err, wire.ErrFrameTooLarge) {
		// A frame the runner did not write for this request, or longer
		// than it writes: the job may have reached the runner's stdout
		// (docs/SECURITY.md F5). Never retried: the job may have run.
		d.logger.Warn("sandbox sent a frame that is not the runner's answer; sandbox destroyed",
			"language", l.Name, "sandbox", shortID(sb.ID()), "err", err)
		return wire.Result{}, false, fmt.Errorf("%w: %w", ErrSandboxLost, err)
	}
	if d.notStarted != nil && errors.Is(err, d.notStarted) {
		return wire.Result{}, true, fmt.Errorf("%w: %w", ErrSandboxLost, err)
	}
	return wire.Result{}, false, fmt.Errorf("%w: %w", ErrSandboxLost, err)
}

// clampOutput cuts each of res's streams to limit bytes and flags the
// ones it cut; it reports whether it cut any. The runner caps them
// already: this bounds what reaches the caller whatever a runner sends.
func clampOutput(res *wire.Result, limit int) bool {
	clamped := false
	for _, s := range []struct {
		out       *[]byte
		truncated *bool
	}{{&res.Stdout, &res.StdoutTruncated}, {&res.Stderr, &res.StderrTruncated}} {
		if len(*s.out) > limit {
			*s.out = (*s.out)[:limit:limit]
			*s.truncated = true
			clamped = true
		}
	}
	return clamped
}

// Job builds the runner's job for a request in language l. The cold
// benchmark baseline uses it too, so both paths run the same job.
func Job(l Language, req Request) wire.Job {
	files := make([]wire.File, 0, len(req.Files)+1)
	files = append(files, wire.File{Name: l.File, Content: []byte(req.Code)})
	files = append(files, req.Files...)
	job := wire.Job{
		Files:   files,
		Command: l.Command,
		Entry:   l.File,
		Args:    req.Args,
		Stdin:   req.Stdin,
		Env:     l.Env,
		Limits: wire.Limits{
			TimeoutMs:     req.Timeout.Milliseconds(),
			OutputBytes:   l.Limits.OutputBytes,
			FileSizeBytes: l.Limits.FileSizeMB << 20,
			NoFile:        l.Limits.NoFile,
			ReturnFiles:   l.Limits.MaxReturnFiles,
			ReturnBytes:   l.Limits.MaxReturnBytes,
		},
		ReturnFiles: req.ReturnFiles,
	}
	low := req.Lowered
	if len(l.Compile) > 0 {
		job.Compile = compileStage(l, low)
	}
	if low.OutputBytes > 0 {
		job.Limits.OutputBytes = min(low.OutputBytes, job.Limits.OutputBytes)
	}
	job.Limits.DataBytes = dataBytes(low.MemoryMB, l.Limits.MemoryMB, l.Limits.SandboxMemoryMB())
	job.Limits.CPUSeconds = wholeSeconds(low.CPUTime)
	job.Limits.Processes = low.Processes
	return job
}

// compileStage is a compiled language's compile stage with the
// language's compile limits, as the request lowered them.
func compileStage(l Language, low policy.Lowered) *wire.Compile {
	timeout := l.Limits.CompileTimeout
	if low.CompileTimeout > 0 {
		timeout = min(timeout, low.CompileTimeout)
	}
	cpu := l.Limits.CompileCPUTime
	if low.CompileCPUTime > 0 {
		cpu = low.CompileCPUTime
	}
	return &wire.Compile{
		Command:    l.Compile,
		TimeoutMs:  timeout.Milliseconds(),
		DataBytes:  dataBytes(low.CompileMemoryMB, l.Limits.CompilerMemoryMB(), l.Limits.SandboxMemoryMB()),
		CPUSeconds: wholeSeconds(cpu),
	}
}

// dataBytes is a stage's RLIMIT_DATA: what the request asked for, else
// the stage's own memory when the sandbox holds more than that (its
// memory cgroup is sized for the hungrier stage), else none (the
// cgroup is the bound).
func dataBytes(askedMB, stageMB, sandboxMB int64) int64 {
	switch {
	case askedMB > 0:
		return min(askedMB, stageMB) << 20
	case stageMB < sandboxMB:
		return stageMB << 20
	}
	return 0
}

// wholeSeconds rounds a CPU time up to RLIMIT_CPU's whole seconds.
func wholeSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
