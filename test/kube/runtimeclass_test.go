package kube

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// The gVisor rules follow a RuntimeClass's handler, not its name: a
// class called anything whose handler is runsc refuses job-level reuse
// (docs/SECURITY.md F5) before a sandbox is made, and a class the daemon
// cannot read stops it (fail closed).
func TestRuntimeClassHandler(t *testing.T) {
	requireCluster(t)
	applyBase(t)
	kubectl(t, "apply", "-f", writeTemp(t, `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: warmbox-test-sandboxed
handler: runsc
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: warmbox-test-plain
handler: runc
`))
	t.Cleanup(func() {
		kubectlErr("delete", "runtimeclass", "warmbox-test-sandboxed", "warmbox-test-plain", "--ignore-not-found")
	})

	for _, tc := range []struct {
		class, want string
	}{
		{"warmbox-test-sandboxed", "languages.python.pool.max_uses: must be 1 with RuntimeClass warmbox-test-sandboxed (handler runsc)"},
		{"warmbox-test-absent", `languages.python.runtime: RuntimeClass warmbox-test-absent: runtimeclasses.node.k8s.io "warmbox-test-absent" not found`},
	} {
		out, code := serveFails(t, `
backend: kubernetes
kubernetes:
  kubeconfig: `+os.Getenv("KUBECONFIG")+`
  namespace: `+namespace+`
pool: {min_idle: 1, max_size: 2, max_uses: 20}
languages: {python: {runtime: `+tc.class+`}}
`)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("runtime %s with max_uses 20: exit %d, want a refusal naming %q:\n%s", tc.class, code, tc.want, out)
		}
	}

	// A class whose handler is runc keeps job-level reuse.
	d := startDaemonWith(t, strings.Replace(configWith("prestart", "pool: {min_idle: 1, max_size: 2, max_uses: 20}"),
		"python: {handoff: prestart}", "python: {handoff: prestart, runtime: warmbox-test-plain}", 1))
	r := d.Post(t, "/execute", map[string]any{"environment": "python", "code": "print(6 * 7)"})
	if r.Body["stdout"] != "42\n" {
		t.Errorf("python under RuntimeClass warmbox-test-plain (handler runc): %v", r.Body)
	}
	if got := kubectl(t, "-n", namespace, "get", "pods", "-l", "warmbox.io/scope="+d.Scope, "-o", "jsonpath={.items[*].spec.runtimeClassName}"); !strings.Contains(got, "warmbox-test-plain") {
		t.Errorf("sandbox Pods' runtimeClassName %q, want warmbox-test-plain", got)
	}
}

// serveFails runs `warmbox serve` with cfg (python only) and returns what
// it printed and its exit status; it must stop on its own.
func serveFails(t *testing.T, cfg string) (string, int) {
	t.Helper()
	path := writeTemp(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testdaemon.Binaries(t), "warmbox"), "serve")
	cmd.Env = append(os.Environ(), "WARMBOX_CONFIG="+path, "WARMBOX_LANGUAGES=python",
		"WARMBOX_LISTEN=127.0.0.1:0", "WARMBOX_SCOPE=rtclass")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("warmbox serve did not stop within 60 s:\n%s", out)
	}
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return string(out), code
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
