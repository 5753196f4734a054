package runner

import (
	"strings"
	"testing"
	"time"
)

// The pre-start plumbing on the host, with the bash bootstrap: the
// control and ready pipes, the go signal, the hand-over of the pipes.
// Container tests compare every bootstrap with cold starts. Like the
// process tests, these never sweep and never run in parallel.

const fdProbe = `printf '%s|' "$0" "$@"; cat; echo; ls /proc/self/fd | tr '\n' ' '; echo "shlvl=$SHLVL"; exit 3`

func bashJob(dir string) Job {
	return Job{
		Files:   []File{{Name: "main.sh", Content: []byte(fdProbe)}},
		Command: []string{"bash"},
		Entry:   "main.sh",
		Args:    []string{"a", "b c", ""},
		Stdin:   []byte("in"),
		Env:     []string{"PATH=/usr/bin:/bin", "WARMBOX_TEST=1"},
		Limits:  Limits{TimeoutMs: 10000, OutputBytes: 4096},
	}
}

func TestPrestartMatchesColdStart(t *testing.T) {
	cold := runLocal(t, fdProbe, func(j *Job) { *j = bashJob("") })

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
		job  Job
		want bool
	}{
		{"same", Job{Command: []string{"python3"}, Env: []string{"A=1", "B=2"}}, true},
		{"other command", Job{Command: []string{"python3", "-u"}, Env: []string{"A=1", "B=2"}}, false},
		{"other env", Job{Command: []string{"python3"}, Env: []string{"A=1"}}, false},
		{"env in another order", Job{Command: []string{"python3"}, Env: []string{"B=2", "A=1"}}, false},
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
	job := Job{Command: []string{"bash", "-e"}, Entry: "main.sh", Args: []string{"a b", ""}}
	want(t, "python", string(bootstraps["python"].message(job)), "main.sh\x00a b\x00\x00")
	want(t, "bash", string(bootstraps["bash"].message(job)), "bash\x00-e\x00main.sh\x00a b\x00\x00")
	argv := bootstraps["node"].argv([]string{"node", "--stack-size=500"})
	if len(argv) != 4 || argv[2] != "-e" || argv[3] != nodeBootstrap {
		t.Errorf("node argv: got %q", argv[:3])
	}
}
