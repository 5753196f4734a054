package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// The pre-start plumbing on the host, with the bash bootstrap: the
// control and ready pipes, the go signal, the hand-over of the pipes.
// Container tests compare every bootstrap with cold starts. Like the
// process tests, these never sweep and never run in parallel.

const fdProbe = `printf '%s|' "$0" "$@"; cat; echo; ls /proc/self/fd | tr '\n' ' '; echo "shlvl=$SHLVL"; exit 3`

func bashJob(dir string) wire.Job {
	return wire.Job{
		Files:   []wire.File{{Name: "main.sh", Content: []byte(fdProbe)}},
		Command: []string{"bash"},
		Entry:   "main.sh",
		Args:    []string{"a", "b c", ""},
		Stdin:   []byte("in"),
		Env:     []string{"PATH=/usr/bin:/bin", "WARMBOX_TEST=1"},
		Limits:  wire.Limits{TimeoutMs: 10000, OutputBytes: 4096},
	}
}

func TestPrestartMatchesColdStart(t *testing.T) {
	cold := runLocal(t, fdProbe, func(j *wire.Job) { *j = bashJob("") })

	dir := t.TempDir()
	job := bashJob(dir)
	r := newReaper()
	defer r.stop()
	in, err := prestart(bootstraps["bash"], job.Command, job.Env, dir, 0, r, t.Logf)
	if err != nil {
		t.Fatalf("prestart: %v", err)
	}
	if !in.fits(job) {
		t.Fatal("the job does not fit the interpreter started for it")
	}
	if err := writeFiles(dir, job.Files); err != nil {
		t.Fatal(err)
	}
	p, err := in.hand(job, r)
	if err != nil {
		t.Fatalf("hand: %v", err)
	}
	warm := p.finish(10*time.Second, killSession, t.Logf)

	want(t, "stdout", string(warm.Stdout), string(cold.Stdout))
	want(t, "stderr", string(warm.Stderr), string(cold.Stderr))
	want(t, "exit code", warm.ExitCode, cold.ExitCode)
	want(t, "stdout", string(warm.Stdout), "main.sh|a|b c||in\n0 1 2 3 shlvl=1\n")
	if warm.WallMs <= 0 || warm.WallMs > 5000 {
		t.Errorf("wall time %v ms: want it counted from the go signal", warm.WallMs)
	}
}

func TestPrestartFits(t *testing.T) {
	in := &interp{command: []string{"python3"}, env: []string{"A=1", "B=2"}}
	tests := []struct {
		name string
		job  wire.Job
		want bool
	}{
		{"same", wire.Job{Command: []string{"python3"}, Env: []string{"A=1", "B=2"}}, true},
		{"other command", wire.Job{Command: []string{"python3", "-u"}, Env: []string{"A=1", "B=2"}}, false},
		{"other env", wire.Job{Command: []string{"python3"}, Env: []string{"A=1"}}, false},
		{"env in another order", wire.Job{Command: []string{"python3"}, Env: []string{"B=2", "A=1"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want(t, "fits", in.fits(tc.job), tc.want)
		})
	}
}

// An interpreter that dies while loading is reported, reaped and closed.
func TestPrestartInterpreterDies(t *testing.T) {
	r := newReaper()
	defer r.stop()
	// bash cannot run the python bootstrap.
	_, err := prestart(bootstraps["python"], []string{"bash"}, []string{"PATH=/usr/bin:/bin"}, t.TempDir(), 0, r, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "interpreter exited before it was ready (exit status") {
		t.Errorf("got %v, want the interpreter's exit reported", err)
	}
	if !r.exited {
		t.Error("the interpreter was not reaped")
	}
}

func TestBootstrapMessage(t *testing.T) {
	job := wire.Job{Command: []string{"bash", "-e"}, Entry: "main.sh", Args: []string{"a b", ""}}
	want(t, "python", string(bootstraps["python"].message(job)), "main.sh\x00a b\x00\x00")
	want(t, "bash", string(bootstraps["bash"].message(job)), "bash\x00-e\x00main.sh\x00a b\x00\x00")
	argv := bootstraps["node"].argv([]string{"node", "--stack-size=500"})
	if len(argv) != 4 || argv[2] != "-e" || argv[3] != nodeBootstrap {
		t.Errorf("node argv: got %q", argv[:3])
	}
}

// A python bootstrap with modules to preload imports them before its
// ready signal, prints nothing of theirs on the job's streams, leaves a
// module that fails to import to the job, and still runs the job exactly
// as `python3 main.py ARGS` (sys.argv, sys.orig_argv).
func TestPrestartPreload(t *testing.T) {
	boot, err := bootstraps["python"].withPreload([]string{"json", "this", "no_such_module_x"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	job := wire.Job{
		Files: []wire.File{{Name: "main.py", Content: []byte(`import sys
print(sorted(m for m in ("json", "this", "no_such_module_x") if m in sys.modules))
print(sys.argv, sys.orig_argv[1:])`)}},
		Command: []string{"python3"},
		Entry:   "main.py",
		Args:    []string{"a"},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Limits:  wire.Limits{TimeoutMs: 10000, OutputBytes: 4096},
	}
	r := newReaper()
	defer r.stop()
	in, err := prestart(boot, job.Command, job.Env, dir, 0, r, t.Logf)
	if err != nil {
		t.Fatalf("prestart: %v", err)
	}
	if err := writeFiles(dir, job.Files); err != nil {
		t.Fatal(err)
	}
	p, err := in.hand(job, r)
	if err != nil {
		t.Fatalf("hand: %v", err)
	}
	res := p.finish(10*time.Second, killSession, t.Logf)
	// "this" prints the Zen of Python when imported: not on the job's stdout.
	want(t, "stdout", string(res.Stdout), "['json', 'this']\n['main.py', 'a'] ['main.py', 'a']\n")
	want(t, "stderr", string(res.Stderr), "")

	for _, bad := range [][]string{{"-c"}, {"os;print(1)"}, {"../x"}, {""}} {
		if _, err := bootstraps["python"].withPreload(bad); err == nil {
			t.Errorf("preload %q accepted", bad)
		}
	}
	if _, err := bootstraps["node"].withPreload([]string{"fs"}); err == nil {
		t.Error("the node bootstrap accepted modules to preload")
	}
}
