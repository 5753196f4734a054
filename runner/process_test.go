package runner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// These tests run the process machinery on the host, with /bin/sh. They
// never call sweep: kill(-1) as the test's uid would reach every process
// of that uid. They kill the job's session instead (the job is a session
// leader, so its pgid is its pid), which is enough for jobs that do not
// daemonize. They must not run in parallel: the reaper collects any child
// of the test process.

func killSession(r *reaper) error {
	if r.pid > 0 {
		unix.Kill(-r.pid, unix.SIGKILL)
	}
	return nil
}

func runLocal(t *testing.T, script string, edit func(*wire.Job)) wire.Result {
	t.Helper()
	job := wire.Job{
		Files:   []wire.File{{Name: "main.sh", Content: []byte(script)}},
		Command: []string{"sh"},
		Entry:   "main.sh",
		Env:     []string{"PATH=/usr/bin:/bin", "WARMBOX_TEST=1"},
		Limits:  wire.Limits{TimeoutMs: 10000, OutputBytes: 1024},
	}
	if edit != nil {
		edit(&job)
	}
	if err := job.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	dir := t.TempDir()
	if err := writeFiles(dir, job.Files); err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	r := newReaper()
	defer r.stop()
	p, err := startProcess(job, dir, r, nil)
	if err != nil {
		t.Fatalf("startProcess: %v", err)
	}
	return p.finish(time.Duration(job.Limits.TimeoutMs)*time.Millisecond, killSession, t.Logf)
}

func TestProcessExitAndStreams(t *testing.T) {
	res := runLocal(t, "echo out; echo err >&2; echo out2; exit 3\n", nil)
	if res.ExitCode != 3 || res.Signal != "" || res.TimedOut || res.Error != "" {
		t.Errorf("got exit %d signal %q timed out %v error %q; want 3, none, false, none",
			res.ExitCode, res.Signal, res.TimedOut, res.Error)
	}
	if got, want := string(res.Stdout), "out\nout2\n"; got != want {
		t.Errorf("stdout: got %q, want %q", got, want)
	}
	if got, want := string(res.Stderr), "err\n"; got != want {
		t.Errorf("stderr: got %q, want %q", got, want)
	}
	if res.WallMs <= 0 || res.MemoryPeakKB <= 0 {
		t.Errorf("got wall %v ms, peak %d KB; want both > 0", res.WallMs, res.MemoryPeakKB)
	}
}

func TestProcessArgsAndStdin(t *testing.T) {
	res := runLocal(t, `printf '%s|' "$@"; cat`, func(j *wire.Job) {
		j.Args = []string{"a", "b c"}
		j.Stdin = []byte("line1\nline2\n")
	})
	if got, want := string(res.Stdout), "a|b c|line1\nline2\n"; got != want {
		t.Errorf("stdout: got %q, want %q", got, want)
	}
}

// A program that never reads a large stdin must not block the runner.
func TestProcessUnreadStdin(t *testing.T) {
	res := runLocal(t, "echo done", func(j *wire.Job) {
		j.Stdin = make([]byte, 4<<20)
	})
	if string(res.Stdout) != "done\n" || res.ExitCode != 0 {
		t.Errorf("got stdout %q exit %d, want \"done\\n\" 0", res.Stdout, res.ExitCode)
	}
}

func TestProcessEnvironmentIsExact(t *testing.T) {
	res := runLocal(t, `tr '\0' '\n' < /proc/$$/environ`, nil)
	got := strings.Fields(string(res.Stdout))
	want := []string{"PATH=/usr/bin:/bin", "WARMBOX_TEST=1"}
	if !slices.Equal(got, want) {
		t.Errorf("environment: got %q, want %q", got, want)
	}
}

// The job holds only its three pipes, even when the runner itself was
// started with stray fds open (the test binary often is).
func TestProcessOnlyStdioFds(t *testing.T) {
	res := runLocal(t, `exec ls /proc/self/fd`, nil)
	got := strings.Fields(string(res.Stdout))
	// 3 is the directory ls is reading.
	if want := []string{"0", "1", "2", "3"}; !slices.Equal(got, want) {
		t.Errorf("open fds of the job: got %q, want %q", got, want)
	}
}

