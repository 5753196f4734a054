package kube

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// namespace is where the shipped manifests put warmbox and its sandboxes.
const namespace = "warmbox"

// kubectl runs kubectl against the test cluster and returns its stdout;
// a failure fails the test.
func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := exec.Command("kubectl", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// requireCluster fails the test unless KUBECONFIG names a cluster that
// answers.
func requireCluster(t testing.TB) {
	t.Helper()
	if os.Getenv("KUBECONFIG") == "" {
		t.Fatal("KUBECONFIG is not set: start the test cluster with `make kube-up` and export what `deploy/kubernetes/testbed.sh env` prints (make test-kube does both)")
	}
	if _, err := kubectlErr("get", "--raw", "/readyz"); err != nil {
		t.Fatalf("the Kubernetes API server does not answer: %v", err)
	}
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func manifest(name string) string {
	return filepath.Join(moduleRoot(), "deploy", "kubernetes", name)
}

// applyBase applies the namespace, RBAC and NetworkPolicy manifests.
func applyBase(t testing.TB) {
	t.Helper()
	for _, f := range []string{"namespace.yaml", "rbac.yaml", "networkpolicy.yaml"} {
		kubectl(t, "apply", "-f", manifest(f))
	}
	// The controller-manager publishes the API server's CA into every
	// namespace; in-cluster clients need it.
	waitFor(t, 60*time.Second, "kube-root-ca.crt in "+namespace, func() bool {
		_, err := kubectlErr("-n", namespace, "get", "configmap", "kube-root-ca.crt")
		return err == nil
	})
}

// scopePods counts the sandbox Pods of a scope (any phase).
func scopePods(t testing.TB, scope string) int {
	t.Helper()
	out := kubectl(t, "-n", namespace, "get", "pods", "-l", "warmbox.io/scope="+scope, "-o", "name")
	return len(strings.Fields(out))
}

func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
