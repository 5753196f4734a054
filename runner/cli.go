package runner

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

const usage = `usage: warmbox-runner idle --runner-uid UID
       warmbox-runner run|reset --runner-uid UID --job-uid UID
       warmbox-runner serve --runner-uid UID [--bootstrap python|node|bash] [--ready-on-hello] [--env KEY=VALUE]... -- COMMAND...
       warmbox-runner launch [--fsize N] [--nofile N] -- PATH ARGV...
       warmbox-runner install DEST

  The sandbox starts as root with CAP_SETUID, CAP_SETGID and CAP_KILL; the
  runner drops to --runner-uid and runs each job under a uid of its own
  (--job-uid; in serve mode the runner uid + the job's number).

  idle   block forever as the sandbox's PID 1 (exec mode), reaping zombies
  run    read one run request frame on stdin, run its job as --job-uid,
         write one result frame on stdout
  reset  kill every process of --job-uid, wipe what it left in /tmp,
         /dev/shm, /dev/mqueue and SysV IPC, verify that nothing is left,
         write one reset frame on stdout
  serve  be the sandbox's PID 1 (prestart mode): pre-start COMMAND with the
         bootstrap, then answer request frames on stdin until it ends; the
         interpreter's environment is exactly the --env entries; with
         --ready-on-hello the ready frame waits for a "hello" request
  launch lower the job's rlimits, then execute PATH (the runner starts a
         cold job through it)
  install copy this binary to DEST (mode 0555): how a Kubernetes init
         container puts the runner into a sandbox Pod's read-only volume
`

// Main runs the warmbox-runner command with args (without the program
// name) and returns the process exit status: 0 when a result or reset
// frame was written (serve: when stdin ended), 2 for a bad frame or bad
// usage, 1 when a frame could not be written.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "serve" {
		return serve(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "launch" {
		return launch(args[1:], stderr)
	}
	if len(args) == 2 && args[0] == "install" {
		if err := install(args[1]); err != nil {
			fmt.Fprintf(stderr, "warmbox-runner install: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ids, err := parseIDs(args[0], args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "warmbox-runner: %v\n%s", err, usage)
		return 2
	}
	switch args[0] {
	case "idle":
		idle(ids.runner)
		return 0
	case "run":
		return runOnce(ids, stdin, stdout, stderr)
	default: // reset
		return resetOnce(ids, stdout, stderr)
	}
}

// cmdIDs are the ids of idle, run and reset.
type cmdIDs struct {
	runner int
	job    int // run and reset
}

// parseIDs parses the flags of idle (--runner-uid), run and reset
// (--runner-uid and --job-uid, a uid of the runner's block).
func parseIDs(cmd string, args []string) (cmdIDs, error) {
	if cmd != "idle" && cmd != "run" && cmd != "reset" {
		return cmdIDs{}, fmt.Errorf("unknown command %s", wire.QuoteName(cmd))
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ids cmdIDs
	fs.IntVar(&ids.runner, "runner-uid", 0, "")
	fs.IntVar(&ids.job, "job-uid", 0, "")
	if err := fs.Parse(args); err != nil {
		return cmdIDs{}, err
	}
	if fs.NArg() > 0 {
		return cmdIDs{}, fmt.Errorf("%s: unexpected argument %s", cmd, wire.QuoteName(fs.Arg(0)))
	}
	if err := wire.ValidRunnerUID(ids.runner); err != nil {
		return cmdIDs{}, fmt.Errorf("--runner-uid: %w", err)
	}
	switch {
	case cmd == "idle" && ids.job != 0:
		return cmdIDs{}, errors.New("idle: takes no --job-uid")
	case cmd != "idle" && !(uids{runner: ids.runner}).owns(ids.job):
		return cmdIDs{}, fmt.Errorf("--job-uid: must be %d to %d, got %d", ids.runner+1, ids.runner+wire.UIDBlock-1, ids.job)
	}
	return ids, nil
}

// runOnce is the exec mode: one run request in, one result frame out
// (after the output frames of a streamed job).
func runOnce(ids cmdIDs, stdin io.Reader, stdout, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "warmbox-runner: "+format+"\n", args...)
	}
	out := &frameWriter{w: stdout}
	result := func(token string, res wire.Result) error {
		return writeReply(out, wire.Reply{Kind: "result", Token: token, Result: &res}, logf)
	}
	if err := harden(ids.runner, true); err != nil {
		logf("%v", err)
		result("", wire.Result{Error: "runner setup failed: " + err.Error()})
		return 1
	}
	var req wire.Request
	if err := wire.ReadFrame(stdin, &req); err != nil {
		logf("read request: %v", err)
		result("", wire.Result{Error: frameError(err)})
		return 2
	}
	if req.Op != "run" || req.Job == nil {
		result(req.Token, wire.Result{Error: "bad request: want a run request with a job"})
		return 2
	}
	res := execute(*req.Job, defaultOptions(logf), ids.job, outputSender(out, req.Token, logf))
	if err := result(req.Token, res); err != nil {
		return 1
	}
	return 0
}

// resetOnce is reset in exec mode, started by docker exec next to idle:
// it reads nothing and writes one reset frame.
func resetOnce(ids cmdIDs, stdout, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "warmbox-runner: "+format+"\n", args...)
	}
	rep := wire.Reply{Kind: "reset"}
	if err := harden(ids.runner, true); err != nil {
		logf("%v", err)
		rep.Error = "runner setup failed: " + err.Error()
	} else {
		r := newReaper()
		defer r.stop()
		if err := resetSandbox(r, defaultResetConfig(), ids.job); err != nil {
			rep.Error = err.Error()
		}
	}
	if writeReply(stdout, rep, logf) != nil {
		return 1
	}
	return 0
}

