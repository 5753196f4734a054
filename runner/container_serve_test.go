package runner

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// Serve mode against exec mode: the same programs, the results compared
// field by field (timings aside). Each mode has one sandbox per
// language and resets it between jobs, so every serve-mode job after
// the first runs in an interpreter pre-started by a reset.

// modeCase is one program per language; a language without code skips
// the case.
type modeCase struct {
	name  string
	code  map[string]string
	edit  func(lang string, j *wire.Job)
	check func(t *testing.T, lang string, res wire.Result)
}

var modeCases = []modeCase{
	{name: "hello", code: map[string]string{
		"python": `print("hello")`,
		"node":   `console.log("hello")`,
		"bash":   `echo hello`,
	}, check: wantStdout("hello\n")},
	{name: "main module", code: map[string]string{
		"python": "print(__name__, __file__, __package__, __spec__, __cached__, type(__loader__).__name__, __loader__.path)\nprint(list(globals()))",
		"node":   "console.log(require.main === module, module.id, __filename, module.parent, process.mainModule === module, module.filename)",
		"bash":   `echo "$0" "${BASH_SOURCE[0]}" "$BASH_ARGV0" "$SHLVL" "$_"`,
	}},
	{name: "argv", code: map[string]string{
		"python": "import sys\nprint(sys.argv, sys.orig_argv, sys.path[0], sys.flags.interactive)",
		"node":   "console.log(JSON.stringify(process.argv), process.execArgv, process.argv0, typeof process._eval)",
		"bash":   `printf '[%s]' "$0" "$@"; echo " $#"`,
	}, edit: func(_ string, j *wire.Job) { j.Args = []string{"a", "b c", "", "--x", "\u00fc"} }},
	{name: "stdin", code: map[string]string{
		"python": "import sys\nsys.stdout.write(sys.stdin.read())",
		"node":   "process.stdin.pipe(process.stdout)",
		"bash":   "read -r first; echo \"first=$first\"; cat",
	}, edit: func(_ string, j *wire.Job) { j.Stdin = []byte("line1\nline2\x00\n\u00e9") }},
	{name: "import between files", code: map[string]string{
		"python": "import helper\nfrom pkg import mod\nprint(helper.X, mod.Y, helper.__file__)",
		"node":   "const h = require('./helper');\nconsole.log(h.x, require('./pkg/mod').y, require.resolve('./helper'))",
		"bash":   "source ./helper.sh\n. pkg/mod.sh\necho \"$X $Y\"",
	}, edit: func(lang string, j *wire.Job) {
		files := map[string][]wire.File{
			"python": {{Name: "helper.py", Content: []byte("X = 42\n")}, {Name: "pkg/mod.py", Content: []byte("Y = 'y'\n")}},
			"node":   {{Name: "helper.js", Content: []byte("exports.x = 42;\n")}, {Name: "pkg/mod.js", Content: []byte("exports.y = 'y';\n")}},
			"bash":   {{Name: "helper.sh", Content: []byte("X=42\n")}, {Name: "pkg/mod.sh", Content: []byte("Y=y\n")}},
		}
		j.Files = append(j.Files, files[lang]...)
	}},
	{name: "uncaught exception", code: map[string]string{
		"python": "def f():\n    raise ValueError('boom')\n\nf()\n",
		"node":   "function f() {\n  throw new Error('boom');\n}\nf();\n",
		"bash":   "set -e\necho before\nls /nonexistent-dir\necho never",
	}, check: func(t *testing.T, lang string, res wire.Result) {
		wantIn := map[string]string{"python": "ValueError: boom", "node": "Error: boom", "bash": "No such file"}
		if !strings.Contains(string(res.Stderr), wantIn[lang]) || res.ExitCode == 0 {
			t.Errorf("got exit %d stderr %q, want a failure with %q", res.ExitCode, res.Stderr, wantIn[lang])
		}
	}},
	{name: "chained exception and syntax error in a module", code: map[string]string{
		"python": "try:\n    import broken\nexcept SyntaxError as e:\n    raise RuntimeError('chained') from e\n",
		"node":   "try { require('./broken'); } catch (e) { throw new Error('chained', { cause: e }); }",
	}, edit: func(lang string, j *wire.Job) {
		name := map[string]string{"python": "broken.py", "node": "broken.js"}[lang]
		j.Files = append(j.Files, wire.File{Name: name, Content: []byte("def (\n")})
	}},
	{name: "syntax error in the entry", code: map[string]string{
		"python": "print('never')\ndef (\n",
		"node":   "console.log('never');\nfunction (\n",
		"bash":   "echo once\nif then\n",
	}},
	{name: "exit 3", code: map[string]string{
		"python": "import sys\nprint('x')\nsys.exit(3)",
		"node":   "console.log('x');\nprocess.exit(3);",
		"bash":   "echo x\nexit 3",
	}, check: func(t *testing.T, _ string, res wire.Result) { want(t, "exit code", res.ExitCode, 3) }},
	{name: "exit with a message", code: map[string]string{
		"python": "import sys\nsys.exit('bye')",
		"node":   "process.exitCode = 4; console.error('bye')",
	}},
	{name: "unflushed output at exit", code: map[string]string{
		"python": "import sys, atexit\natexit.register(lambda: print(' atexit', '__file__' in globals()))\nsys.stdout.write('no newline')\nsys.stderr.write('err no newline')",
		"node":   "process.stdout.write('no newline'); process.stderr.write('err no newline'); process.on('exit', () => process.stdout.write(' exit'));",
		"bash":   "printf 'no newline'; printf 'err' >&2",
	}},
	{name: "pickle of a class defined in main", code: map[string]string{
		"python": "import pickle, sys\nclass C:\n    def __init__(self):\n        self.x = 5\nc = pickle.loads(pickle.dumps(C()))\nprint(type(c).__module__, c.x, sys.modules['__main__'].C is C)",
	}},
	{name: "globals", code: map[string]string{
		"python": "import sys\nprint(sorted(sys.modules))\nprint(sorted(sys.path_importer_cache))",
		"node":   "console.log(JSON.stringify(Object.getOwnPropertyNames(globalThis).sort()), typeof fs, typeof exports, Object.keys(require.cache))",
		"bash":   "compgen -v | grep -v -E '^(BASHPID|RANDOM|SRANDOM|EPOCH|SECONDS|LINENO|_)' | tr '\\n' ' '",
	}},
	{name: "only fds 0-2", code: map[string]string{
		"python": "import os\nprint(sorted(os.listdir('/proc/self/fd'), key=int))",
		// After a first write: node opens libuv's reserve fd with its first
		// stream, which the bootstrap's pipe has made already.
		"node": "console.log('fds:');\nconsole.log(require('fs').readdirSync('/proc/self/fd').sort((a, b) => a - b).join(' '))",
		"bash": "cd /proc/$$/fd && echo *",
	}},
	{name: "environment", code: map[string]string{
		"python": "import os\nprint(list(os.environ.items()), os.getcwd())",
		"node":   "console.log(JSON.stringify(process.env), process.cwd())",
		"bash":   "env; pwd",
	}},
	{name: "environment differs: cold start", code: map[string]string{
		"python": "import os\nprint(os.environ['EXTRA'], len(os.environ))",
		"node":   "console.log(process.env.EXTRA, Object.keys(process.env).length)",
		"bash":   "echo $EXTRA",
	}, edit: func(_ string, j *wire.Job) { j.Env = append(j.Env, "EXTRA=1") }, check: wantStdout("")},
	{name: "entry that is a zip archive", code: map[string]string{
		"python": "",
	}, edit: func(_ string, j *wire.Job) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("__main__.py")
		w.Write([]byte("import sys\nprint('from the zip', sys.argv, __name__, sys.path[0])\n"))
		zw.Close()
		j.Files[0].Content = buf.Bytes()
	}, check: wantStdout("from the zip ['main.py'] __main__ /tmp/main.py\n")},
	{name: "ES module entry", code: map[string]string{
		"node": "import { basename } from 'path';\nconsole.log(basename(import.meta.url), typeof require);\nthrow new TypeError('esm');",
	}, edit: func(_ string, j *wire.Job) { j.Files[0].Name, j.Entry = "main.mjs", "main.mjs" }},
	{name: "timeout", code: map[string]string{
		"python": "print('start', flush=True)\nwhile True:\n    pass",
		"node":   "console.log('start');\nfor (;;) {}",
		"bash":   "echo start\nwhile :; do :; done",
	}, edit: func(_ string, j *wire.Job) { j.Limits.TimeoutMs = 4000 }, check: func(t *testing.T, _ string, res wire.Result) {
		if !res.TimedOut || res.Signal != "SIGKILL" {
			t.Errorf("got timed out %v signal %q, want true SIGKILL", res.TimedOut, res.Signal)
		}
	}},
	// The bootstrap freezes the interpreter's start-up objects: cycles the
	// program makes are still collected, finalizers and weakref callbacks
	// still run, and collections count the program's garbage alike. (The
	// garbage a cold start leaves while it starts is frozen too, so the
	// first collection of a pre-started program does not count it: the
	// program drains it first.)
	{name: "garbage collection", code: map[string]string{
		"python": "import gc, weakref\ngc.collect()\nclass A:\n    def __del__(self): print('del A')\na = A(); a.me = a; del a\nprint(gc.collect(), gc.collect())\n" +
			"class B: pass\nb = B(); b.me = b; r = weakref.ref(b, lambda _: print('callback')); del b\nprint(gc.collect(), r())",
	}, check: wantStdout("del A\n1 0\ncallback\n1 None\n")},
	{name: "output flood", code: map[string]string{
		"python": "import os\nos.write(1, b'x' * 100000)\nos.write(2, b'y' * 100000)",
		"node":   "process.stdout.write('x'.repeat(100000)); process.stderr.write('y'.repeat(100000));",
		"bash":   "head -c 100000 /dev/zero | tr '\\0' x\nhead -c 100000 /dev/zero | tr '\\0' y >&2",
	}, check: func(t *testing.T, _ string, res wire.Result) {
		if !res.StdoutTruncated || !res.StderrTruncated || len(res.Stdout) != 10240 {
			t.Errorf("got truncated %v/%v, %d bytes; want true/true, 10240", res.StdoutTruncated, res.StderrTruncated, len(res.Stdout))
		}
	}},
}