func TestProcessFloodBothStreams(t *testing.T) {
	res := runLocal(t, "head -c 3000000 /dev/zero >&2 & head -c 3000000 /dev/zero; wait\necho tail", nil)
	if len(res.Stdout) != 1024 || !res.StdoutTruncated {
		t.Errorf("stdout: got %d bytes truncated %v, want 1024 true", len(res.Stdout), res.StdoutTruncated)
	}
	if len(res.Stderr) != 1024 || !res.StderrTruncated {
		t.Errorf("stderr: got %d bytes truncated %v, want 1024 true", len(res.Stderr), res.StderrTruncated)
	}
	if res.ExitCode != 0 || res.TimedOut {
		t.Errorf("got exit %d timed out %v, want 0 false", res.ExitCode, res.TimedOut)
	}
}

func TestProcessSignalled(t *testing.T) {
	res := runLocal(t, "kill -SEGV $$", nil)
	if res.ExitCode != -1 || res.Signal != "SIGSEGV" {
		t.Errorf("got exit %d signal %q, want -1 SIGSEGV", res.ExitCode, res.Signal)
	}
}

func TestProcessTimeout(t *testing.T) {
	start := time.Now()
	res := runLocal(t, "echo start; sleep 30; echo never", func(j *wire.Job) {
		j.Limits.TimeoutMs = 300
	})
	if !res.TimedOut || res.Signal != "SIGKILL" || res.ExitCode != -1 {
		t.Errorf("got timed out %v signal %q exit %d, want true SIGKILL -1", res.TimedOut, res.Signal, res.ExitCode)
	}
	if string(res.Stdout) != "start\n" {
		t.Errorf("stdout: got %q, want %q", res.Stdout, "start\n")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v: the deadline did not end the job", d)
	}
}

func TestStartProcessMissingInterpreter(t *testing.T) {
	job := wire.Job{Command: []string{"no-such-interpreter"}, Entry: "main.py"}
	r := newReaper()
	defer r.stop()
	_, err := startProcess(job, t.TempDir(), r, nil)
	if err == nil || !strings.Contains(err.Error(), `"no-such-interpreter"`) {
		t.Errorf("got %v, want an error naming the interpreter", err)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "interp")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		env        []string
		want       string // "" means not found
	}{
		{"in PATH", "interp", []string{"PATH=/nonexistent:" + dir}, exe},
		{"last PATH wins", "interp", []string{"PATH=/nonexistent", "PATH=" + dir}, exe},
		{"default PATH", "sh", nil, "/usr/bin/sh"},
		{"absolute", exe, nil, exe},
		{"relative with slash", "./interp", []string{"PATH=" + dir}, ""},
		{"relative PATH entry ignored", "interp", []string{"PATH=."}, ""},
		{"not executable", "data", []string{"PATH=" + dir}, ""},
		{"directory", filepath.Base(dir), []string{"PATH=" + filepath.Dir(dir)}, ""},
		{"missing", "nope", []string{"PATH=" + dir}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lookPath(tc.file, tc.env)
			if tc.want == "" {
				if err == nil {
					t.Errorf("got %q, want not found", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The refusal to run as root is what keeps kill(-1) from killing every
// process on a host. Only the guard is called here, never sweep.
func TestRootIsRefused(t *testing.T) {
	// The suite runs as root, as it must for Docker (.ci/run does): a
	// run without root would not test the refusal at all, so it fails.
	if os.Getuid() != 0 {
		t.Fatal("run the tests as root: the refusal to run as root can only be observed as root")
	}
	if err := checkKillAll(); err != errRoot {
		t.Errorf("checkKillAll as root: got %v, want %v", err, errRoot)
	}
	r := newReaper()
	defer r.stop()
	if err := sweep(r); err != errRoot {
		t.Errorf("sweep as root: got %v, want %v", err, errRoot)
	}
}
