package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// Tests of the runner inside real sandboxes (docker CLI, the daemon's
// flags). They fail, never skip, without a Docker engine. Timings are
// only upper bounds that prove "did not hang": slack covers container
// start-up on a loaded machine.

const slack = 10 * time.Second

func TestContainerHelloWorld(t *testing.T) {
	t.Parallel()
	code := map[string]string{
		"python": `print("hello")`,
		"node":   `console.log("hello")`,
		"bash":   `echo hello`,
	}
	for lang, src := range code {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			res := mustResult(t, runFresh(t, langs[lang].image, newJob(lang, src)))
			if string(res.Stdout) != "hello\n" || len(res.Stderr) != 0 || res.ExitCode != 0 {
				t.Errorf("got stdout %q stderr %q exit %d; want \"hello\\n\", \"\", 0", res.Stdout, res.Stderr, res.ExitCode)
			}
			if res.TimedOut || res.OOMKilled || res.StdoutTruncated || res.Signal != "" {
				t.Errorf("unexpected flags: %+v", res)
			}
			if res.WallMs <= 0 || res.MemoryPeakKB <= 0 {
				t.Errorf("got wall %v ms peak %d KB, want both > 0", res.WallMs, res.MemoryPeakKB)
			}
		})
	}
}

// pythonCases run in a fresh python sandbox each, the runner as PID 1.
var pythonCases = []struct {
	name  string
	code  string
	edit  func(*wire.Job)
	check func(t *testing.T, o outcome)
}{
	{"streams and exit code", "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)", nil,
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			want(t, "stdout", string(res.Stdout), "out\n")
			want(t, "stderr", string(res.Stderr), "err\n")
			want(t, "exit code", res.ExitCode, 3)
		}},
	{"stdin echoed", "import sys\nsys.stdout.write(sys.stdin.read())", func(j *wire.Job) { j.Stdin = []byte("line1\nline2\x00\n") },
		func(t *testing.T, o outcome) {
			want(t, "stdout", string(mustResult(t, o).Stdout), "line1\nline2\x00\n")
		}},
	{"args", "import sys\nprint(sys.argv[1:])", func(j *wire.Job) { j.Args = []string{"a", "b c", "--x"} },
		func(t *testing.T, o outcome) {
			want(t, "stdout", string(mustResult(t, o).Stdout), "['a', 'b c', '--x']\n")
		}},
	{"two files and a dir", "import helper\nprint(helper.greet(open('data/in.txt').read()))", func(j *wire.Job) {
		j.Files = append(j.Files,
			wire.File{Name: "helper.py", Content: []byte("def greet(n):\n    return 'hello ' + n\n")},
			wire.File{Name: "data/in.txt", Content: []byte("warmbox")})
	}, func(t *testing.T, o outcome) { want(t, "stdout", string(mustResult(t, o).Stdout), "hello warmbox\n") }},
	{"runtime error", "def f():\n    raise ValueError('boom')\nf()", nil,
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			want(t, "exit code", res.ExitCode, 1)
			if s := string(res.Stderr); !strings.Contains(s, "Traceback") || !strings.Contains(s, "ValueError: boom") {
				t.Errorf("stderr %q: want a traceback ending in ValueError: boom", s)
			}
		}},
	{"exact environment, stdio only", "import os\nprint(sorted(os.environ))\nprint(sorted(os.listdir('/proc/self/fd')))", nil,
		func(t *testing.T, o outcome) {
			want(t, "stdout", string(mustResult(t, o).Stdout), "['HOME', 'LANG', 'PATH']\n['0', '1', '2', '3']\n")
		}},
	{"missing interpreter", "", func(j *wire.Job) { j.Command = []string{"ruby"} },
		func(t *testing.T, o outcome) { wantError(t, o, `interpreter "ruby" not found`) }},
	{"bad file name", "", func(j *wire.Job) { j.Files[0].Name, j.Entry = "../x", "../x" },
		func(t *testing.T, o outcome) { wantError(t, o, `file name "../x": must not contain ".."`) }},
	{"timeout", "while True:\n    pass", func(j *wire.Job) { j.Limits.TimeoutMs = 1000 },
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			if !res.TimedOut || res.Signal != "SIGKILL" || res.ExitCode != -1 {
				t.Errorf("got timed out %v signal %q exit %d; want true SIGKILL -1", res.TimedOut, res.Signal, res.ExitCode)
			}
			bound(t, o, 1*time.Second)
		}},
	{"output flood on both streams", "import os, threading\nblk = b'B' * 65536\ndef spam(fd):\n    for _ in range(16):\n        os.write(fd, blk)\n" +
		"t = threading.Thread(target=spam, args=(2,))\nt.start()\nspam(1)\nt.join()\nprint('unreachable in the kept output')", nil,
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			want(t, "stdout", string(res.Stdout), strings.Repeat("B", 10240))
			want(t, "stderr", string(res.Stderr), strings.Repeat("B", 10240))
			if !res.StdoutTruncated || !res.StderrTruncated || res.ExitCode != 0 {
				t.Errorf("got truncated %v/%v exit %d, want true/true 0", res.StdoutTruncated, res.StderrTruncated, res.ExitCode)
			}
		}},
	{"cap inside a character", "import sys\nsys.stdout.write('a' * 10239 + '\\u20ac' * 100)", nil,
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			want(t, "stdout", string(res.Stdout), strings.Repeat("a", 10239))
			want(t, "stdout truncated", res.StdoutTruncated, true)
		}},
	{"non-dumpable runner", hardeningProbe, nil,
		func(t *testing.T, o outcome) {
			res := mustResult(t, o)
			if s := string(res.Stdout); !strings.Contains(s, "probed") || strings.Contains(s, "OPENED") || strings.Contains(s, "ATTACHED") {
				t.Errorf("the job could reach the runner:\n%s", s)
			}
		}},
}

