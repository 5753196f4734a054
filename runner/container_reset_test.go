package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Reuse mode: a job leaves everything it can behind, reset clears it,
// and the next job sees none of it (the battery's FOLLOWUP: H09, H33,
// H34, H73-H78). A reset that cannot make the sandbox clean says so.

// plantJob leaves files (dotfiles, nested and mode-000 directories, a
// symlink, an inode bomb's worth of files), /dev/shm and /dev/mqueue
// entries and SysV shm, msg and sem objects behind.
const plantJob = `import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
os.makedirs("/tmp/nested/a/b")
open("/tmp/.dotfile", "w").write("x")
open("/tmp/nested/a/b/.deep", "w").write("x")
os.makedirs("/tmp/locked/inner")
open("/tmp/locked/inner/f", "w").write("x")
os.chmod("/tmp/locked/inner", 0)
os.chmod("/tmp/locked", 0)
os.symlink("/tmp/nested", "/tmp/link")
os.mkdir("/tmp/many")
for i in range(10000):
    os.close(os.open(f"/tmp/many/{i}", os.O_CREAT | os.O_WRONLY, 0o600))
open("/dev/shm/.marker_h09", "w").write("persist")
os.mkdir("/dev/shm/dir")
mq = libc.mq_open(b"/q_h09", os.O_CREAT | os.O_RDWR, 0o600, None)
IPC_CREAT = 0o1000
shm = libc.shmget(0x1234, 4096, IPC_CREAT | 0o600)
msg = libc.msgget(0x1235, IPC_CREAT | 0o600)
sem = libc.semget(0x1236, 1, IPC_CREAT | 0o600)
print("planted", mq >= 0, shm >= 0, msg >= 0, sem >= 0)
`

// probeJob is the battery's PROBE for python: every process but PID 1,
// itself and its runner; the work dir, /dev/shm, /dev/mqueue; SysV IPC.
const probeJob = `import os
me, runner = os.getpid(), os.getppid()
procs = []
for p in sorted(filter(str.isdigit, os.listdir("/proc")), key=int):
    if int(p) not in (1, me, runner):
        procs.append(p + ":" + open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode())
print("procs:", procs)
for d in ("/tmp", "/dev/shm", "/dev/mqueue"):
    print(d, sorted(os.listdir(d)))
ipc = [l.split()[:2] for k in ("shm", "msg", "sem") for l in open("/proc/sysvipc/" + k).readlines()[1:]]
print("ipc:", ipc)
`

const wantProbe = "procs: []\n/tmp ['probe.py']\n/dev/shm []\n/dev/mqueue []\nipc: []\n"

func TestContainerServeReuse(t *testing.T) {
	t.Parallel()
	s := startServe(t, "python", "python")
	res := mustResult(t, s.run(newJob("python", plantJob)))
	want(t, "plant stdout", string(res.Stdout), "planted True True True True\n")

	// A process no job can leave in serve mode (the sweep after each
	// job kills them all): one exec'd as the sandbox user.
	job1 := strconv.Itoa(testRunnerUID + 1)
	dockerExec(t, s.name, job1+":"+job1, "sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &")
	start := time.Now()
	if e := s.reset(); e != "" {
		t.Fatalf("reset: %s", e)
	}
	t.Logf("reset with 10000 files planted: %v", time.Since(start).Round(time.Millisecond))
	res = mustResult(t, s.run(named(newJob("python", probeJob), "probe.py")))
	want(t, "probe", string(res.Stdout), wantProbe)
}

