package runner

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// Every job runs under a uid of its own that no other job of the
// sandbox's life gets, and the runner under yet another: a job can then
// neither signal, ptrace, prlimit, renice, re-schedule nor pin the runner
// or a later job, and nothing it leaves behind (a process, a file, an IPC
// object) belongs to the next job's uid. The daemon gives each sandbox a
// block of wire.UIDBlock ids: the runner is the first, job n (from 1) the
// first plus n.
//
// The sandbox starts as root with exactly CAP_SETUID, CAP_SETGID and
// CAP_KILL (and no-new-privileges). The runner drops to its own uid at
// once, keeping those three: SETUID and SETGID to start each job under
// its uid, KILL to end an interpreter it started. Whatever it does as a
// job's uid (the kill sweep, the wipe, writing the job's files, lowering
// the job's rlimits) runs on one locked OS thread whose real, effective
// and saved ids are switched to the job's and whose effective capability
// set is empty (asJob); the other threads keep the runner's.

// runnerCaps are the capabilities the runner keeps once it has dropped
// to its uid. A job gets none: it is not root and has no ambient set, so
// execve empties its permitted and effective sets.
const runnerCaps = 1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID | 1<<unix.CAP_KILL

var errNotSeparated = errors.New("the runner needs to start as root with CAP_SETUID, CAP_SETGID and CAP_KILL to run each job under a uid of its own")

// uids is a sandbox's block: the runner's uid and the range of its jobs.
type uids struct{ runner int }

// job returns the uid of job n (from 1), or an error once the block is
// used up.
func (u uids) job(n int) (int, error) {
	if n < 1 || n >= wire.UIDBlock {
		return 0, fmt.Errorf("sandbox used up: job %d of at most %d", n, wire.UIDBlock-1)
	}
	return u.runner + n, nil
}

// owns reports whether uid is one of the block's job uids.
func (u uids) owns(uid int) bool { return uid > u.runner && uid < u.runner+wire.UIDBlock }

// dropToRunner switches every thread of the process from root to the
// runner's uid and gid, with no supplementary group, keeping runnerCaps
// (keep is false for idle, which needs none). It fails unless the
// process is root and holds runnerCaps: a sandbox set up any other way
// cannot separate its jobs and must not run them.
func dropToRunner(uid int, keep bool) error {
	if err := wire.ValidRunnerUID(uid); err != nil {
		return err
	}
	if syscall.Getuid() != 0 || syscall.Geteuid() != 0 {
		return errNotSeparated
	}
	if c, err := capsOf(); err != nil || c.Effective&runnerCaps != runnerCaps {
		return errNotSeparated
	}
	// Keep-caps is per thread, like the capability sets.
	keepcaps := func(on uintptr) error {
		if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, on, 0); errno != 0 {
			return fmt.Errorf("prctl PR_SET_KEEPCAPS: %w", errno)
		}
		return nil
	}
	if err := keepcaps(1); err != nil {
		return err
	}
	// The syscall package applies these to every thread (the runner is
	// built without cgo, which the all-threads calls need).
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setresgid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	var c uint32
	if keep {
		c = runnerCaps
	}
	hdr, data := capData(c, c)
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("capset: %w", errno)
	}
	if err := keepcaps(0); err != nil {
		return err
	}
	// Switching ids made the process non-dumpable; say so explicitly.
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// capsOf returns the calling thread's capability sets.
func capsOf() (unix.CapUserData, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	err := unix.Capget(&hdr, &data[0])
	return data[0], err
}

// capData builds capset's arguments for the calling thread: the given
// effective and permitted sets (capabilities 0-31), nothing inheritable.
func capData(effective, permitted uint32) (*unix.CapUserHeader, *[2]unix.CapUserData) {
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{{Effective: effective, Permitted: permitted}}
	return hdr, data
}

// asJob runs fn as uid (and gid) uid with no effective capability: on an
// OS thread of its own, locked for the time, whose ids are switched with
// raw system calls (which, unlike the syscall package's, change only the
// calling thread). Afterwards the thread gets the runner's ids and
// capabilities back; if that fails the runner exits, since a thread with
// the wrong ids must never run anything else.
//
// What fn does is bounded by what uid may do: kill(-1) reaches exactly
// the processes of uid, files are created owned by uid, unlink in /tmp
// removes only uid's entries, IPC_RMID only uid's objects, prlimit only
// uid's processes.
func asJob(uid int, fn func() error) error {
	if uid < wire.MinSandboxUID || uid > wire.MaxSandboxUID {
		return fmt.Errorf("job uid %d out of range", uid)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := syscall.Getuid()
		if err := setThreadIDs(uid, false); err != nil {
			// Partly switched: this thread must end with its goroutine
			// (a locked thread that exits is not reused).
			done <- fmt.Errorf("switch to uid %d: %w", uid, err)
			return
		}
		err := fn()
		if rerr := setThreadIDs(self, true); rerr != nil {
			panic(fmt.Sprintf("warmbox-runner: cannot switch back to uid %d: %v", self, rerr))
		}
		runtime.UnlockOSThread()
		done <- err
	}()
	return <-done
}

// setThreadIDs sets the calling thread's real, effective and saved uid
// and gid to id. Going to a job's id (runner false) it first keeps the
// runner's capabilities permitted but not effective, after the switch;
// going back (runner true) it raises them again before the switch.
func setThreadIDs(id int, runner bool) error {
	raw := func(trap, a1, a2, a3 uintptr) error {
		if _, _, errno := unix.RawSyscall(trap, a1, a2, a3); errno != 0 {
			return errno
		}
		return nil
	}
	capset := func(eff uint32) error {
		hdr, data := capData(eff, runnerCaps)
		return raw(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	}
	if runner {
		if err := capset(runnerCaps); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
	}
	u := uintptr(id)
	if err := raw(unix.SYS_SETRESGID, u, u, u); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := raw(unix.SYS_SETRESUID, u, u, u); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	if !runner {
		if err := capset(0); err != nil {
			return fmt.Errorf("capset: %w", err)
		}
	}
	return nil
}

// jobCredential is how a job's process is started: its uid and gid, no
// supplementary group.
func jobCredential(uid int) *syscall.Credential {
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), Groups: []uint32{}}
}
