package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/warmbox/warmbox/bench"
)

// benchFlags are `warmbox bench`'s settings.
type benchFlags struct {
	url, key, config                 string
	targets, langs, scenarios, mix   string
	file, model, rates               string
	concurrency, maxInFlight, reqs   int
	rate                             float64
	duration, warmup, timeout, ready time.Duration
	jobTimeout                       int
	seed                             uint64
	jsonPath, plotPath, outDir       string
	progress                         bool
	set                              map[string]bool // the flags given on the command line
}

const startHint = "start it with `WARMBOX_RATE_LIMIT_REQUESTS=0 make run` in another terminal"

func benchCmd(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var f benchFlags
	fs.StringVar(&f.url, "url", envOrDefault("WARMBOX_URL", bench.DefaultURL), "daemon URL (the target warm), or daemons to compare as NAME=URL,NAME=URL, each a target of its own (a bare URL in the list is named warm); loopback only (127.0.0.1, ::1, localhost)")
	fs.StringVar(&f.key, "key", os.Getenv("WARMBOX_API_KEY"), "API key, if the daemon requires one")
	fs.StringVar(&f.config, "config", os.Getenv("WARMBOX_CONFIG"), "config file for the cold and exec baselines' languages and limits (give the daemon's)")
	fs.StringVar(&f.targets, "targets", "warm,cold", "targets, interleaved: warm (every daemon of --url), a daemon's NAME from --url, cold (a fresh container per request; a --rates sweep leaves it out) and/or exec (a docker exec per request into a warm sandbox; a --rates sweep's default reference, at its lowest rate)")
	fs.StringVar(&f.langs, "lang", "python,node,bash", "languages of the built-in scenarios (or the language of --file)")
	fs.StringVar(&f.scenarios, "scenario", "hello,mix", "scenarios: hello, cpu, output, stdin, multifile (one phase per language), mix (one phase over all languages), or all; with --rates: hello unless given, and no mix")
	fs.StringVar(&f.mix, "mix", "hello=4,cpu=1,output=1,stdin=2,multifile=2", "weights of the mix scenario")
	fs.StringVar(&f.file, "file", "", "benchmark your own program instead of the built-ins (any answer with status success counts as right)")
	fs.StringVar(&f.model, "model", "closed", "load model: closed (--concurrency callers) or open (--rate arrivals per second, latency from the intended send time)")
	fs.IntVar(&f.concurrency, "concurrency", 1, "closed loop: concurrent callers, shared by the targets")
	fs.Float64Var(&f.rate, "rate", 10, "open loop: requests per second to each target")
	fs.StringVar(&f.rates, "rates", "", "open-loop rate sweep: offered rates in requests/s to each target, e.g. 1,5,20,50,100, run in that order; at each rate every daemon target runs alone for --warmup then --duration; reports served rate, ok/sent, errors and p50/p90/p99/max per rate, and the CPU ceiling (implies --model open)")
	fs.IntVar(&f.maxInFlight, "max-inflight", 256, "open loop: requests in flight at most; late ones still count from when they were due")
	fs.DurationVar(&f.duration, "duration", 12*time.Second, "measured time per scenario (with --rates: per scenario, rate and target)")
	fs.IntVar(&f.reqs, "requests", 0, "measured requests per scenario and target (overrides --duration)")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "warm-up per scenario (with --rates: per scenario, rate and target), excluded from the results")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "per-request timeout on the client")
	fs.IntVar(&f.jobTimeout, "job-timeout", 10, "timeout in seconds sent with each request")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the target order and the mix draws (0 picks one; the report records it)")
	fs.StringVar(&f.jsonPath, "json", "", "write every figure as JSON to this file")
	fs.StringVar(&f.plotPath, "plot", "", "draw the latency CDFs (with --rates: latency against offered rate) as SVG to this file")
	fs.StringVar(&f.outDir, "out", "", "write DIR/report.json and DIR/latency.svg (with --rates: DIR/sweep.svg)")
	fs.BoolVar(&f.progress, "progress", true, "show a progress line on stderr")
	fs.DurationVar(&f.ready, "wait-ready", 60*time.Second, "how long to wait for a warming daemon to turn ready")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: warmbox bench [flags]

Load-tests a warmbox daemon (target warm) against a cold baseline that runs
each request in a fresh container with the same sandbox flags (target cold),
interleaved in one run, and prints latency percentiles, throughput, errors
and the warm/cold ratio per scenario. Every answer is checked. The daemon
must run with its rate limit off: WARMBOX_RATE_LIMIT_REQUESTS=0 make run.

With --rates it sweeps offered rates instead, to find where the host
saturates: for each scenario (hello by default), each rate in turn, each
daemon target alone (--url NAME=URL,... compares several), an open-loop
phase of --warmup then --duration. One table per language shows offered
and served rate, ok/sent, errors by kind and p50/p90/p99/max; the ceiling
is cores / the median CPU time of one request as the daemon reports it,
and * marks rates above 60% of it. The exec baseline (a plain docker exec
of the interpreter per request into a warm sandbox, no runner) runs at the
lowest rate only, and each daemon's p50 there is compared with it; leave it
out with --targets warm. --out DIR writes DIR/sweep.svg.
  warmbox bench --rates 1,5,20,50,100 --duration 10s --out bench-results \
    --url default=http://127.0.0.1:8000,single=http://127.0.0.1:8001
