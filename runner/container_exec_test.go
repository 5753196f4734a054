package runner

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Exec mode, as the daemon runs it: `runner idle` is PID 1 and each job
// is a `docker exec` of `runner run`, which drops to the runner's uid
// and runs the job under the job's own. Several jobs go through one
// container to see what an earlier job left behind.

// leftoverProbe lists every process except PID 1, its own runner and
// itself, and says whether the marker file exists.
const leftoverProbe = `import os
me, runner = os.getpid(), os.getppid()
others = []
for p in sorted(filter(str.isdigit, os.listdir("/proc")), key=int):
    if int(p) in (1, me, runner):
        continue
    try:
        cmd = open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
    except OSError:
        cmd = "?"
    others.append(p + ":" + cmd)
print("others:", others)
print("marker:", os.path.exists("/tmp/late_marker"))
`

// bashProbe is leftoverProbe for images without python: it prints
// "end" and nothing before it when it is alone with PID 1 and its runner.
const bashProbe = `for p in /proc/[0-9]*; do
  p=${p#/proc/}
  [ "$p" = 1 ] || [ "$p" = $$ ] || [ "$p" = $PPID ] || echo "other $p: $(tr '\0' ' ' < /proc/$p/cmdline)"
done
echo end`

const wantClean = "others: []\nmarker: False\n"

// daemonJob double-forks a setsid'd daemon with its stdio on /dev/null,
// which writes /tmp/late_marker after 2 s unless it was killed.
const daemonJob = `import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        fd = os.open("/dev/null", os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(fd, i)
        time.sleep(2)
        open("/tmp/late_marker", "w").write("late")
        time.sleep(1000)
    os._exit(0)
time.sleep(0.3)
print("parent exits")
`

// signalJob sends the runner (its parent) and PID 1 every signal that
// ends a process or a Go program by default, SIGKILL and SIGSTOP
// included, then prints how many the kernel let through. The runner and
// PID 1 run under another uid than the job, so every one is refused
// (EPERM); the runner also catches the catchable ones, for a job that
// got through some other way.
const signalJob = `import os, signal, time
sent = refused = 0
for s in ("TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "PIPE", "ABRT", "ALRM",
          "SEGV", "BUS", "FPE", "ILL", "SYS", "TRAP", "XCPU", "XFSZ", "VTALRM", "IO", "PWR", "STKFLT", "KILL", "STOP"):
    for pid in (os.getppid(), 1):
        try:
            os.kill(pid, getattr(signal, "SIG" + s, 16))  # 16 is SIGSTKFLT
            sent += 1
        except PermissionError:
            refused += 1
for n in range(32, 65):
    try:
        os.kill(os.getppid(), n)
        sent += 1
    except PermissionError:
        refused += 1
time.sleep(0.5)
print("alive sent", sent, "refused", refused)
`

func TestContainerExecLeavesNothing(t *testing.T) {
	t.Parallel()
	c := startIdle(t, imagePython)

	o := execRun(t, c, named(newJob("python", daemonJob), "daemon.py"))
	res := mustResult(t, o)
	want(t, "daemon job stdout", string(res.Stdout), "parent exits\n")
	if o.took > 5*time.Second+slack {
		t.Errorf("daemon job took %v: the daemon held it", o.took)
	}

	// nohup does not redirect a pipe: the sleep holds the job's stdout.
	job := named(newJob("bash", "nohup sleep 1000 &\necho 'main exits now'"), "nohup.sh")
	job.Limits.TimeoutMs = 30000
	o = execRun(t, c, job)
	res = mustResult(t, o)
	want(t, "nohup job stdout", string(res.Stdout), "main exits now\n")
	if res.TimedOut || res.ExitCode != 0 {
		t.Errorf("nohup job: got timed out %v exit %d, want false 0", res.TimedOut, res.ExitCode)
	}
	if o.took > 15*time.Second {
		t.Errorf("nohup job took %v: the background sleep held it", o.took)
	}

	res = mustResult(t, execRun(t, c, named(newJob("python", signalJob), "signals.py")))
	want(t, "signal job stdout", string(res.Stdout), "alive sent 0 refused 79\n")

	res = mustResult(t, execRun(t, c, named(newJob("python", hardeningProbe), "hardening.py")))
	if s := string(res.Stdout); !strings.Contains(s, "probed") || strings.Contains(s, "OPENED") || strings.Contains(s, "ATTACHED") {
		t.Errorf("the job could reach the runner or PID 1:\n%s", s)
	}

	// Subshells orphan their sleeps: the runner, a child subreaper, must
	// reap them during the job, or their zombies fill the 50 pids.
	res = mustResult(t, execRun(t, c, named(newJob("bash",
		"for i in $(seq 200); do (sleep 0.02 &); done; sleep 0.5; echo reaped"), "orphans.sh")))
	want(t, "orphan job stdout", string(res.Stdout), "reaped\n")

	time.Sleep(3 * time.Second) // past the daemon's 2 s
	res = mustResult(t, execRun(t, c, named(newJob("python", leftoverProbe), "probe.py")))
	want(t, "probe", string(res.Stdout), wantClean)
}

