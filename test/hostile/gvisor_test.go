package hostile

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// gvisorConfig serves python and bash under runsc (node stays off: its
// pool would only slow the start). The pids cgroup of a runsc container
// also counts gVisor's own host threads (an idle sandbox uses about 50,
// so the default of 50 leaves none for a job and the sandbox dies on the
// first exec: docs/SECURITY.md, F3), hence a higher limit. WARMBOX_HOSTILE_RUNSC_RUNNER points
// the daemon at another runner binary, to try a runner fix under gVisor
// without touching the one the suite builds.
func gvisorConfig() string {
	cfg := config + `
languages:
  python: {runtime: runsc, limits: {pids: 512}, pool: {max_uses: 1}}
  bash: {runtime: runsc, limits: {pids: 512}, pool: {max_uses: 1}}
  node: {enabled: false}
`
	if p := os.Getenv("WARMBOX_HOSTILE_RUNSC_RUNNER"); p != "" {
		cfg += "engine: {runner_path: " + p + "}\n"
	}
	return cfg
}

// TestGVisor runs the cases that carry a runsc expectation with python
// and bash configured for gVisor. On a host where that configuration
// cannot serve (docs/SECURITY.md, finding F3), it proves instead that it
// fails closed: the languages are reported not ready, every sandbox was
// created under runsc (no silent fallback to runc), and a program sent
// anyway does not run.
func TestGVisor(t *testing.T) {
	waitForEngine(t)
	out, err := exec.Command("docker", "info", "--format", "{{json .Runtimes}}").Output()
	if err != nil || !strings.Contains(string(out), `"runsc"`) {
		t.Fatalf("runsc is not registered with the Docker engine (deploy/host/engine.sh registers it): %v %s", err, out)
	}
	d := testdaemon.Start(t, testdaemon.Options{Config: gvisorConfig(), NoWait: true})

	ready, reasons := verdict(t, d, 3*time.Minute)
	for _, id := range testdaemon.ContainerIDs(t, d.Scope) {
		rt, err := exec.Command("docker", "inspect", "--format", "{{.HostConfig.Runtime}}", id).Output()
		if err == nil && strings.TrimSpace(string(rt)) != "runsc" {
			t.Errorf("sandbox %.12s runs under %q, want runsc: a gVisor language must never fall back to runc", id, strings.TrimSpace(string(rt)))
		}
	}

	if !ready {
		t.Logf("FINDING F3: python and bash configured for runsc do not become ready on this host: %s", reasons)
		marker := "wbhgvisor" + randomHex(4)
		b := battery{d: d}
		a, err := b.post(map[string]any{"environment": "python", "code": "print('" + marker + "')", "timeout": 5}, 5)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Status string `json:"status"`
			Stdout string `json:"stdout"`
		}
		_ = json.Unmarshal(a.Raw, &r)
		if a.HTTP == 200 && strings.Contains(r.Stdout, marker) {
			t.Fatalf("a gVisor language that is not ready ran a program: HTTP %d %s", a.HTTP, a.Raw)
		}
		t.Logf("fail-closed: a program sent anyway was answered HTTP %d %.300s", a.HTTP, a.Raw)
		return
	}

	b := newBattery(t, d, 2)
	n := 0
	for _, c := range loadCases(t) {
		if c.Runsc == nil || c.Language == "node" {
			continue
		}
		n++
		t.Run(c.ID, func(t *testing.T) { b.run(t, c, *c.Runsc, runscFindings[c.ID]) })
	}
	t.Logf("gVisor sub-suite: %d cases", n)
}

// runscFindings are the cases whose runsc expectation records a
// weakness of gVisor as configured here (docs/SECURITY.md).
var runscFindings = map[string]string{
	"H40": "F5: under runsc, PID 1's environ and descriptors are readable",
	"H01": "F3: under runsc, the pids limit also counts gVisor's threads; a fork bomb ends the sandbox",
	"H02": "F3: under runsc, the pids limit also counts gVisor's threads; a fork bomb ends the sandbox",
	"T01": "F3: under runsc, the pids limit also counts gVisor's threads; a thread bomb ends the sandbox",
}

// verdict waits until every language is ready, or until every language
// that is not has a reason other than warming up. It returns readiness
// and the reasons.
func verdict(t *testing.T, d *testdaemon.Daemon, within time.Duration) (bool, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		h := d.Get(t, "/health")
		langs, _ := h.Body["languages"].(map[string]any)
		ready, settled := len(langs) > 0, len(langs) > 0
		var reasons []string
		for name, v := range langs {
			l, _ := v.(map[string]any)
			if l["ready"] != true {
				ready = false
				reason := fmt.Sprint(l["reason"])
				reasons = append(reasons, name+": "+reason)
				if reason == "warming up" || reason == "<nil>" {
					settled = false
				}
			}
		}
		last = strings.Join(reasons, "; ")
		if ready || settled {
			return ready, last
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no verdict on the gVisor languages within %s: %s\n%s", within, last, d.Logs())
	return false, ""
}