See docs/BENCHMARKS.md.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "warmbox bench: unexpected argument %q (see warmbox bench -h)\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code, err := runBench(ctx, f, args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warmbox bench:", err)
	}
	return code
}

// runBench returns the exit code: 0, 1 when the run failed or an answer
// was wrong, 2 for bad flags.
func runBench(ctx context.Context, f benchFlags, args []string) (int, error) {
	rates, err := sweepFlags(&f)
	if err != nil {
		return 2, err
	}
	cfg := bench.Config{
		Model: bench.Model(f.model), Concurrency: f.concurrency, Rate: f.rate, Rates: rates, MaxInFlight: f.maxInFlight,
		Warmup: f.warmup, Duration: f.duration, Requests: f.reqs, Timeout: f.timeout, JobTimeout: f.jobTimeout,
		Seed: f.seed, Baseline: "cold",
	}
	if rates != nil {
		cfg.Baseline = "exec" // measured at the lowest rate only
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if f.progress {
		cfg.Progress = os.Stderr
	}
	if err := cfg.Validate(); err != nil {
		return 2, err
	}
	daemons, err := bench.ParseDaemons(f.url)
	if err != nil {
		return 2, fmt.Errorf("--url: %w", err)
	}
	targetNames, err := benchTargets(f.targets, daemons, rates != nil, f.set["targets"])
	if err != nil {
		return 2, err
	}
	langs, scenarios, err := benchScenarios(f)
	if err != nil {
		return 2, err
	}

	rig, code, err := openRig(ctx, f, daemons, targetNames, langs)
	defer rig.close()
	if err != nil {
		return code, err
	}

	rep, runErr := bench.Run(ctx, cfg, rig.targets, scenarios)
	if rep == nil {
		return 1, runErr
	}
	rep.Command = append([]string{"warmbox", "bench"}, args...)
	rep.Machine = rig.machine
	rep.Daemon = rig.environments[rig.firstDaemon]
	if len(rig.environments) > 1 {
		rep.Daemons = rig.environments
	}
	if f.progress {
		fmt.Fprintln(os.Stderr)
	}
	if err := rep.WriteTable(os.Stdout); err != nil {
		return 1, err
	}
	if err := writeOutputs(rep, f); err != nil {
		return 1, err
	}
	switch {
	case bench.IsRateLimited(runErr):
		return 1, fmt.Errorf("a daemon at %s answered 429 Too Many Requests: its rate limit is on (10 requests per 60 s per client by default), so nothing can be measured. Restart it with the limit off: `WARMBOX_RATE_LIMIT_REQUESTS=0 make run`", f.url)
	case runErr != nil:
		return 1, fmt.Errorf("run stopped early: %w", runErr)
	case rep.WrongOutputs() > 0:
		return 1, fmt.Errorf("%d wrong answers under load (see error_examples in the report)", rep.WrongOutputs())
	}
	return 0, nil
}

// benchRig is what a run drives: its targets, the machine's facts and
// each daemon's GET /environments.
type benchRig struct {
	targets      []bench.Target
	machine      bench.Machine
	environments map[string]json.RawMessage
	firstDaemon  string
	closers      []func()
}

// close releases the targets, the last opened first.
func (r *benchRig) close() {
	for _, c := range slices.Backward(r.closers) {
		c()
	}
}

// openRig opens the named targets: each daemon must answer, the cold
// baseline needs the engine. The returned rig is never nil; close it
// even when there is an error. The code is the exit code of the error.
func openRig(ctx context.Context, f benchFlags, daemons []bench.Daemon, names, langs []string) (*benchRig, int, error) {
	rig := &benchRig{machine: bench.LocalMachine(), environments: map[string]json.RawMessage{}}
	rig.machine.Warmbox = version
	for _, name := range names {
		if open, ok := map[string]func(context.Context, string, []string) (*bench.Func, engineFacts, func(), error){
			"cold": coldTarget, "exec": execTarget,
		}[name]; ok {
			target, facts, closeTarget, err := open(ctx, f.config, langs)
			if err != nil {
				return rig, 1, fmt.Errorf("%s baseline: %w (a sweep without it: --targets warm)", name, err)
			}
			rig.closers = append(rig.closers, closeTarget)
			m := &rig.machine
			m.Engine, m.EngineAPI, m.Runtime, m.Cgroup = facts.Engine, facts.EngineAPI, facts.Runtime, facts.Cgroup
			rig.targets = append(rig.targets, target)
			continue
		}
		i := slices.IndexFunc(daemons, func(d bench.Daemon) bool { return d.Name == name })
		h, err := bench.NewHTTP(name, daemons[i].URL, f.key, max(f.concurrency, f.maxInFlight))
		if err != nil {
			return rig, 2, err
		}
		rig.closers = append(rig.closers, h.Close)
		if err := h.Check(ctx, f.ready); err != nil {
			if errors.Is(err, bench.ErrNoDaemon) {
				which := ""
				if len(daemons) > 1 {
					which = "target " + name + ": "
				}
				return rig, 1, fmt.Errorf("no warmbox daemon answers at %s: %s\n(%s%v)", h.URL(), startHint, which, errors.Unwrap(err))
			}
			return rig, 1, err
		}
		if env, err := h.Get(ctx, "/environments"); err == nil {
			rig.environments[name] = env
		}
		rig.firstDaemon = cmp.Or(rig.firstDaemon, name)
		rig.targets = append(rig.targets, h)
	}
	if rig.machine.Engine == "" {
		rig.machine.Engine = dockerCLI("version", "--format", "Docker {{.Server.Version}}")
		rig.machine.Runtime = dockerCLI("info", "--format", "{{.DefaultRuntime}}")
	}
	return rig, 0, nil
}

// benchTargets resolves --targets against the daemons of --url, in the
// order given: warm stands for every daemon, a daemon's name for that
// one, cold for the cold baseline. A sweep leaves cold out, and says so
// when --targets was given.
func benchTargets(spec string, daemons []bench.Daemon, sweep, given bool) ([]string, error) {
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, t := range splitList(spec) {
		i := slices.IndexFunc(daemons, func(d bench.Daemon) bool { return d.Name == t })
		switch {
		case t == "cold" && sweep && !given:
			add("exec") // a sweep's reference in place of cold
		case t == "cold" && sweep:
			fmt.Fprintln(os.Stderr, "warmbox bench: --rates: leaving the cold baseline out: a sweep measures daemons (cold measures the engine's container start, not a pool; the exec baseline is a sweep's reference)")
		case t == "cold" || t == "exec":
			add(t)
		case t == bench.DaemonName:
			for _, d := range daemons {
				add(d.Name)
			}
		case i >= 0:
			add(t)
		default:
			names := []string{bench.DaemonName, "cold", "exec"}
			for _, d := range daemons {
				if d.Name != bench.DaemonName {
					names = append(names, d.Name)
				}
			}
			return nil, fmt.Errorf("--targets: unknown target %q (%s)", t, strings.Join(names, ", "))
		}
	}
	if len(out) == 0 || (sweep && !slices.ContainsFunc(out, func(t string) bool { return t != "exec" })) {
		return nil, errors.New("--targets: name at least one target (a --rates sweep needs a daemon)")
	}
	return out, nil
}

// benchScenarios builds the phases the flags ask for.
func benchScenarios(f benchFlags) ([]string, []bench.Scenario, error) {
	langs := splitList(f.langs)
	if f.file != "" {
		code, err := os.ReadFile(f.file)
		if err != nil {
			return nil, nil, fmt.Errorf("--file: %w", err)
		}
		lang := map[string]string{".py": "python", ".js": "node", ".mjs": "node", ".sh": "bash"}[filepath.Ext(f.file)]
		if f.set["lang"] {
			if len(langs) != 1 {
				return nil, nil, errors.New("--file takes exactly one --lang")
			}
			lang = langs[0]
		}
		if lang == "" {
			return nil, nil, fmt.Errorf("--file %s: say its language with --lang", f.file)
		}
		return []string{lang}, []bench.Scenario{bench.File(filepath.Base(f.file), lang, string(code))}, nil
	}
	if len(langs) == 0 {
		return nil, nil, errors.New("--lang: name at least one language")
	}
	kinds := splitList(f.scenarios)
	if slices.Contains(kinds, "all") {
		kinds = append(slices.Clone(bench.Kinds), "mix")
	}
	var out []bench.Scenario
	for _, k := range kinds {
		if k == "mix" {
			w, err := bench.ParseMix(f.mix)
			if err != nil {
				return nil, nil, fmt.Errorf("--mix: %w", err)
			}
			s, err := bench.Mix(langs, w)
			if err != nil {
				return nil, nil, fmt.Errorf("--mix: %w", err)
			}
			out = append(out, s)
			continue
		}
		for _, l := range langs {
			s, err := bench.Builtin(k, l)
			if err != nil {
				return nil, nil, fmt.Errorf("--scenario: %w", err)
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, nil, errors.New("--scenario: name at least one scenario")
	}
	return langs, out, nil
}

func writeOutputs(rep *bench.Report, f benchFlags) error {
	jsonPath, plotPath := f.jsonPath, f.plotPath
	plot, plotName := rep.WriteSVG, "latency.svg"
	if rep.Sweep != nil {
		plot, plotName = rep.WriteSweepSVG, "sweep.svg"
	}
	if f.outDir != "" {
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return err
		}
		jsonPath = cmp.Or(jsonPath, filepath.Join(f.outDir, "report.json"))
		plotPath = cmp.Or(plotPath, filepath.Join(f.outDir, plotName))
	}
	write := func(path string, render func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		out, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := render(out); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := out.Close(); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "wrote", path)
		return nil
	}
	return errors.Join(write(jsonPath, rep.WriteJSON), write(plotPath, plot))
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envOrDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dockerCLI asks the docker CLI for a fact; "" when it cannot.
func dockerCLI(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
