package runner

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// defaultPath is searched for the interpreter when Job.Env has no PATH.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// drainGrace bounds the wait for the output pipes to reach EOF once every
// process of the job is gone.
const drainGrace = 2 * time.Second

// jobProcess is a started program: its pipes, the goroutines that feed
// and drain them, and the reaper that collects it.
type jobProcess struct {
	proc    *os.Process
	reaper  *reaper
	started time.Time

	stdinW, stdoutR, stderrR *os.File
	stdout, stderr           *capped
	kept                     chan struct{} // signalled when stdout or stderr keeps new bytes
	fed                      chan struct{} // closed when stdin is written and closed
	drained                  chan struct{} // closed when both output pipes hit EOF
}

// startProcess runs the job's command line (Job.argv) in dir as cred (nil: as the
// runner, in tests), in a session of its own, with exactly job.Env as its
// environment and three pipes as its only open files. The program is
// started through the runner's launch step, which lowers the job's
// rlimits in the new process before it executes the interpreter, so the
// runner's own limits stay as the sandbox set them for the next job. The
// returned error is a message for the caller.
func startProcess(job wire.Job, dir string, r *reaper, cred *syscall.Credential) (*jobProcess, error) {
	path, err := lookPath(job.Command[0], job.Env)
	if err != nil {
		return nil, err
	}
	path, argv, err := launchCommand(path, job.Argv(), job.Limits)
	if err != nil {
		return nil, err
	}
	sp, err := spawn(path, argv, job.Env, dir, nil, cred)
	if err != nil {
		return nil, fmt.Errorf("cannot start %q: %s", job.Command[0], errnoText(err))
	}
	r.track(sp.proc.Pid)
	return sp.run(job, r, sp.started), nil
}

// spawned is a started process and the runner's ends of its stdio pipes.
type spawned struct {
	proc                     *os.Process
	started                  time.Time
	stdinW, stdoutR, stderrR *os.File
}

// spawn starts path with argv in dir as cred, in a session of its own,
// with exactly env as its environment, three fresh pipes as fds 0-2 and
// extra as fds 3 and up (a nil entry leaves that fd closed). Nothing else
// of the runner's reaches it. The caller still holds extra and closes it.
func spawn(path string, argv, env []string, dir string, extra []*os.File, cred *syscall.Credential) (*spawned, error) {
	var pipes [3][2]*os.File // stdin, stdout, stderr; [0] read end, [1] write end
	closeAll := func() {
		for _, p := range pipes {
			for _, f := range p {
				if f != nil {
					f.Close()
				}
			}
		}
	}
	for i := range pipes {
		var err error
		if pipes[i][0], pipes[i][1], err = os.Pipe(); err != nil {
			closeAll()
			return nil, err
		}
	}
	attr := &os.ProcAttr{
		Dir: dir,
		// A nil Env would make os.StartProcess inherit ours.
		Env:   append([]string{}, env...),
		Files: append([]*os.File{pipes[0][0], pipes[1][1], pipes[2][1]}, extra...),
		Sys: &syscall.SysProcAttr{
			Setsid: true,
			// If the runner dies (kill -9 -1 from the job reaches it),
			// the main process goes with it.
			Pdeathsig:  syscall.SIGKILL,
			Credential: cred,
		},
	}
	if err := cloexecFrom(3); err != nil {
		closeAll()
		return nil, err
	}
	started := time.Now()
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil {
		closeAll()
		return nil, err
	}
	// Our copies of the child's ends must go, or the output pipes never
	// reach EOF and stdin never breaks.
	pipes[0][0].Close()
	pipes[1][1].Close()
	pipes[2][1].Close()
	return &spawned{proc: proc, started: started, stdinW: pipes[0][1], stdoutR: pipes[1][0], stderrR: pipes[2][0]}, nil
}

// run turns a spawned process into the job's process: it starts feeding
// job.Stdin and draining the output under job's caps. started is when
// the job's own program began.
func (sp *spawned) run(job wire.Job, r *reaper, started time.Time) *jobProcess {
	kept := make(chan struct{}, 1)
	p := &jobProcess{
		proc:    sp.proc,
		reaper:  r,
		started: started,
		stdinW:  sp.stdinW,
		stdoutR: sp.stdoutR,
		stderrR: sp.stderrR,
		stdout:  newCapped(job.Limits.OutputBytes, kept),
		stderr:  newCapped(job.Limits.OutputBytes, kept),
		kept:    kept,
		fed:     make(chan struct{}),
		drained: make(chan struct{}),
	}
	go p.feed(job.Stdin)
	go p.drain()
	return p
}

