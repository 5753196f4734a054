package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

const usage = `usage: warmbox-runner idle|run|reset
       warmbox-runner serve [--bootstrap python|node|bash] [--ready-on-hello] [--env KEY=VALUE]... -- COMMAND...
       warmbox-runner install DEST

  idle   block forever as the sandbox's PID 1 (exec mode), reaping zombies
  run    read one run request frame on stdin, run its job, write one result
         frame on stdout
  reset  kill every process of the sandbox user, wipe /tmp, /dev/shm,
         /dev/mqueue and SysV IPC, verify, write one reset frame on stdout
  serve  be the sandbox's PID 1 (prestart mode): pre-start COMMAND with the
         bootstrap, then answer request frames on stdin until it ends; the
         interpreter's environment is exactly the --env entries; with
         --ready-on-hello the ready frame waits for a "hello" request
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
	if len(args) == 2 && args[0] == "install" {
		if err := install(args[1]); err != nil {
			fmt.Fprintf(stderr, "warmbox-runner install: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) != 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "idle":
		idle()
		return 0
	case "run":
		return runOnce(stdin, stdout, stderr)
	case "reset":
		return resetOnce(stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
}

// runOnce is the exec mode: one run request in, one result frame out.
func runOnce(stdin io.Reader, stdout, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "warmbox-runner: "+format+"\n", args...)
	}
	result := func(token string, res Result) error {
		return writeReply(stdout, Reply{Kind: "result", Token: token, Result: &res}, logf)
	}
	if err := harden(); err != nil {
		logf("%v", err)
		result("", Result{Error: "runner setup failed"})
		return 1
	}
	var req Request
	if err := ReadFrame(stdin, &req); err != nil {
		logf("read request: %v", err)
		result("", Result{Error: frameError(err)})
		return 2
	}
	if req.Op != "run" || req.Job == nil {
		result(req.Token, Result{Error: "bad request: want a run request with a job"})
		return 2
	}
	if err := result(req.Token, execute(*req.Job, defaultOptions(logf))); err != nil {
		return 1
	}
	return 0
}

// resetOnce is reset in exec mode, started by docker exec next to idle:
// it reads nothing and writes one reset frame.
func resetOnce(stdout, stderr io.Writer) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "warmbox-runner: "+format+"\n", args...)
	}
	rep := Reply{Kind: "reset"}
	if err := harden(); err != nil {
		logf("%v", err)
		rep.Error = "runner setup failed"
	} else {
		r := newReaper()
		defer r.stop()
		if err := resetSandbox(r, defaultResetConfig()); err != nil {
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
	case errors.Is(err, ErrFrameTooLarge):
		return fmt.Sprintf("bad request frame: larger than %d bytes", MaxFrameBytes)
	default:
		return "bad request frame: not a JSON request"
	}
}

// harden prepares the runner process before it reads a job:
//
//   - not dumpable, so the job (same uid) cannot ptrace it or open its
//     /proc/<pid>/mem, environ or fd;
//   - a child subreaper (or PID 1), so every orphan of the job is
//     reparented to it and reaped by it;
//   - every signal that would end a Go program is caught and dropped, so
//     the job cannot stop the runner with SIGTERM, SIGINT, SIGQUIT...
//     (only SIGKILL and SIGSTOP remain). Caught rather than ignored:
//     SIG_IGN would be inherited by the job through exec;
//   - a small GOMAXPROCS and a reserve of idle OS threads, created now:
//     during a fork bomb the pids cgroup (which counts threads) is full,
//     and a Go runtime that then needs a new thread dies.
func harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE: %w", err)
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

// idle is the sandbox's PID 1 in exec mode. It never returns. It reaps
// every zombie reparented to it and ignores every signal it can: as the
// namespace's init with SIG_IGN, the kernel drops them before delivery.
// The daemon stops the container from outside with SIGKILL.
func idle() {
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