func wantStdout(s string) func(*testing.T, string, wire.Result) {
	return func(t *testing.T, lang string, res wire.Result) {
		if s == "" { // only the same in both modes, and successful
			want(t, "exit code", res.ExitCode, 0)
			return
		}
		want(t, "stdout", string(res.Stdout), s)
	}
}

func TestContainerServeMatchesExec(t *testing.T) {
	t.Parallel()
	for lang := range langs {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			execBox := startIdle(t, langs[lang].image)
			serveBox := startServe(t, lang, lang)
			for _, tc := range modeCases {
				code, ok := tc.code[lang]
				if !ok {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					job := newJob(lang, code)
					if tc.edit != nil {
						tc.edit(lang, &job)
					}
					cold := mustResult(t, execRun(t, execBox, job))
					warm := mustResult(t, serveBox.run(job))
					compareResults(t, warm, cold)
					if tc.check != nil {
						tc.check(t, lang, warm)
					}
					if e := execReset(t, execBox); e != "" {
						t.Fatalf("exec reset: %s", e)
					}
					if e := serveBox.reset(); e != "" {
						t.Fatalf("serve reset: %s", e)
					}
				})
			}
		})
	}
}

// compareResults compares everything but timings.
func compareResults(t *testing.T, warm, cold wire.Result) {
	t.Helper()
	want(t, "stdout (serve vs exec)", string(warm.Stdout), string(cold.Stdout))
	want(t, "stderr (serve vs exec)", string(warm.Stderr), string(cold.Stderr))
	want(t, "exit code (serve vs exec)", warm.ExitCode, cold.ExitCode)
	want(t, "signal (serve vs exec)", warm.Signal, cold.Signal)
	want(t, "timed out (serve vs exec)", warm.TimedOut, cold.TimedOut)
	want(t, "oom killed (serve vs exec)", warm.OOMKilled, cold.OOMKilled)
	want(t, "stdout truncated (serve vs exec)", warm.StdoutTruncated, cold.StdoutTruncated)
	want(t, "stderr truncated (serve vs exec)", warm.StderrTruncated, cold.StderrTruncated)
	want(t, "error (serve vs exec)", warm.Error, cold.Error)
}

