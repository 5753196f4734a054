package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/warmbox/warmbox/bench"
	"github.com/warmbox/warmbox/daemon"
	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/runner"
)

// engineFacts describe the engine, for the report.
type engineFacts struct{ Engine, EngineAPI, Runtime, Cgroup string }

// coldTarget builds the cold baseline on the engine adapter: each
// request runs in a new container with the sandbox settings the daemon
// would use for its language (from the same config), and the same
// runner and job. The returned close reaps what a run leaves behind.
func coldTarget(ctx context.Context, cfgPath string, langs []string) (*bench.Func, engineFacts, func(), error) {
	cfg, err := daemon.LoadConfig(cfgPath, os.Getenv)
	if err != nil {
		return nil, engineFacts{}, nil, err
	}
	runnerPath := cfg.Engine.RunnerPath
	if runnerPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, engineFacts{}, nil, fmt.Errorf("locating the runner: %w", err)
		}
		runnerPath = filepath.Join(filepath.Dir(exe), "warmbox-runner")
	}
	if runnerPath, err = filepath.Abs(runnerPath); err != nil {
		return nil, engineFacts{}, nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := engine.New(engine.Options{Host: cfg.Engine.Host, RunnerPath: runnerPath, Instance: uuid.NewString(), Scope: "bench", Logger: logger})
	if err != nil {
		return nil, engineFacts{}, nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return nil, engineFacts{}, nil, fmt.Errorf("no Docker engine answers (%w); start one with deploy/host/engine.sh", err)
	}
	closeEng := func() {
		rctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if n, err := eng.Reap(rctx, true); err != nil || n > 0 {
			fmt.Fprintf(os.Stderr, "warmbox bench: removed %d leftover cold containers (%v)\n", n, err)
		}
		eng.Close()
	}
	type served struct {
		lang dispatch.Language
		rt   *engine.Runtime
	}
	byName := map[string]served{}
	for _, name := range langs {
		l, ok := cfg.Languages[name]
		if !ok || !l.Enabled {
			closeEng()
			return nil, engineFacts{}, nil, fmt.Errorf("language %q is not configured (see warmbox config)", name)
		}
		if err := eng.HasImage(ctx, l.Image); err != nil {
			closeEng()
			return nil, engineFacts{}, nil, err
		}
		byName[name] = served{
			lang: dispatch.Language{Name: name, Image: l.Image, Runtime: l.Runtime, Command: l.Command, File: l.File, Env: l.Env, Limits: l.Limits},
			// The daemon's spec, field for field: RunCold builds its
			// container from it, so the sandbox flags are the same.
			rt: eng.Sandboxes(engine.Spec{
				Language: name, Image: l.Image, Runtime: l.Runtime, Limits: l.Limits,
				Handoff: l.Handoff, Command: l.Command, Env: l.Env, Bootstrap: l.Bootstrap,
			}),
		}
	}
	var facts engineFacts
	if info, err := eng.Info(ctx); err == nil {
		facts = engineFacts{Engine: "Docker " + info.Version, EngineAPI: "API " + info.APIVersion, Cgroup: "cgroup v" + info.CgroupV}
	}
	facts.Runtime = dockerCLI("info", "--format", "{{.DefaultRuntime}}")
	if l, ok := cfg.Languages[langs[0]]; ok && l.Runtime != "" {
		facts.Runtime = l.Runtime
	}

	run := func(ctx context.Context, req bench.Request) (bench.Response, error) {
		s, ok := byName[req.Environment]
		if !ok {
			return bench.Response{}, bench.WithKind("unknown_language", fmt.Errorf("no cold runtime for %q", req.Environment))
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
		files := make([]runner.File, 0, len(names))
		for _, n := range names {
			files = append(files, runner.File{Name: n, Content: []byte(req.Files[n])})
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
	return bench.NewFunc("cold", desc, run), facts, closeEng, nil
}

// coldResponse gives a cold result the daemon's answer shape. It has no
// server timing: there is no server, queue or pool, only the client's
// measure of the container's whole life.
func coldResponse(res runner.Result) bench.Response {
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
