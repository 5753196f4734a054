package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// Every shipped manifest is accepted by the real API server (server-side
// dry run: schema, admission, Pod Security), with no warning.
func TestManifestsServerDryRun(t *testing.T) {
	requireCluster(t)
	applyBase(t) // the dry run of namespaced objects needs the namespace
	out, err := exec.Command("kubectl", "apply", "--dry-run=server", "-f", manifest("")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	text := string(out)
	for _, kind := range []string{"namespace/warmbox", "serviceaccount/warmbox", "role.rbac.authorization.k8s.io/warmbox-sandboxes",
		"rolebinding.rbac.authorization.k8s.io/warmbox-sandboxes", "networkpolicy.networking.k8s.io/warmbox-sandboxes-deny-all",
		"deployment.apps/warmbox", "service/warmbox", "poddisruptionbudget.policy/warmbox", "runtimeclass.node.k8s.io/gvisor"} {
		if !strings.Contains(text, kind) {
			t.Errorf("dry run did not mention %s:\n%s", kind, text)
		}
	}
	if strings.Contains(strings.ToLower(text), "warning") {
		t.Errorf("dry run warned:\n%s", text)
	}
}
