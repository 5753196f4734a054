package runner

import (
	"errors"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"
)

// Returned by checkKillAll: kill(-1) would reach processes outside the
// sandbox.
var (
	errRoot    = errors.New("runner must not run as root")
	errCapKill = errors.New("runner must not run with CAP_KILL")
)

// sweepBudget bounds one sweep. Processes we may not signal (another
// uid's) keep kill(-1) from ever returning ESRCH; the budget ends the
// sweep then.
const sweepBudget = 2 * time.Second

// reaper collects exited children without ever blocking in wait4, and
// records the status and rusage of one of them, the job's main process.
// The runner is a child subreaper, so every orphan of the job becomes its
// child: reaping them as they exit keeps zombies from holding pids (the
// sandbox has 50) while the job runs.
//
// A reaper is used by one goroutine.
type reaper struct {
	sigchld chan os.Signal

	pid      int // main process; 0 until started
	exited   bool
	status   unix.WaitStatus
	rusage   unix.Rusage
	exitedAt time.Time
}

// newReaper subscribes to SIGCHLD. Call it before starting the job (the
// subscription may start an OS thread, which a fork bomb could make
// impossible later) and call stop when done.
func newReaper() *reaper {
	r := &reaper{sigchld: make(chan os.Signal, 1)}
	signal.Notify(r.sigchld, unix.SIGCHLD)
	return r
}

func (r *reaper) stop() { signal.Stop(r.sigchld) }

// track makes pid the main process whose status the reaper records,
// forgetting the previous one. A long-lived reaper (serve mode) tracks
// one process per job.
func (r *reaper) track(pid int) {
	r.pid, r.exited = pid, false
	r.status, r.rusage, r.exitedAt = 0, unix.Rusage{}, time.Time{}
}

// waitExit reaps until the tracked process has exited or budget has
// passed, and reports whether it exited.
func (r *reaper) waitExit(budget time.Duration) bool {
	end := time.Now().Add(budget)
	for r.reap(); !r.exited; r.reap() {
		if time.Now().After(end) {
			return false
		}
		r.waitChild(10*time.Millisecond, nil)
	}
	return true
}

// reap collects every child that has exited so far. It reports whether
// any child, running or not yet collected, remains.
func (r *reaper) reap() bool {
	for {
		var ws unix.WaitStatus
		var ru unix.Rusage
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, &ru)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return false
		case err != nil:
			return true
		case pid == 0:
			return true
		}
		if pid == r.pid && !r.exited {
			r.exited, r.status, r.rusage, r.exitedAt = true, ws, ru, time.Now()
		}
	}
}

// waitChild returns when a SIGCHLD arrives, d has passed, or the
// deadline channel fires (true).
func (r *reaper) waitChild(d time.Duration, deadline <-chan time.Time) (expired bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.sigchld:
	case <-t.C:
	case <-deadline:
		return true
	}
	return false
}

// reapAll collects children until none is left or the budget runs out.
// It reports whether none is left.
func (r *reaper) reapAll(budget time.Duration) bool {
	end := time.Now().Add(budget)
	for r.reap() {
		if time.Now().After(end) {
			return false
		}
		r.waitChild(20*time.Millisecond, nil)
	}
	return true
}

// sweep sends SIGKILL to every process this user may signal in the PID
// namespace: kill(-1) skips only PID 1 and the caller. As the sandbox
// user (uid 65534, no capabilities) that is every process of the job,
// however it daemonized, without starting a process (a fork bomb has
// used up the pids). It repeats until kill(-1) finds no process (ESRCH),
// reaping in between because our own zombies still count as processes.
//
// It refuses when kill(-1) would reach beyond the sandbox user: as root
// (or with CAP_KILL) on a host it would kill every process on the
// machine. The check is here, next to the call, and not only in the
// caller.
func sweep(r *reaper) error {
	if err := checkKillAll(); err != nil {
		return err
	}
	end := time.Now().Add(sweepBudget)
	for {
		err := unix.Kill(-1, unix.SIGKILL)
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		if err != nil && !errors.Is(err, unix.EPERM) {
			return err
		}
		r.reap()
		if time.Now().After(end) {
			return errors.New("processes remain after the sweep")
		}
		r.waitChild(10*time.Millisecond, nil)
	}
}

// checkKillAll returns an error unless kill(-1) is confined to processes
// of our own uid: real and effective uid non-zero, and no CAP_KILL in the
// effective set (an unreadable set counts as holding it).
func checkKillAll() error {
	if os.Getuid() == 0 || os.Geteuid() == 0 {
		return errRoot
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return errCapKill
	}
	if data[0].Effective&(1<<unix.CAP_KILL) != 0 {
		return errCapKill
	}
	return nil
}