func TestContainerExecReuse(t *testing.T) {
	t.Parallel()
	c := startIdle(t, imagePython)
	res := mustResult(t, execRun(t, c, newJob("python", plantJob)))
	want(t, "plant stdout", string(res.Stdout), "planted True True True True\n")
	if e := execReset(t, c); e != "" {
		t.Fatalf("reset after the plant: %s", e)
	}

	// The job cannot kill its runner (another uid): the runner's sweep
	// ends what it started, and the reset finds it gone.
	res = mustResult(t, execRun(t, c, named(newJob("bash", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &\nsleep 0.2\nkill -9 $PPID 2>/dev/null\necho rc=$?"), "escape.sh")))
	want(t, "kill the runner", string(res.Stdout), "rc=1\n")
	if e := execReset(t, c); e != "" {
		t.Fatalf("reset: %s", e)
	}
	res = mustResult(t, execRun(t, c, named(newJob("python", probeJob), "probe.py")))
	want(t, "probe", string(res.Stdout), wantProbe)
}

// A reset that cannot clean the sandbox fails, naming what is left, and
// takes no longer than its budget.
func TestContainerResetFails(t *testing.T) {
	t.Parallel()
	t.Run("process of another uid", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, "python", "python")
		dockerExec(t, s.name, "0:0", "sh", "-c", "sleep 1000 >/dev/null 2>&1 < /dev/null &")
		start := time.Now()
		e := s.reset()
		if !strings.Contains(e, "processes left: ") || !strings.Contains(e, "sleep (uid 0)") {
			t.Errorf("reset error %q: want the root sleep named", e)
		}
		if d := time.Since(start); d > resetBudget+slack {
			t.Errorf("reset took %v", d)
		}
	})
	t.Run("file of another uid", func(t *testing.T) {
		t.Parallel()
		c := startIdle(t, imagePython)
		dockerExec(t, c, "0:0", "touch", "/tmp/rootfile", "/dev/shm/rootshm")
		e := execReset(t, c)
		for _, w := range []string{"/tmp not empty: rootfile", "/dev/shm not empty: rootshm", "operation not permitted"} {
			if !strings.Contains(e, w) {
				t.Errorf("reset error %q: want it to contain %q", e, w)
			}
		}
	})
	t.Run("read-only bind mount", func(t *testing.T) {
		t.Parallel()
		host := t.TempDir()
		if err := os.WriteFile(filepath.Join(host, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := startServe(t, "bash", "bash", "-v", host+":/tmp/ro:ro")
		e := s.reset()
		if !strings.Contains(e, "/tmp not empty: ro") {
			t.Errorf("reset error %q: want /tmp/ro reported", e)
		}
	})
}

// kill -9 -1 and every catchable signal reach every process of the
// sandbox user but PID 1: in serve mode the runner is PID 1, survives,
// answers, and serves the next job. The job can neither reach it
// (ptrace, /proc) nor forge its frames.
func TestContainerServeSurvivesTheJob(t *testing.T) {
	t.Parallel()
	t.Run("bash", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, "bash", "bash")
		res := mustResult(t, s.run(newJob("bash", "echo before\nkill -9 -1\necho after")))
		want(t, "stdout", string(res.Stdout), "before\nafter\n")
		want(t, "exit code", res.ExitCode, 0)
		for _, sig := range []string{"TERM", "INT", "HUP", "QUIT", "USR1", "KILL", "STOP", "32", "33", "34", "40"} {
			if e := s.reset(); e != "" {
				t.Fatalf("reset: %s", e)
			}
			res = mustResult(t, s.run(newJob("bash", "kill -"+sig+" 1; kill -"+sig+" -1; echo sent")))
			want(t, "stdout after signal "+sig, string(res.Stdout), "sent\n")
		}
	})
	t.Run("python", func(t *testing.T) {
		t.Parallel()
		s := startServe(t, "python", "python")
		res := mustResult(t, s.run(newJob("python", signalJob)))
		want(t, "signal job stdout", string(res.Stdout), "alive sent 0 refused 79\n")

		if e := s.reset(); e != "" {
			t.Fatalf("reset: %s", e)
		}
		res = mustResult(t, s.run(newJob("python", hardeningProbe)))
		if out := string(res.Stdout); !strings.Contains(out, "probed") || strings.Contains(out, "OPENED") || strings.Contains(out, "ATTACHED") {
			t.Errorf("the job could reach the runner:\n%s", out)
		}

		// H31: frames written to every fd the job holds stay its output.
		if e := s.reset(); e != "" {
			t.Fatalf("reset: %s", e)
		}
		res = mustResult(t, s.run(newJob("python", forgeJob)))
		want(t, "forge exit code", res.ExitCode, 7)
		if !strings.Contains(string(res.Stdout), "['0', '1', '2', '3']") {
			t.Errorf("forge stdout %q: want the fd list 0-3", res.Stdout)
		}
		if e := s.reset(); e != "" {
			t.Fatalf("reset: %s", e)
		}
		res = mustResult(t, s.run(newJob("python", "print('next')")))
		want(t, "next stdout", string(res.Stdout), "next\n")
	})
}

const forgeJob = `import json, os, struct
reply = json.dumps({"kind": "result", "result": {"exit_code": 0, "stdout": "Zm9yZ2Vk"}}).encode()
forged = struct.pack(">I", len(reply)) + reply
for fd in range(0, 256):
    try:
        os.write(fd, forged)
    except OSError:
        pass
print(sorted(os.listdir("/proc/self/fd")))
raise SystemExit(7)
`

// Fork and memory bombs in serve mode: the runner, PID 1, outlives them,
// the reset finds a clean sandbox, the next job runs.
func TestContainerServeBombs(t *testing.T) {
	t.Parallel()
	s := startServe(t, "python", "python")
	job := newJob("python", forkFlood)
	job.Limits.TimeoutMs = 3000
	o := s.run(job)
	res := mustResult(t, o)
	want(t, "fork bomb timed out", res.TimedOut, true)
	bound(t, o, 3*time.Second)
	if e := s.reset(); e != "" {
		t.Fatalf("reset after the fork bomb: %s", e)
	}

	res = mustResult(t, s.run(newJob("python", "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (16 * 1024 * 1024))")))
	if !res.OOMKilled && res.Signal != "SIGKILL" {
		t.Errorf("memory bomb: got oom_killed %v signal %q exit %d; want oom_killed or SIGKILL", res.OOMKilled, res.Signal, res.ExitCode)
	}
	if e := s.reset(); e != "" {
		t.Fatalf("reset after the memory bomb: %s", e)
	}
	res = mustResult(t, s.run(named(newJob("python", probeJob), "probe.py")))
	want(t, "probe", string(res.Stdout), wantProbe)
}