// close releases a spawned process that never became a job's: its pipes
// and its handle. The caller has killed and reaped it.
func (sp *spawned) close() {
	sp.stdinW.Close()
	sp.stdoutR.Close()
	sp.stderrR.Close()
	sp.proc.Release()
}

// feed writes stdin and closes the pipe. A program that never reads
// leaves the write blocked until every reader is dead (EPIPE, ignored);
// only this goroutine waits, never the runner.
func (p *jobProcess) feed(stdin []byte) {
	defer close(p.fed)
	if len(stdin) > 0 {
		p.stdinW.Write(stdin)
	}
	p.stdinW.Close()
}

// drain reads stdout and stderr at the same time, so a program that
// fills one while we wait on the other never deadlocks.
func (p *jobProcess) drain() {
	done := make(chan struct{})
	go func() {
		drain(p.stderrR, p.stderr)
		close(done)
	}()
	drain(p.stdoutR, p.stdout)
	<-done
	close(p.drained)
}

// stream starts sending the output as the pipes deliver it (Job.Stream);
// the caller closes the streamer after finish, before the result.
func (p *jobProcess) stream(send sendOutput) *streamer {
	return startStreamer(send, p.kept, p.stdout, p.stderr)
}

// finish waits for the main process until the deadline, kills every
// process of the job with killAll (sweep, except in tests), reaps them,
// collects the output and reports. logf receives diagnostics for the
// runner's stderr.
func (p *jobProcess) finish(timeout time.Duration, killAll func(*reaper) error, logf func(string, ...any)) wire.Result {
	var res wire.Result
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.reaper.reap()
		if p.reaper.exited {
			break
		}
		// The periodic wake-up only guards against a lost SIGCHLD.
		if p.reaper.waitChild(250*time.Millisecond, deadline.C) {
			p.reaper.reap()
			res.TimedOut = !p.reaper.exited
			break
		}
	}
	// The main process is gone or out of time: nothing it started may
	// outlive it.
	if err := killAll(p.reaper); err != nil {
		logf("kill: %v", err)
	}
	if !p.reaper.reapAll(sweepBudget) {
		logf("reap: children remain after the sweep")
	}
	p.closePipes()
	p.proc.Release()

	res.Stdout, res.StdoutTruncated = p.stdout.Bytes(), p.stdout.truncated
	res.Stderr, res.StderrTruncated = p.stderr.Bytes(), p.stderr.truncated
	if !p.reaper.exited {
		res.Error = "the program could not be stopped"
		return res
	}
	ws, ru := p.reaper.status, p.reaper.rusage
	res.ExitCode = ws.ExitStatus()
	if ws.Signaled() {
		res.ExitCode = -1
		res.Signal = unix.SignalName(ws.Signal())
	}
	res.WallMs = ms(p.reaper.exitedAt.Sub(p.started))
	res.CPUTimeMs = tvMs(ru.Utime) + tvMs(ru.Stime)
	res.MemoryPeakKB = ru.Maxrss
	return res
}

// closePipes waits for the output pipes to reach EOF, which they do once
// every process holding them is dead, then closes everything. If some
// writer survived after all, the read ends are closed under it.
func (p *jobProcess) closePipes() {
	t := time.NewTimer(drainGrace)
	defer t.Stop()
	select {
	case <-p.drained:
	case <-t.C:
		p.stdoutR.Close()
		p.stderrR.Close()
		<-p.drained
	}
	p.stdoutR.Close()
	p.stderrR.Close()
	p.stdinW.Close()
	<-p.fed
}

// cloexecFrom marks every fd from first up close-on-exec. Go opens its own
// files that way, but the runner may have inherited others; none of them
// may reach the job.
func cloexecFrom(first int) error {
	err := unix.CloseRange(uint(first), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil || (!errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL)) {
		return err
	}
	// Before Linux 5.11, or a sandbox kernel without close_range.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < first {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return err
		}
	}
	return nil
}

// lookPath finds the interpreter in the PATH of the job's environment,
// ignoring relative PATH entries. A name with a slash must be absolute.
func lookPath(file string, env []string) (string, error) {
	notFound := fmt.Errorf("interpreter %q not found", file)
	if strings.Contains(file, "/") {
		if !filepath.IsAbs(file) || !isExecutable(file) {
			return "", notFound
		}
		return file, nil
	}
	pathList := defaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathList = v
		}
	}
	for _, dir := range filepath.SplitList(pathList) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, file); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("interpreter %q not found in PATH", file)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	return unix.Access(path, unix.X_OK) == nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func tvMs(tv unix.Timeval) float64 {
	return float64(tv.Sec)*1e3 + float64(tv.Usec)/1e3
}