const forkFlood = `import os
while True:
    try:
        os.fork()
    except BlockingIOError:
        pass
    try:
        os.write(1 + os.getpid() % 2, b"x" * 4096)
    except OSError:
        pass
`

func TestContainerForkBomb(t *testing.T) {
	t.Parallel()
	t.Run("bash", func(t *testing.T) {
		t.Parallel()
		c := startIdle(t, imageBash)
		// The script's main process returns at once; the sweep after it
		// ends the bomb.
		job := named(newJob("bash", ":(){ :|:& };:"), "bomb1.sh")
		job.Limits.TimeoutMs = 3000
		o := execRun(t, c, job)
		res := mustResult(t, o)
		t.Logf("bomb, main returns: exit %d signal %q timed out %v wall %.0f ms", res.ExitCode, res.Signal, res.TimedOut, res.WallMs)
		bound(t, o, 3*time.Second)

		// Here the main process stays, so the deadline ends it.
		job = named(newJob("bash", ":(){ :|:& };:\nsleep 30"), "bomb2.sh")
		job.Limits.TimeoutMs = 3000
		o = execRun(t, c, job)
		res = mustResult(t, o)
		want(t, "timed out", res.TimedOut, true)
		bound(t, o, 3*time.Second)

		res = mustResult(t, execRun(t, c, named(newJob("bash", "echo alive"), "after.sh")))
		want(t, "stdout after the bombs", string(res.Stdout), "alive\n")
	})
	t.Run("python", func(t *testing.T) {
		t.Parallel()
		c := startIdle(t, imagePython)
		// Every process keeps forking, retries on EAGAIN and writes to
		// both pipes: the pids (which count threads) stay full until the
		// deadline while the runner's drains keep waking up. A Go
		// runtime that needs a new thread then dies ("failed to create
		// new OS thread"); without harden's thread reserve this run
		// lost the runner 3 times out of 5, and the bombs it left
		// starved the next runner too.
		for i := range 3 {
			job := named(newJob("python", forkFlood), "bomb"+strconv.Itoa(i)+".py")
			job.Limits.TimeoutMs = 3000
			o := execRun(t, c, job)
			res := mustResult(t, o)
			want(t, "timed out", res.TimedOut, true)
			bound(t, o, 3*time.Second)
		}

		res := mustResult(t, execRun(t, c, named(newJob("python", leftoverProbe), "probe.py")))
		want(t, "probe", string(res.Stdout), wantClean)
	})
}

func TestContainerMemoryBomb(t *testing.T) {
	t.Parallel()
	c := startIdle(t, imagePython)
	job := named(newJob("python", "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (16 * 1024 * 1024))"), "mem.py")
	o := execRun(t, c, job)
	res := mustResult(t, o)
	t.Logf("memory bomb: oom_killed %v signal %q exit %d peak %d KB", res.OOMKilled, res.Signal, res.ExitCode, res.MemoryPeakKB)
	if !res.OOMKilled && res.Signal != "SIGKILL" {
		t.Errorf("got oom_killed %v signal %q exit %d; want oom_killed or SIGKILL", res.OOMKilled, res.Signal, res.ExitCode)
	}
	want(t, "timed out", res.TimedOut, false)

	res = mustResult(t, execRun(t, c, named(newJob("python", "print('ok')"), "after.py")))
	want(t, "stdout after the bomb", string(res.Stdout), "ok\n")
	want(t, "oom_killed after the bomb", res.OOMKilled, false)
}

// kill(-1, SIGKILL) from the job reaches only the processes of the job's
// own uid but the caller: not `runner run` (the runner's uid), not PID 1.
// The job goes on and its result comes back.
func TestContainerExecKillAll(t *testing.T) {
	t.Parallel()
	c := startIdle(t, imageBash)
	o := execRun(t, c, named(newJob("bash", "echo before\nsleep 100 &\nkill -9 -1\necho after"), "killall.sh"))
	res := mustResult(t, o)
	want(t, "stdout", string(res.Stdout), "before\nafter\n")
	want(t, "exit code", res.ExitCode, 0)

	res = mustResult(t, execRun(t, c, named(newJob("bash", bashProbe), "probe.sh")))
	want(t, "probe", string(res.Stdout), "end\n")
}
