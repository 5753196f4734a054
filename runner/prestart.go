package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// Bounds of a pre-start: loading the interpreter (node needs a few
// hundred milliseconds on half a CPU) and writing the go signal.
const (
	readyTimeout = 15 * time.Second
	goTimeout    = 5 * time.Second
)

// interp is an interpreter started ahead of its job by a bootstrap and
// waiting for the go signal. It serves one job at most: the sweep at the
// end of the job kills it with everything else of the sandbox user.
type interp struct {
	boot    *bootstrap
	command []string
	env     []string
	sp      *spawned
	ctl     *os.File // our end of the control pipe
	uid     int      // the job's uid the interpreter runs as
}

// prestart starts command under boot in dir as uid (0: as the runner, in
// tests), with exactly env, as the main process tracked by r, and returns
// once the bootstrap reports the interpreter loaded. The interpreter's
// stdio are the job's pipes, made exactly as for a cold start; the
// control and ready pipes are its fds ctlFD and readyFD.
func prestart(boot *bootstrap, command, env []string, dir string, uid int, r *reaper, logf func(string, ...any)) (*interp, error) {
	path, err := lookPath(command[0], env)
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("cannot create pipes: %s", errnoText(err))
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		return nil, fmt.Errorf("cannot create pipes: %s", errnoText(err))
	}
	defer readyR.Close()
	extra := make([]*os.File, readyFD-2) // fds 3 to readyFD
	extra[ctlFD-3], extra[readyFD-3] = ctlR, readyW
	var cred *syscall.Credential
	if uid != 0 {
		cred = jobCredential(uid)
	}
	sp, err := spawn(path, boot.argv(command), env, dir, extra, cred)
	ctlR.Close()
	readyW.Close()
	if err != nil {
		ctlW.Close()
		return nil, fmt.Errorf("cannot start %q: %s", command[0], errnoText(err))
	}
	r.track(sp.proc.Pid)
	in := &interp{boot: boot, command: command, env: env, sp: sp, ctl: ctlW, uid: uid}

	readyR.SetReadDeadline(time.Now().Add(readyTimeout))
	var b [1]byte
	if _, err := io.ReadFull(readyR, b[:]); err != nil {
		msg := "interpreter exited before it was ready"
		if errors.Is(err, os.ErrDeadlineExceeded) {
			msg = "interpreter not ready after " + readyTimeout.String()
		}
		if out := in.stderrHead(); out != "" {
			logf("pre-started %s: %s", boot.name, out)
		}
		in.discard(r, logf)
		if r.exited {
			msg += " (" + describeStatus(r.status) + ")"
		}
		return nil, errors.New(msg)
	}
	return in, nil
}

// fits reports whether job can run in the interpreter: the same command
// and the very same environment, which the interpreter read at start.
func (in *interp) fits(job wire.Job) bool {
	return slices.Equal(job.Command, in.command) && slices.Equal(job.Env, in.env)
}

// hand sends job's go signal and returns the job's process, with the
// wall time counted from the signal. The caller has written the files.
func (in *interp) hand(job wire.Job, r *reaper) (*jobProcess, error) {
	if r.reap(); r.exited {
		return nil, errors.New("the interpreter exited before its job")
	}
	if len(jobRlimits(job.Limits)) > 0 {
		if err := asJob(in.uid, func() error { return limitProcess(in.sp.proc.Pid, job.Limits) }); err != nil {
			return nil, err
		}
	}
	in.ctl.SetWriteDeadline(time.Now().Add(goTimeout))
	started := time.Now()
	_, err := in.ctl.Write(in.boot.message(job))
	if cerr := in.ctl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("go signal: %s", errnoText(err))
	}
	return in.sp.run(job, r, started), nil
}

// discard kills an interpreter that will not run its job, reaps it and
// closes its pipes.
func (in *interp) discard(r *reaper, logf func(string, ...any)) {
	in.ctl.Close()
	in.sp.proc.Kill()
	if !r.waitExit(time.Second) {
		logf("pre-started %s: not reaped after SIGKILL", in.boot.name)
	}
	in.sp.close()
}

// stderrHead returns what the interpreter wrote on stderr so far (a
// failed start), shortened for a log line.
func (in *interp) stderrHead() string {
	in.sp.stderrR.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 512)
	n, _ := io.ReadAtLeast(in.sp.stderrR, buf, len(buf))
	return strings.TrimSpace(strings.ToValidUTF8(string(buf[:n]), "?"))
}

// describeStatus says how a process ended: "exit status 1", "SIGSEGV".
func describeStatus(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}
