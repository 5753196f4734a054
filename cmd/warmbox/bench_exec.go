package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/warmbox/warmbox/bench"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/sandbox"
)

// bareExecScript writes the program it reads on stdin to a fresh
// directory under the sandbox's /tmp, as the file the language expects
// ($0), and runs the language's command on it with the request's
// arguments ("$@" holds the command first).
const bareExecScript = `d=$(mktemp -d) && cat > "$d/$0" && cd "$d" && exec "$@"`

// execTarget builds the exec baseline: each request is one plain docker
// exec (create, attach, inspect) of the language's interpreter on the
// program, into a warm sandbox of that language that the target keeps
// for the whole run and that no other request uses meanwhile, with the daemon's sandbox flags, as the sandbox's
// runner uid, without the runner. It is what warm latency is measured
// against in a sweep: the cost of the engine's per-request path with no
// container start. The returned close removes the sandboxes.
func execTarget(ctx context.Context, cfgPath string, langs []string) (*bench.Func, engineFacts, func(), error) {
	be, closeEng, err := openBenchEngine(ctx, cfgPath, sandbox.HandoffExec, langs)
	if err != nil {
		return nil, engineFacts{}, nil, err
	}
	// Each request has a sandbox to itself, so that requests never share
	// one sandbox's CPU quota: a free one, or a new one (its creation
	// counts in that request's latency, normally in the warm-up).
	var mu sync.Mutex
	free := map[string][]*engine.Container{}
	all := map[*engine.Container]*engine.Runtime{} // every sandbox made, for the close
	take := func(ctx context.Context, lang string, rt *engine.Runtime) (*engine.Container, error) {
		mu.Lock()
		if n := len(free[lang]); n > 0 {
			c := free[lang][n-1]
			free[lang] = free[lang][:n-1]
			mu.Unlock()
			return c, nil
		}
		mu.Unlock()
		c, err := rt.Create(ctx)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		all[c] = rt
		mu.Unlock()
		return c, nil
	}
	put := func(lang string, c *engine.Container) {
		mu.Lock()
		defer mu.Unlock()
		free[lang] = append(free[lang], c)
	}
	run := func(ctx context.Context, req bench.Request) (bench.Response, error) {
		s, err := be.language(req.Environment)
		if err != nil {
			return bench.Response{}, err
		}
		if len(req.Files) > 0 || req.Stdin != "" {
			return bench.Response{}, bench.WithKind("rejected", errors.New("the exec baseline runs one file with no stdin (the program goes in on stdin); use the hello, cpu or output scenario"))
		}
		c, err := take(ctx, req.Environment, s.rt)
		if err != nil {
			return bench.Response{}, bench.WithKind("engine", err)
		}
		argv := append([]string{"sh", "-c", bareExecScript, s.lang.File}, s.lang.Command...)
		argv = append(append(argv, s.lang.File), req.Args...)
		res, err := s.rt.BareExec(ctx, c, argv, []byte(req.Code))
		if err == nil {
			put(req.Environment, c) // after an error it may still run: leave it out
		}
		switch {
		case err != nil && ctx.Err() != nil:
			return bench.Response{}, fmt.Errorf("exec: %w", ctx.Err())
		case err != nil:
			return bench.Response{}, bench.WithKind("engine", err)
		}
		code := res.ExitCode
		out := bench.Response{Stdout: string(res.Stdout), Stderr: string(res.Stderr), ExitCode: &code, Status: "success"}
		if code != 0 {
			out.Status = "error"
		}
		return out, nil
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for c, rt := range all {
			if err := rt.Destroy(ctx, c); err != nil {
				fmt.Fprintf(os.Stderr, "warmbox bench: removing an exec baseline sandbox: %v\n", err)
			}
		}
		closeEng()
	}
	desc := "a plain docker exec (create, attach, inspect) of the interpreter on the program per request, into a warm sandbox of the language that no other request uses meanwhile, with the same sandbox flags, no runner"
	return bench.NewFunc("exec", desc, run), be.facts, closeAll, nil
}
