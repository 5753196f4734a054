package runner

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// A job's file-size and open-file limits. Docker sets them for the whole
// container (ulimits); Kubernetes has no such setting, and it bind-mounts
// a writable file from the node's disk into every container
// (/dev/termination-log), so the runner sets them on the job itself,
// the same on both backends: no file a job can write grows past
// FileSizeBytes. Limits are only ever lowered.

// limitSelf lowers the runner's own limits before it starts a job, which
// inherits them. The runner writes the job's files before and nothing
// large after.
func limitSelf(l Limits) error {
	for _, r := range jobRlimits(l) {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(r.resource, &cur); err != nil {
			return fmt.Errorf("getrlimit %s: %w", r.name, err)
		}
		want := lowered(cur, r.value)
		if want == cur {
			continue
		}
		// syscall.Setrlimit, so that the Go runtime stops restoring its
		// saved RLIMIT_NOFILE in the processes it starts.
		if err := syscall.Setrlimit(r.resource, &want); err != nil {
			return fmt.Errorf("setrlimit %s: %w", r.name, err)
		}
	}
	return nil
}

// limitProcess lowers the limits of a pre-started interpreter before its
// go signal.
func limitProcess(pid int, l Limits) error {
	for _, r := range jobRlimits(l) {
		var cur unix.Rlimit
		if err := unix.Prlimit(pid, r.resource, nil, &cur); err != nil {
			return fmt.Errorf("prlimit %s: %w", r.name, err)
		}
		c := syscall.Rlimit{Cur: cur.Cur, Max: cur.Max}
		want := lowered(c, r.value)
		if want == c {
			continue
		}
		if err := unix.Prlimit(pid, r.resource, &unix.Rlimit{Cur: want.Cur, Max: want.Max}, nil); err != nil {
			return fmt.Errorf("prlimit %s: %w", r.name, err)
		}
	}
	return nil
}

type rlimit struct {
	name     string
	resource int
	value    int64 // 0: leave as is
}

func jobRlimits(l Limits) []rlimit {
	var out []rlimit
	if l.FileSizeBytes > 0 {
		out = append(out, rlimit{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE, l.FileSizeBytes})
	}
	if l.NoFile > 0 {
		out = append(out, rlimit{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, l.NoFile})
	}
	return out
}

func lowered(cur syscall.Rlimit, v int64) syscall.Rlimit {
	return syscall.Rlimit{Cur: min(cur.Cur, uint64(v)), Max: min(cur.Max, uint64(v))}
}
