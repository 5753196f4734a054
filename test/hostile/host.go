package hostile

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// sandboxUID reports whether uid is one a sandbox's runner or job runs
// as (every sandbox has a block of them, runner/creds.go).
func sandboxUID(uid int) bool {
	return uid >= wire.MinSandboxUID && uid <= wire.MaxSandboxUID
}

// hostProc is one process as the host sees it.
type hostProc struct {
	PID       int
	UID       int
	Container string // full container id from its cgroup, "" outside containers
	Cmdline   string
}

var containerIDInCgroup = regexp.MustCompile(`[0-9a-f]{64}`)

// hostProcesses reads every process on the host from /proc. Processes
// that exit while being read are skipped.
func hostProcesses() ([]hostProc, error) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []hostProc
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", d.Name())
		status, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			continue
		}
		uid := -1
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					uid, _ = strconv.Atoi(f[0])
				}
				break
			}
		}
		cg, _ := os.ReadFile(filepath.Join(dir, "cgroup"))
		cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		out = append(out, hostProc{
			PID:       pid,
			UID:       uid,
			Container: containerIDInCgroup.FindString(string(cg)),
			Cmdline:   string(bytes.TrimSpace(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))),
		})
	}
	return out, nil
}

// allContainers lists the ids of every container on the engine, of any
// scope: another daemon's live sandboxes are not leaks.
func allContainers() (map[string]bool, error) {
	out, err := exec.Command("docker", "ps", "-aq", "--no-trunc").Output()
	if err != nil {
		return nil, fmt.Errorf("docker ps: %w", err)
	}
	ids := map[string]bool{}
	for _, id := range strings.Fields(string(out)) {
		ids[id] = true
	}
	return ids, nil
}

// strays returns the host processes that break U3: a process of the
// sandbox uid that is neither in a container that still exists nor in
// baseline (host processes that ran as that uid before the suite), and
// any process whose command line carries one of markers.
//
// /proc is read before the container list, so a container created in
// between cannot make its processes look orphaned; one removed in
// between can, which the caller's polling absorbs.
func strays(baseline map[int]bool, markers []string) ([]hostProc, error) {
	procs, err := hostProcesses()
	if err != nil {
		return nil, err
	}
	live, err := allContainers()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var bad []hostProc
	for _, p := range procs {
		if p.PID == self {
			continue
		}
		marked := false
		for _, m := range markers {
			if m != "" && strings.Contains(p.Cmdline, m) && !strings.Contains(p.Cmdline, "go test") {
				marked = true
			}
		}
		orphan := sandboxUID(p.UID) && !baseline[p.PID] && (p.Container == "" || !live[p.Container])
		if marked || orphan {
			bad = append(bad, p)
		}
	}
	return bad, nil
}

// sandboxUIDBaseline records the host's processes of the sandbox uid that
// are not in any container, before the suite starts.
func sandboxUIDBaseline() (map[int]bool, error) {
	procs, err := hostProcesses()
	if err != nil {
		return nil, err
	}
	base := map[int]bool{}
	for _, p := range procs {
		if sandboxUID(p.UID) && p.Container == "" {
			base[p.PID] = true
		}
	}
	return base, nil
}

// languageSandboxIDs lists the containers of one language in a scope,
// running or not, sorted.
func languageSandboxIDs(scope, language string) ([]string, error) {
	out, err := exec.Command("docker", "ps", "-aq", "--no-trunc",
		"--filter", "label=io.warmbox.scope="+scope,
		"--filter", "label=io.warmbox.language="+language).Output()
	if err != nil {
		return nil, fmt.Errorf("docker ps: %w", err)
	}
	ids := strings.Fields(string(out))
	slices.Sort(ids)
	return ids, nil
}

// engineEpoch identifies the running dockerd: its pid and start time.
// It changes when the engine restarts (another suite on this machine may
// restart it on purpose), which kills every sandbox mid-job.
func engineEpoch() string {
	pid, err := os.ReadFile("/var/run/docker.pid")
	if err != nil {
		return "unknown"
	}
	p := strings.TrimSpace(string(pid))
	stat, err := os.ReadFile("/proc/" + p + "/stat")
	if err != nil {
		return p
	}
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return p + "@" + f[19] // starttime
		}
	}
	return p
}

// globalOOMKills counts the kernel's OOM kills so far that were not
// confined to one memory cgroup (U6: a sandbox's memory bomb must end in
// its own cgroup, never in a host-wide OOM).
func globalOOMKills() (int, error) {
	out, err := exec.Command("dmesg").Output()
	if err != nil {
		return 0, fmt.Errorf("dmesg: %w", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "oom-kill:constraint=") && !strings.Contains(line, "CONSTRAINT_MEMCG") {
			n++
		}
	}
	return n, nil
}

// waitForEngine gives a Docker engine that is restarting (another suite
// on a shared machine may restart it on purpose) up to 90 s to answer.
// It never skips: an engine that does not answer fails the test.
func waitForEngine(t interface {
	Helper()
	Fatalf(string, ...any)
}) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a Docker engine is required (run deploy/host/engine.sh): %v: %s", err, out)
		}
		time.Sleep(2 * time.Second)
	}
}