// hardeningProbe tries to ptrace the runner (its parent) and PID 1 and to
// read their memory, environment and fds.
const hardeningProbe = `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for pid in sorted({os.getppid(), 1}):
    if libc.ptrace(16, pid, None, None) == 0:
        print(pid, "ATTACHED"); libc.ptrace(17, pid, None, None)
    for what in ("mem", "environ", "fd", "cwd/"):
        try:
            (os.listdir if what in ("fd", "cwd/") else lambda p: open(p, "rb").close())(f"/proc/{pid}/{what}")
            print(pid, what, "OPENED")
        except OSError as e:
            print(pid, what, "denied", e.errno)
print("probed")
`

func TestContainerPython(t *testing.T) {
	t.Parallel()
	for _, tc := range pythonCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			job := newJob("python", tc.code)
			if tc.edit != nil {
				tc.edit(&job)
			}
			tc.check(t, runFresh(t, imagePython, job))
		})
	}
}

func TestContainerBash(t *testing.T) {
	t.Parallel()
	t.Run("long line without newline", func(t *testing.T) {
		t.Parallel()
		o := runFresh(t, imageBash, newJob("bash", "head -c 20000000 /dev/zero | tr '\\0' A\necho\necho done >&2"))
		res := mustResult(t, o)
		want(t, "stdout", string(res.Stdout), strings.Repeat("A", 10240))
		want(t, "stderr", string(res.Stderr), "done\n")
		if !res.StdoutTruncated || res.TimedOut || res.ExitCode != 0 {
			t.Errorf("got truncated %v timed out %v exit %d, want true false 0", res.StdoutTruncated, res.TimedOut, res.ExitCode)
		}
	})
	t.Run("kill -9 -1 with the runner as PID 1", func(t *testing.T) {
		t.Parallel()
		// kill(-1) spares PID 1 and the caller, so the runner survives
		// and bash goes on.
		res := mustResult(t, runFresh(t, imageBash, newJob("bash", "echo before\nkill -9 -1\necho after")))
		want(t, "stdout", string(res.Stdout), "before\nafter\n")
		want(t, "exit code", res.ExitCode, 0)
	})
}

func TestContainerBadFrame(t *testing.T) {
	t.Parallel()
	o := runAs(t, imagePython, "0:0", []byte("\x00\x00\x00\x05hello"))
	want(t, "exit status", o.exit, 2)
	wantError(t, o, "bad request frame")
}

// A sandbox that cannot give every job a uid of its own (started as
// another user, so without the capabilities to switch) runs no job.
func TestContainerRefusesUnseparated(t *testing.T) {
	t.Parallel()
	o := runAs(t, imagePython, "65534:65534", frame(t, newJob("python", "print('ran')")))
	wantError(t, o, "runner setup failed: "+errNotSeparated.Error())
	want(t, "exit status", o.exit, 1)
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got == want {
		return
	}
	if g, ok := any(got).(string); ok {
		w := any(want).(string)
		t.Errorf("%s: got %q (%d bytes), want %q (%d bytes)", what, trunc(g), len(g), trunc(w), len(w))
		return
	}
	t.Errorf("%s: got %v, want %v", what, got, want)
}

func wantError(t *testing.T, o outcome, substr string) {
	t.Helper()
	if !o.framed {
		t.Fatalf("no result frame (exit %d); stderr: %s", o.exit, o.stderr)
	}
	if !strings.Contains(o.res.Error, substr) {
		t.Errorf("result error: got %q, want it to contain %q", o.res.Error, substr)
	}
}

func bound(t *testing.T, o outcome, timeout time.Duration) {
	t.Helper()
	if o.took > timeout+slack {
		t.Errorf("took %v with a %v timeout: the runner did not stop the job", o.took, timeout)
	}
}
