package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// docker runs the docker CLI, bounded; it returns the combined output.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// containers lists a scope's containers: all of them, or only the
// running (not paused) ones.
func containers(scope string, runningOnly bool) ([]string, error) {
	args := []string{"ps", "-q", "--no-trunc", "--filter", "label=io.warmbox.scope=" + scope}
	if runningOnly {
		args = append(args, "--filter", "status=running")
	} else {
		args = append(args, "-a")
	}
	out, err := docker(args...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// findProcess returns the running container of scope in which a process
// whose command line contains marker runs, polling up to within.
func findProcess(t *testing.T, scope, marker string, within time.Duration) string {
	t.Helper()
	var last string
	eventually(t, within, "a container running "+strconv.Quote(marker), func() (bool, string) {
		ids, err := containers(scope, true)
		if err != nil {
			return false, err.Error()
		}
		for _, id := range ids {
			out, err := docker("top", id, "-eo", "pid,args")
			if err == nil && strings.Contains(out, marker) {
				last = id
				return true, ""
			}
		}
		return false, fmt.Sprintf("not among %d running containers", len(ids))
	})
	return last
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// engineUp reports whether the Docker engine answers.
func engineUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}

// startEngine starts dockerd with deploy/host/engine.sh (which removes
// a stale pid file) and waits until it answers.
func startEngine() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(moduleRoot(), "deploy", "host", "engine.sh"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("engine.sh: %v: %s", err, out)
	}
	return nil
}

// restoreEngineAtCleanup makes sure the engine answers after the test,
// whatever happened.
func restoreEngineAtCleanup(t *testing.T) {
	t.Cleanup(func() {
		if engineUp() {
			return
		}
		if err := startEngine(); err != nil {
			t.Errorf("restoring the Docker engine: %v", err)
		}
	})
}

// dockerdPID reads dockerd's pid file and checks that the process is
// dockerd.
func dockerdPID() (int, error) {
	b, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return 0, fmt.Errorf("dockerd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("dockerd pid file: %w", err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
		return 0, fmt.Errorf("pid %d from /var/run/docker.pid is not dockerd (%q, %v)", pid, comm, err)
	}
	return pid, nil
}

// stopEngine sends sig to dockerd (by its pid) and waits until the
// process is gone.
func stopEngine(t *testing.T, sig syscall.Signal) {
	t.Helper()
	pid, err := dockerdPID()
	if err != nil {
		t.Fatalf("cannot stop the engine: %v", err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("%v to dockerd (pid %d): %v", sig, pid, err)
	}
	eventually(t, 90*time.Second, "dockerd to exit", func() (bool, string) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true, "" // gone
		}
		// pid (comm) state ...: a zombie has exited, whoever reaps it.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		return len(fields) > 0 && fields[0] == "Z", fmt.Sprintf("pid %d still running", pid)
	})
}

// states counts a scope's containers by state, e.g. "running: 6, exited: 2".
func states(scope string) string {
	out, err := docker("ps", "-a", "--filter", "label=io.warmbox.scope="+scope, "--format", "{{.State}}")
	if err != nil {
		return err.Error()
	}
	n := map[string]int{}
	for _, s := range strings.Fields(out) {
		n[s]++
	}
	return fmt.Sprint(n)
}
