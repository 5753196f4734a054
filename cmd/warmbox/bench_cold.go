package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/warmbox/warmbox/bench"
	"github.com/warmbox/warmbox/daemon"
	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/runner/wire"
)

// engineFacts describe the engine, for the report.
type engineFacts struct{ Engine, EngineAPI, Runtime, Cgroup string }

// benchEngine is the engine adapter a baseline runs on, with the
// daemon's config and a Runtime per language built from the same spec
// the daemon would use, so the sandbox flags are the same.
type benchEngine struct {
	eng   *engine.Engine
	langs map[string]benchLanguage
	facts engineFacts
}

type benchLanguage struct {
	lang dispatch.Language
	rt   *engine.Runtime
}

// openBenchEngine opens the engine for the baselines of langs, from the
// daemon's config at cfgPath. handoff, when not empty, overrides each
// language's hand-off mode. The returned close reaps what a run leaves
// behind.
func openBenchEngine(ctx context.Context, cfgPath, handoff string, langs []string) (*benchEngine, func(), error) {
	cfg, err := daemon.LoadConfig(cfgPath, os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	runnerPath, err := daemon.ResolveRunner(cfg.Engine.RunnerPath)
	if err != nil {
		return nil, nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := engine.New(engine.Options{Host: cfg.Engine.Host, RunnerPath: runnerPath, Instance: uuid.NewString(), Scope: "bench", Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return nil, nil, fmt.Errorf("no Docker engine answers (%w); start one with deploy/host/engine.sh", err)
	}
	closeEng := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if n, err := eng.Reap(rctx, true); err != nil || n > 0 {
			fmt.Fprintf(os.Stderr, "warmbox bench: removed %d leftover baseline containers (%v)\n", n, err)
		}
		eng.Close()
	}
	be := &benchEngine{eng: eng, langs: map[string]benchLanguage{}}
	for _, name := range langs {
		l, ok := cfg.Languages[name]
		if !ok || !l.Enabled {
			closeEng()
			return nil, nil, fmt.Errorf("language %q is not configured (see warmbox config)", name)
		}
		if _, err := eng.Image(ctx, l.Image); err != nil {
			closeEng()
			return nil, nil, err
		}
		spec := l.Spec(name)
		spec.Handoff = cmp.Or(handoff, spec.Handoff)
		be.langs[name] = benchLanguage{lang: l.DispatchLanguage(name), rt: eng.Sandboxes(spec)}
	}
	if info, err := eng.Info(ctx); err == nil {
		be.facts = engineFacts{Engine: "Docker " + info.Version, EngineAPI: "API " + info.APIVersion, Cgroup: "cgroup v" + info.CgroupV}
	}
	be.facts.Runtime = dockerCLI("info", "--format", "{{.DefaultRuntime}}")
	if l, ok := cfg.Languages[langs[0]]; ok && l.Runtime != "" {
		be.facts.Runtime = l.Runtime
	}
	return be, closeEng, nil
}

// language is the baseline's language of a request.
func (be *benchEngine) language(name string) (benchLanguage, error) {
	s, ok := be.langs[name]
	if !ok {
		return benchLanguage{}, bench.WithKind("unknown_language", fmt.Errorf("no baseline runtime for %q", name))
	}
	return s, nil
}

// coldTarget builds the cold baseline on the engine adapter: each
// request runs in a new container with the sandbox settings the daemon
// would use for its language (from the same config), and the same
// runner and job. The returned close reaps what a run leaves behind.
func coldTarget(ctx context.Context, cfgPath string, langs []string) (*bench.Func, engineFacts, func(), error) {
	be, closeEng, err := openBenchEngine(ctx, cfgPath, "", langs)
	if err != nil {
		return nil, engineFacts{}, nil, err
	}
	run := func(ctx context.Context, req bench.Request) (bench.Response, error) {
		s, err := be.language(req.Environment)
		if err != nil {
			return bench.Response{}, err
		}
		timeout := s.lang.Limits.Timeout
		if req.Timeout > 0 {
			timeout = min(time.Duration(req.Timeout)*time.Second, s.lang.Limits.MaxTimeout)
		}
		names := make([]string, 0, len(req.Files))
		for n := range req.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		files := make([]wire.File, 0, len(names))
		for _, n := range names {
			files = append(files, wire.File{Name: n, Content: []byte(req.Files[n])})
		}
		job := dispatch.Job(s.lang, dispatch.Request{Language: req.Environment, Code: req.Code, Files: files,
			Args: req.Args, Stdin: []byte(req.Stdin), Timeout: timeout})
		res, err := s.rt.RunCold(ctx, job)
		switch {
		case err != nil && ctx.Err() != nil:
			return bench.Response{}, fmt.Errorf("cold run: %w", ctx.Err())
		case err != nil:
			return bench.Response{}, bench.WithKind("engine", err)
		case res.Error != "":
			return bench.Response{}, bench.WithKind("rejected", errors.New(res.Error))
		}
		return coldResponse(res), nil
	}
	desc := "a fresh container per request (create, start, run, remove) with the same sandbox flags and runner"
	return bench.NewFunc("cold", desc, run), be.facts, closeEng, nil
}

// coldResponse gives a cold result the daemon's answer shape. It has no
// server timing: there is no server, queue or pool, only the client's
// measure of the container's whole life.
func coldResponse(res wire.Result) bench.Response {
	out := bench.Response{
		Stdout: string(res.Stdout), Stderr: string(res.Stderr), Signal: res.Signal,
		TimedOut: res.TimedOut, OOMKilled: res.OOMKilled,
		Truncated: bench.Truncated{Stdout: res.StdoutTruncated, Stderr: res.StderrTruncated},
		CPUTimeMs: res.CPUTimeMs, MemoryPeakKB: res.MemoryPeakKB,
	}
	if res.Signal == "" {
		code := res.ExitCode
		out.ExitCode = &code
	}
	out.Status = res.Status()
	return out
}
