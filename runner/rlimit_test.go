package runner

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

func TestLowered(t *testing.T) {
	if got := lowered(syscall.Rlimit{Cur: 100, Max: 200}, 150); got != (syscall.Rlimit{Cur: 100, Max: 150}) {
		t.Errorf("got %+v: the soft limit must not be raised", got)
	}
	if got := lowered(syscall.Rlimit{Cur: 100, Max: 200}, 50); got != (syscall.Rlimit{Cur: 50, Max: 50}) {
		t.Errorf("got %+v", got)
	}
}

// limitProcess lowers a running process's limits, as the runner does to
// a pre-started interpreter before its go signal.
func TestLimitProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := limitProcess(cmd.Process.Pid, wire.Limits{FileSizeBytes: 1 << 20, NoFile: 64}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{"Max file size", "1048576", "1048576"}, {"Max open files", "64", "64"}} {
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, want[0]) {
				f := strings.Fields(strings.TrimPrefix(line, want[0]))
				found = len(f) >= 2 && f[0] == want[1] && f[1] == want[2]
				if !found {
					t.Errorf("%s: got %q", want[0], line)
				}
			}
		}
		if !found {
			t.Errorf("%s not set:\n%s", want[0], b)
		}
	}
	// Zero leaves a limit alone.
	if err := limitProcess(cmd.Process.Pid, wire.Limits{}); err != nil {
		t.Fatal(err)
	}
}
