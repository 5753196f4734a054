package runner

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/runner/wire"
)

// A job's rlimits. File size and open files: Docker sets them for the
// whole container (ulimits); Kubernetes has no such setting, so the
// runner sets them on the job itself, the same on both backends: no file
// a job can write grows past FileSizeBytes. Data, CPU time and processes
// are what a request may lower (Limits). Limits are only ever lowered.

// launchCommand returns what to start instead of path with argv so that
// the job's limits are lowered in the new process itself, after it left
// the runner and before the interpreter starts: the runner's own launch
// step (`launch`), which sets them and executes path. Without limits to
// set it returns path and argv as they are.
func launchCommand(path string, argv []string, l wire.Limits) (string, []string, error) {
	rl := jobRlimits(l)
	if len(rl) == 0 {
		return path, argv, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("find the runner: %w", err)
	}
	args := []string{"warmbox-runner", "launch"}
	for _, r := range rl {
		args = append(args, "--"+r.flag, strconv.FormatInt(r.value, 10))
	}
	args = append(append(args, "--", path), argv...)
	return self, args, nil
}

// launch is the launch step: `launch [--fsize N] [--nofile N] [--data N]
// [--cpu N] [--nproc N] -- PATH ARGV...` lowers its own limits and executes PATH with ARGV (ARGV[0]
// included) and its environment as it is. It returns only on failure.
func launch(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("launch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var l wire.Limits
	fs.Int64Var(&l.FileSizeBytes, "fsize", 0, "")
	fs.Int64Var(&l.NoFile, "nofile", 0, "")
	fs.Int64Var(&l.DataBytes, "data", 0, "")
	fs.Int64Var(&l.CPUSeconds, "cpu", 0, "")
	fs.Int64Var(&l.Processes, "nproc", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() < 2 {
		fmt.Fprintf(stderr, "warmbox-runner launch: want [--fsize N] [--nofile N] [--data N] [--cpu N] [--nproc N] -- PATH ARGV...\n")
		return 2
	}
	for _, r := range jobRlimits(l) {
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(r.resource, &cur); err != nil {
			fmt.Fprintf(stderr, "warmbox-runner launch: getrlimit %s: %v\n", r.name, err)
			return 1
		}
		// syscall.Setrlimit, so that the Go runtime does not restore
		// its saved RLIMIT_NOFILE in the program it executes.
		want := lowered(cur, r.value)
		if err := syscall.Setrlimit(r.resource, &want); err != nil {
			fmt.Fprintf(stderr, "warmbox-runner launch: setrlimit %s: %v\n", r.name, err)
			return 1
		}
	}
	err := syscall.Exec(fs.Arg(0), fs.Args()[1:], os.Environ())
	fmt.Fprintf(stderr, "warmbox-runner launch: %s: %s\n", fs.Arg(0), errnoText(err))
	return 127
}

// limitProcess lowers the limits of a pre-started interpreter before its
// go signal. prlimit needs the caller's ids to match the target's: call
// it as the interpreter's uid (asJob).
func limitProcess(pid int, l wire.Limits) error {
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
	flag     string // launch's flag
	resource int
	value    int64 // 0: leave as is
}

func jobRlimits(l wire.Limits) []rlimit {
	var out []rlimit
	for _, r := range []rlimit{
		{"RLIMIT_FSIZE", "fsize", unix.RLIMIT_FSIZE, l.FileSizeBytes},
		{"RLIMIT_NOFILE", "nofile", unix.RLIMIT_NOFILE, l.NoFile},
		{"RLIMIT_DATA", "data", unix.RLIMIT_DATA, l.DataBytes},
		{"RLIMIT_CPU", "cpu", unix.RLIMIT_CPU, l.CPUSeconds},
		{"RLIMIT_NPROC", "nproc", unix.RLIMIT_NPROC, l.Processes},
	} {
		if r.value > 0 {
			out = append(out, r)
		}
	}
	return out
}

func lowered(cur syscall.Rlimit, v int64) syscall.Rlimit {
	return syscall.Rlimit{Cur: min(cur.Cur, uint64(v)), Max: min(cur.Max, uint64(v))}
}
