package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestGVisor runs the sandboxes under runsc (gVisor), which CI installs
// and registers with --network=none. It fails, never skips, when the
// engine has no runsc runtime.
func TestGVisor(t *testing.T) {
	out, err := exec.Command("docker", "info", "--format", "{{json .Runtimes}}").Output()
	if err != nil || !strings.Contains(string(out), "runsc") {
		t.Fatalf("the engine has no runsc runtime (deploy/host/engine.sh registers Debian's runsc): %v %s", err, out)
	}
	for _, mode := range []string{"exec", "prestart"} {
		t.Run(mode, func(t *testing.T) {
			d := testdaemon.Start(t, testdaemon.Options{Config: `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 2}
languages:
  python: {runtime: runsc, handoff: ` + mode + `, limits: {pids: 128}, pool: {max_uses: 1}}
  node: {enabled: false}
  bash: {enabled: false}
`})
			r := d.Post(t, "/execute", apisuite.Req("python", `import os, platform
print(platform.release())
print(sorted(os.listdir('/sys/class/net')))`))
			if r.Status != 200 || r.Body["status"] != "success" {
				t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
			}
			// gVisor's Sentry reports its own kernel release, not the host's.
			lines := strings.Split(strings.TrimSpace(r.Body["stdout"].(string)), "\n")
			if len(lines) != 2 || lines[0] != "4.4.0" || lines[1] != "['lo']" {
				t.Errorf("stdout = %q, want gVisor's 4.4.0 kernel and only lo", r.Body["stdout"])
			}
			r = d.Post(t, "/execute", apisuite.With(apisuite.Req("python", "while True: pass"), "timeout", 2))
			if r.Status != 200 || r.Body["status"] != "timeout" {
				t.Errorf("timeout under runsc: HTTP %d %s", r.Status, r.Raw)
			}
		})
	}
}