// Without a bootstrap, serve mode starts every job cold inside the
// sandbox: still no docker exec on the request path.
func TestContainerServeWithoutBootstrap(t *testing.T) {
	t.Parallel()
	s := startServe(t, "python", "")
	res := mustResult(t, s.run(newJob("python", "import sys\nprint(sys.argv, __name__)")))
	want(t, "stdout", string(res.Stdout), "['main.py'] __main__\n")
	if e := s.reset(); e != "" {
		t.Fatalf("reset: %s", e)
	}
	res = mustResult(t, s.run(newJob("python", "print('again')")))
	want(t, "stdout", string(res.Stdout), "again\n")
	want(t, "exit status at the end of stdin", s.close(), 0)
}

// The serve-mode hand-off against exec mode, measured (never asserted)
// in the same run: python hello world, median of 20 each. Each job waits
// a little after the reset, as in a pool: with --cpus 0.5 a job right
// after a pre-start would wait for the CFS quota the pre-start used.
func TestContainerHandoffLatency(t *testing.T) {
	t.Parallel()
	const n = 20
	const idle = 200 * time.Millisecond
	job := newJob("python", `print("hello")`)

	s := startServe(t, "python", "python")
	var serve, serveWall []time.Duration
	for range n {
		time.Sleep(idle)
		o := s.run(job)
		want(t, "stdout", string(mustResult(t, o).Stdout), "hello\n")
		serve = append(serve, o.took)
		serveWall = append(serveWall, time.Duration(o.res.WallMs*float64(time.Millisecond)))
		if e := s.reset(); e != "" {
			t.Fatalf("reset: %s", e)
		}
	}
	c := startIdle(t, imagePython)
	var execd, execWall []time.Duration
	for range n {
		time.Sleep(idle)
		o := execRun(t, c, job)
		want(t, "stdout", string(mustResult(t, o).Stdout), "hello\n")
		execd = append(execd, o.took)
		execWall = append(execWall, time.Duration(o.res.WallMs*float64(time.Millisecond)))
		if e := execReset(t, c); e != "" {
			t.Fatalf("reset: %s", e)
		}
	}
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	t.Logf("python hello, median of %d round trips: serve (attached stream, pre-started) %v, exec (docker exec of run) %v",
		n, r(median(serve)), r(median(execd)))
	t.Logf("of which the program's wall time (go signal or exec to exit): serve %v, exec %v",
		r(median(serveWall)), r(median(execWall)))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// An unknown op is answered and the session goes on; a frame that
// cannot be decoded is answered once, then the runner exits (the
// stream may be out of step), which ends the sandbox.
func TestContainerServeBadRequests(t *testing.T) {
	t.Parallel()
	s := startServe(t, "bash", "bash")
	rep, _ := s.request(wire.Request{Op: "nope"})
	if rep.Kind != "result" || rep.Result == nil || rep.Result.Error != `bad request: unknown op "nope"` {
		t.Errorf("unknown op: got %+v", rep)
	}
	rep, _ = s.request(wire.Request{Op: "hello"})
	if rep.Kind != "ready" || rep.Error != "" {
		t.Errorf("hello: got %+v, want the ready frame again", rep)
	}
	rep, _ = s.request(wire.Request{Op: "run"})
	if rep.Result == nil || rep.Result.Error != "bad request: run without a job" {
		t.Errorf("run without a job: got %+v", rep)
	}
	res := mustResult(t, s.run(newJob("bash", "echo fine")))
	want(t, "stdout", string(res.Stdout), "fine\n")

	if _, err := s.stdin.Write([]byte("\x00\x00\x00\x05hello")); err != nil {
		t.Fatal(err)
	}
	rep, _ = s.next()
	if rep.Result == nil || rep.Result.Error != "bad request frame: not a JSON request" {
		t.Errorf("bad frame: got %+v", rep)
	}
	select {
	case f := <-s.replies:
		if f.err == nil {
			t.Errorf("got another frame %+v after a bad one, want the stream to end", f.rep)
		}
	case <-time.After(dockerLimit):
		t.Error("the runner went on after a bad frame")
	}
}