// install copies the running executable to dest, readable and
// executable by all, writable by none.
func install(dest string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	src, err := os.Open(self)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o555)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// frameError turns a ReadFrame error into a short message for the caller.
func frameError(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "bad request frame: no frame before end of input"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "bad request frame: truncated"
	case errors.Is(err, wire.ErrFrameTooLarge):
		return fmt.Sprintf("bad request frame: larger than %d bytes", wire.MaxFrameBytes)
	default:
		return "bad request frame: not a JSON request"
	}
}

// harden prepares the runner process before it reads a job:
//
//   - refused in a sandbox that has a network (checkNoNetwork);
//   - the kubelet's termination log closed to jobs (closeTerminationLog);
//   - dropped from root to its own uid, keeping only runnerCaps (keep) or
//     nothing, so no job (another uid, no capability) can signal,
//     ptrace, prlimit or re-schedule it;
//   - not dumpable, so not even a process of its uid could ptrace it or
//     open its /proc/<pid>/mem, environ or fd;
//   - a child subreaper (or PID 1), so every orphan of the job is
//     reparented to it and reaped by it;
//   - every signal that would end a Go program is caught and dropped, so
//     the job cannot stop the runner with SIGTERM, SIGINT, SIGQUIT...
//     (only SIGKILL and SIGSTOP remain). Caught rather than ignored:
//     SIG_IGN would be inherited by the job through exec;
//   - a small GOMAXPROCS and a reserve of idle OS threads, created now:
//     during a fork bomb the pids cgroup (which counts threads) is full,
//     and a Go runtime that then needs a new thread dies.
func harden(runnerUID int, keep bool) error {
	if err := checkNoNetwork(); err != nil {
		return err
	}
	if err := closeTerminationLog(); err != nil {
		return err
	}
	if err := dropToRunner(runnerUID, keep); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE: %w", err)
	}
	// No core dumps, for the runner or anything it starts (the limit is
	// inherited and no job may raise it): Docker sets the same through
	// the container's ulimits, Kubernetes has no such setting.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_CORE: %w", err)
	}
	// PID 1 (serve mode) is its namespace's reaper already. gVisor may
	// refuse the prctl (EINVAL): orphans then go to PID 1, which reaps
	// them, and the kill sweep still reaches them, so the runner goes on.
	if os.Getpid() != 1 {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
		}
	}
	runtime.GOMAXPROCS(2)
	caught := make(chan os.Signal, 16)
	signal.Notify(caught, fatalSignals...)
	go func() {
		for range caught {
		}
	}()
	reserveThreads(8)
	// Last: everything the runner starts from now on inherits it.
	return installDenyFilter()
}

// fatalSignals end a Go program by default when another process sends
// them, plus the ones a job might use to disturb the runner. Catching
// SIGSEGV, SIGBUS and SIGFPE only diverts those sent with kill(2): a real
// fault still panics. Signals 32-34 cannot be caught (the runtime keeps
// them for libc) and still kill the runner; so, of course, does SIGKILL.
var fatalSignals = []os.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGQUIT, unix.SIGILL, unix.SIGTRAP,
	unix.SIGABRT, unix.SIGBUS, unix.SIGFPE, unix.SIGSEGV, unix.SIGSTKFLT,
	unix.SIGSYS, unix.SIGTERM, unix.SIGPIPE,
	unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM, unix.SIGXCPU, unix.SIGXFSZ,
	unix.SIGVTALRM, unix.SIGIO, unix.SIGPWR, unix.SIGTSTP, unix.SIGTTIN,
	unix.SIGTTOU,
}

// reserveThreads makes the Go runtime start n OS threads now and keep
// them idle: n goroutines each hold a thread at once, then let go. The
// runtime parks released threads for reuse and never exits them.
func reserveThreads(n int) {
	var held, done sync.WaitGroup
	release := make(chan struct{})
	held.Add(n)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			held.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	held.Wait()
	close(release)
	done.Wait()
}

// idle is the sandbox's PID 1 in exec mode. It never returns. It drops
// to the runner's uid without any capability, reaps every zombie
// reparented to it and ignores every signal it can: as the namespace's
// init with SIG_IGN, the kernel drops them before delivery. The daemon
// stops the container from outside with SIGKILL. If it cannot drop, it
// says so and idles on: each `run` drops for itself, and refuses the job
// with the reason.
func idle(runnerUID int) {
	if err := dropToRunner(runnerUID, false); err != nil {
		fmt.Fprintf(os.Stderr, "warmbox-runner idle: %v\n", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "warmbox-runner: prctl PR_SET_DUMPABLE: %v\n", err)
	}
	for s := syscall.Signal(1); s <= 64; s++ {
		switch s {
		case unix.SIGKILL, unix.SIGSTOP, unix.SIGCHLD, unix.SIGURG, unix.SIGPROF:
			continue
		}
		signal.Ignore(s)
	}
	r := newReaper()
	for {
		r.reap()
		<-r.sigchld
	}
}

// terminationLog is where the kubelet bind-mounts a Pod container's
// termination message file, writable, from the node's disk.
const terminationLog = "/dev/termination-log"

// closeTerminationLog makes the kubelet's termination log readable and
// writable by its owner alone, while the runner is still root: a file
// every uid could write would carry data from one job of a reused Pod to
// the next, and onto the node's disk. The kubelet, root on the node,
// still reads it; the runner never writes it. Where there is no such
// file (Docker), or the runner does not start as root (a bare `runner
// run` in tests), there is nothing to do.
func closeTerminationLog() error {
	if os.Geteuid() != 0 {
		return nil
	}
	err := os.Chmod(terminationLog, 0o600)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("closing %s to jobs: %w", terminationLog, err)
}
