package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// replica is one warmbox Pod inside the cluster. The test cluster has no
// Pod network (its sandbox node is loopback-only, and there is no
// kube-proxy), so the test replicas use the host's network: each listens
// on its own 127.0.0.1 port and reaches the API server on 127.0.0.1:6443.
// Everything else is as in deploy/kubernetes/deployment.yaml: the
// warmbox service account and its Role, the Pod name as scope and owner.
type replica struct {
	name string
	port int
}

func (r replica) url() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

func (r replica) manifest() string {
	return `apiVersion: v1
kind: Pod
metadata:
  name: ` + r.name + `
  namespace: ` + namespace + `
  labels: {app.kubernetes.io/name: warmbox, app.kubernetes.io/component: api}
spec:
  serviceAccountName: warmbox
  hostNetwork: true
  enableServiceLinks: false
  terminationGracePeriodSeconds: 30
  securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
  volumes:
    - name: config
      configMap: {name: warmbox-test-config}
  containers:
    - name: warmbox
      image: warmbox/warmbox:dev
      imagePullPolicy: Never
      env:
        - {name: WARMBOX_BACKEND, value: kubernetes}
        - {name: WARMBOX_LISTEN, value: "127.0.0.1:` + itoa(r.port) + `"}
        - {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
        - {name: KUBERNETES_SERVICE_PORT, value: "6443"}
        - {name: WARMBOX_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        - {name: WARMBOX_SCOPE, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: WARMBOX_OWNER_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: WARMBOX_POOL_MIN_IDLE, value: "1"}
        - {name: WARMBOX_POOL_MAX_SIZE, value: "3"}
        - {name: WARMBOX_RATE_LIMIT_REQUESTS, value: "0"}
        - {name: WARMBOX_CONFIG, value: /etc/warmbox/config.yaml}
      volumeMounts:
        - {name: config, mountPath: /etc/warmbox, readOnly: true}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
`
}

