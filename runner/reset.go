package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// resetBudget bounds a whole reset, kill to verification. A sandbox that
// cannot be made clean in that time is destroyed instead: a wipe of an
// inode bomb must never hold up the next job.
const resetBudget = 2 * time.Second

// maxResetError bounds Reply.Error of a failed reset.
const maxResetError = 400

// resetConfig says where a reset looks. Tests could point it elsewhere;
// the runner uses defaultResetConfig.
type resetConfig struct {
	proc    string      // procfs of the sandbox's PID namespace
	sysvipc string      // its /proc/sysvipc
	dirs    []wipeGroup // what is emptied and must then be empty
	budget  time.Duration
}

// wipeGroup is a directory a job can write to.
type wipeGroup struct {
	path string
	// optional: a missing dir is fine (nothing can be put there). Not
	// for /dev/mqueue: without it, POSIX queues still exist, unlisted.
	optional bool
}

func defaultResetConfig() resetConfig {
	return resetConfig{
		proc:    "/proc",
		sysvipc: "/proc/sysvipc",
		dirs: []wipeGroup{
			{path: "/tmp"},
			{path: "/dev/shm", optional: true},
			{path: "/dev/mqueue"},
		},
		budget: resetBudget,
	}
}

// resetSandbox makes a used sandbox fit for the next job and checks that
// it is. As the job's uid (asJob) it kills every process of that uid,
// reaps them, empties the work dir, /dev/shm and /dev/mqueue of what the
// uid made, and removes its SysV IPC objects; then, as the runner, it
// verifies that /proc lists no process but PID 1 and itself, that the
// directories are empty and that no IPC object is left, whoever owns
// them. Any leftover is returned as an error meant for Reply.Error: the
// daemon then destroys the sandbox.
func resetSandbox(r *reaper, c resetConfig, uid int) error {
	end := time.Now().Add(c.budget)
	self := os.Getpid()
	var problems []string
	err := asJob(uid, func() error {
		if err := killAll(r, c.proc, self, end); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		for _, d := range c.dirs {
			// A missing dir is for verification to judge.
			if err := wipe(d.path, end); err != nil && !errors.Is(err, os.ErrNotExist) {
				problems = append(problems, "wipe "+errnoPath(err))
			}
		}
		if objs, err := listIPC(c.sysvipc); err != nil {
			problems = append(problems, err.Error())
		} else if err := removeIPC(objs); err != nil {
			problems = append(problems, err.Error())
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Verification: the state itself, whatever the steps reported.
	if left, err := otherProcesses(c.proc, self); err != nil {
		problems = append(problems, err.Error())
	} else if len(left) > 0 {
		problems = append(problems, "processes left: "+joinShort(left))
	}
	for _, d := range c.dirs {
		names, err := dirNames(d.path)
		switch {
		case d.optional && errors.Is(err, os.ErrNotExist):
		case err != nil:
			problems = append(problems, "cannot verify "+d.path+": "+errnoText(err))
		case len(names) > 0:
			slices.Sort(names)
			problems = append(problems, fmt.Sprintf("%s not empty: %s", d.path, joinShort(names)))
		}
	}
	if objs, err := listIPC(c.sysvipc); err == nil && len(objs) > 0 {
		problems = append(problems, "SysV IPC left: "+joinShort(objs))
	}
	if len(problems) == 0 {
		return nil
	}
	msg := "reset: " + strings.Join(problems, "; ")
	if len(msg) > maxResetError {
		msg = msg[:maxResetError] + "..."
	}
	return errors.New(msg)
}

// killAll sends SIGKILL with kill(-1) until /proc lists no process of the
// calling thread's uid but PID 1 and self, reaping in between (zombies count until their
// parent reaps them: the runner in serve mode, idle in exec mode). A
// process of another uid cannot be killed and does not hold the loop:
// verification reports it.
func killAll(r *reaper, proc string, self int, end time.Time) error {
	if err := checkKillAll(); err != nil {
		return err
	}
	uid := os.Getuid()
	for {
		if err := unix.Kill(-1, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("kill: %w", err)
		}
		r.reap()
		left, err := otherProcesses(proc, self)
		if err != nil {
			return err
		}
		ours := slices.DeleteFunc(left, func(p procInfo) bool { return p.uid != uid })
		if len(ours) == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("processes survive the kill: %s", joinShort(ours))
		}
		r.waitChild(5*time.Millisecond, nil)
	}
}

// procInfo describes a process for a reset's report.
type procInfo struct {
	pid, uid int
	comm     string
}

func (p procInfo) String() string {
	return fmt.Sprintf("%d %s (uid %d)", p.pid, p.comm, p.uid)
}

// otherProcesses lists every process in proc but PID 1 and self.
func otherProcesses(proc string, self int) ([]procInfo, error) {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil, fmt.Errorf("list processes: %s", errnoText(err))
	}
	var left []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == 1 || pid == self {
			continue
		}
		p := procInfo{pid: pid, uid: -1, comm: "?"}
		if comm, err := os.ReadFile(filepath.Join(proc, e.Name(), "comm")); err == nil {
			p.comm = string(bytes.TrimSpace(comm))
		}
		if status, err := os.ReadFile(filepath.Join(proc, e.Name(), "status")); err == nil {
			p.uid = statusUID(status)
		} else if errors.Is(err, os.ErrNotExist) {
			continue // gone since the listing
		}
		left = append(left, p)
	}
	return left, nil
}

// statusUID returns the real uid from /proc/PID/status, or -1.
func statusUID(status []byte) int {
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
			if f := bytes.Fields(rest); len(f) > 0 {
				if uid, err := strconv.Atoi(string(f[0])); err == nil {
					return uid
				}
			}
		}
	}
	return -1
}

// joinShort joins the first few items for a message.
func joinShort[T any](items []T) string {
	const show = 5
	var parts []string
	for i, it := range items {
		if i == show {
			parts = append(parts, fmt.Sprintf("and %d more", len(items)-show))
			break
		}
		parts = append(parts, fmt.Sprint(it))
	}
	return strings.Join(parts, ", ")
}

// errnoPath keeps the path of an error from wipe and reduces the rest.
func errnoPath(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path + ": " + errnoText(pe.Err)
	}
	return err.Error()
}