func (r replica) ready() bool {
	resp, err := http.Get(r.url() + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// run posts a python job and reports whether it answered correctly.
// run sends one job as a caller that honours Retry-After would: a 503
// the replica marks retryable (no sandbox free within max_wait on a busy
// node) is tried again, at most three times; anything else fails.
func (r replica) run() error {
	var err error
	for range 3 {
		var retry bool
		if retry, err = r.runOnce(); !retry {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

func (r replica) runOnce() (retry bool, err error) {
	body, _ := json.Marshal(map[string]any{"environment": "python", "code": "print(6*7)"})
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(r.url()+"/execute", "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	if resp.StatusCode != 200 || out["stdout"] != "42\n" {
		e, _ := out["error"].(map[string]any)
		return resp.StatusCode == http.StatusServiceUnavailable && e["retryable"] == true && resp.Header.Get("Retry-After") != "",
			fmt.Errorf("HTTP %d: %v", resp.StatusCode, out)
	}
	return false, nil
}

// pid finds the replica's warmbox process on this (single) node by the
// listen address in its environment.
func (r replica) pid(t *testing.T) int {
	t.Helper()
	want := []byte("WARMBOX_LISTEN=127.0.0.1:" + itoa(r.port) + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		if exe, _ := os.Readlink(filepath.Join(d, "exe")); strings.HasSuffix(exe, "/warmbox") {
			var pid int
			fmt.Sscan(filepath.Base(d), &pid)
			return pid
		}
	}
	t.Fatalf("no warmbox process listens on port %d", r.port)
	return 0
}

// sandboxes lists the replica's sandbox Pods with their owners.
func (r replica) sandboxes(t *testing.T) map[string]string {
	t.Helper()
	out := kubectl(t, "-n", namespace, "get", "pods", "-l", "warmbox.io/scope="+r.name,
		"-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.ownerReferences[0].name}{"\n"}{end}`)
	pods := map[string]string{}
	for _, line := range strings.Fields(out) {
		name, owner, _ := strings.Cut(line, "=")
		pods[name] = owner
	}
	return pods
}

// serving waits until the replica answers a job. Ready means its pools
// reached min_idle and passed the self-test, which used a sandbox of each
// language; on a loaded machine the first job may wait for replacements
// past its own deadline (503 capacity), so this retries, and logs why.
func (r replica) serving(t *testing.T) {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < 120*time.Second {
		if last = r.run(); last == nil {
			return
		}
		t.Logf("%s not serving yet after %s: %v", r.name, time.Since(start).Round(time.Second), last)
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: %v\n%s", r.name, last, r.diagnose(t))
}

// diagnose returns the replica's recent log and its sandbox Pods, for a
// failure message.
func (r replica) diagnose(t *testing.T) string {
	logs, _ := kubectlErr("-n", namespace, "logs", r.name, "--tail", "40")
	pods, _ := kubectlErr("-n", namespace, "get", "pods", "-l", "warmbox.io/scope="+r.name, "-o", "wide")
	return "replica log (tail):\n" + logs + "\nsandbox pods:\n" + pods
}

func startReplicas(t *testing.T, rs ...replica) {
	t.Helper()
	requireCluster(t)
	applyBase(t)
	// The test replicas need the host network, which the "baseline"
	// profile forbids; the sandbox Pods still pass it (TestAPI).
	kubectl(t, "label", "--overwrite", "namespace", namespace, "pod-security.kubernetes.io/enforce=privileged")
	t.Cleanup(func() {
		for _, r := range rs {
			kubectlErr("-n", namespace, "delete", "pod", r.name, "--grace-period=0", "--force", "--ignore-not-found")
			kubectlErr("-n", namespace, "delete", "pods", "-l", "warmbox.io/scope="+r.name, "--grace-period=0", "--force", "--ignore-not-found")
		}
		kubectlErr("label", "--overwrite", "namespace", namespace, "pod-security.kubernetes.io/enforce=baseline")
	})
	// Guaranteed sandboxes reserve their CPU: at the default 0.5 this
	// 2-core node holds 4, fewer than two replicas' pools. 0.2 each.
	config := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: warmbox-test-config, namespace: " + namespace +
		"}\ndata:\n  config.yaml: |\n    limits: {cpus: 0.2}\n"
	for _, m := range []string{config} {
		cmd := exec.Command("kubectl", "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(m)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("applying the test config: %v: %s", err, out)
		}
	}
	for _, r := range rs {
		cmd := exec.Command("kubectl", "apply", "-f", "-")
		cmd.Stdin = strings.NewReader(r.manifest())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("applying replica %s: %v: %s", r.name, err, out)
		}
	}
	for _, r := range rs {
		waitFor(t, 180*time.Second, r.name+" ready", func() bool {
			if r.ready() {
				return true
			}
			if out, _ := kubectlErr("-n", namespace, "get", "pod", r.name, "-o", "jsonpath={.status.phase}"); out == "Failed" {
				t.Fatalf("replica %s failed:\n%s", r.name, r.diagnose(t))
			}
			return false
		})
	}
}

// Two replicas share the work; one's Pod disappears while it cannot
// clean up after itself (frozen): the garbage collector deletes its
// sandboxes by their ownerReferences while the other replica keeps
// answering every request.
func TestReplicaGoneSandboxesCollected(t *testing.T) {
	a, b := replica{"warmbox-a", 18081}, replica{"warmbox-b", 18082}
	startReplicas(t, a, b)
	for _, r := range []replica{a, b} {
		r.serving(t)
	}
	owned := a.sandboxes(t)
	if len(owned) < 3 {
		t.Fatalf("replica a has %d sandbox Pods, want at least one per language: %v", len(owned), owned)
	}
	for pod, owner := range owned {
		if owner != a.name {
			t.Errorf("sandbox %s is owned by %q, want %s", pod, owner, a.name)
		}
	}

	// Replica b serves throughout.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := b.run(); err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			} else {
				ok.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// Freeze a (it cannot reap its sandboxes on SIGTERM), then delete its
	// Pod object at once.
	pid := a.pid(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	kubectl(t, "-n", namespace, "delete", "pod", a.name, "--grace-period=0", "--force", "--wait=false")
	waitFor(t, 90*time.Second, "the garbage collector to delete replica a's sandboxes", func() bool {
		left := 0
		for pod := range owned {
			if _, err := kubectlErr("-n", namespace, "get", "pod", pod); err == nil {
				left++
			}
		}
		return left == 0
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("replica b answered %d jobs while a's sandboxes were collected", ok.Load())
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("replica b: %d ok, %d failed (first: %v)", ok.Load(), failed.Load(), firstErr.Load())
	}
	for range 3 {
		if err := b.run(); err != nil {
			t.Errorf("replica b after a's sandboxes were collected: %v", err)
		}
	}
	if len(b.sandboxes(t)) == 0 {
		t.Error("replica b's sandboxes were deleted too")
	}
}

// A replica whose process dies (SIGKILL: no cleanup) is restarted by the
// kubelet in the same Pod; the new process deletes the old process's
// sandboxes by scope at start, before it warms new ones.
func TestReplicaRestartReapsLeftovers(t *testing.T) {
	c := replica{"warmbox-c", 18083}
	startReplicas(t, c)
	before := c.sandboxes(t)
	if len(before) == 0 {
		t.Fatal("replica c has no sandboxes")
	}
	if err := syscall.Kill(c.pid(t), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "replica c to go down", func() bool { return !c.ready() })
	waitFor(t, 180*time.Second, "replica c to restart and warm up", c.ready)
	for pod := range before {
		if _, err := kubectlErr("-n", namespace, "get", "pod", pod); err == nil {
			t.Errorf("sandbox %s of the killed process is still there", pod)
		}
	}
	c.serving(t)
}
