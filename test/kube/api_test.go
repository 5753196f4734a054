package kube

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// config runs a daemon outside the cluster against it (the admin
// kubeconfig), with small pools and the rate limit off.
func config(handoff string) string {
	return configWith(handoff, "pool: {min_idle: 1, max_size: 4}")
}

// configWith is config with another pool line.
func configWith(handoff, pool string) string {
	return `
backend: kubernetes
kubernetes:
  kubeconfig: ` + os.Getenv("KUBECONFIG") + `
  namespace: ` + namespace + `
rate_limit: {requests: 0}
` + pool + `
# Guaranteed sandboxes reserve their CPU: at the default 0.5 this 2-core
# node holds only 4 sandboxes.
limits: {cpus: 0.2}
languages: {python: {handoff: ` + handoff + `}, node: {handoff: ` + handoff + `}, bash: {handoff: ` + handoff + `}}
`
}

func startDaemon(t *testing.T, handoff string) *testdaemon.Daemon {
	t.Helper()
	return startDaemonWith(t, config(handoff))
}

func startDaemonWith(t *testing.T, cfg string) *testdaemon.Daemon {
	t.Helper()
	requireCluster(t)
	applyBase(t)
	return testdaemon.Start(t, testdaemon.Options{Config: cfg, Leftovers: func(t testing.TB, scope string) int {
		// Deletion with grace 0 is at once, but the list may lag a moment.
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := scopePods(t, scope)
			if n == 0 || time.Now().After(deadline) {
				return n
			}
			time.Sleep(250 * time.Millisecond)
		}
	}})
}

// The same end-to-end suite as on Docker, in both hand-off modes: the
// sandbox Pods pass the namespace's "baseline" Pod Security profile, or
// they would not be created at all.
func TestAPI(t *testing.T) {
	for _, mode := range []string{"prestart", "exec"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemonWith(t, config(mode)+apisuite.SessionConfig)
			t.Run("execute", func(t *testing.T) { apisuite.Execute(t, d) })
			t.Run("containment", func(t *testing.T) { apisuite.Containment(t, d) })
			t.Run("streaming", func(t *testing.T) { apisuite.Streaming(t, d) })
			if mode == "prestart" { // sessions need a pre-started interpreter
				t.Run("sessions", func(t *testing.T) { apisuite.Sessions(t, d) })
				t.Run("session isolation", func(t *testing.T) { apisuite.SessionIsolation(t, d) })
			}
			t.Run("termination log is closed to jobs", func(t *testing.T) {
				// The kubelet bind-mounts /dev/termination-log, writable by
				// every uid, from the node's disk: a job could fill the
				// node's disk, or leave data there for the next job of a
				// reused Pod. The runner makes it its owner's (root's) alone.
				r := d.Post(t, "/execute", apisuite.Req("python", `import errno, os
print(oct(os.stat("/dev/termination-log").st_mode & 0o777))
for mode in ("rb", "ab"):
    try:
        open("/dev/termination-log", mode).close()
        print(mode, "opened")
    except OSError as e:
        print(mode, errno.errorcode[e.errno])`))
				if r.Status != 200 || r.Body["stdout"] != "0o600\nrb EACCES\nab EACCES\n" {
					t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
				}
			})
		})
	}
}

// TestNoPodPerJob: at the default job level the pool's Pods serve job
// after job, each under a uid of its own, and no job creates or deletes a
// Pod, so the API server's Pod replacement rate does not bound
// throughput.
func TestNoPodPerJob(t *testing.T) {
	d := startDaemonWith(t, configWith("prestart", "pool: {min_idle: 2, max_size: 2, autosize: false}"))
	sel := "warmbox.io/scope=" + d.Scope + ",warmbox.io/language=python"
	pods := func() string {
		return strings.TrimSpace(kubectl(t, "-n", namespace, "get", "pods", "-l", sel, "-o", "jsonpath={range .items[*]}{.metadata.uid} {end}"))
	}
	settled := func() bool {
		st, _ := d.Get(t, "/stats").Body["pools"].(map[string]any)
		p, _ := st["python"].(map[string]any)
		return p != nil && p["idle"] == 2.0 && p["busy"] == 0.0 && p["creating"] == 0.0 && p["destroying"] == 0.0 && p["resetting"] == 0.0
	}
	waitFor(t, 2*time.Minute, "the python pool at 2 idle Pods", settled)
	before := pods()
	if len(strings.Fields(before)) != 2 {
		t.Fatalf("python Pods of the scope: %q, want 2", before)
	}
	uids := map[string]bool{}
	for i := range 12 {
		r := d.Post(t, "/execute", apisuite.Req("python", "import os; print(os.getuid(), os.geteuid())"))
		out, _ := r.Body["stdout"].(string)
		f := strings.Fields(out)
		if r.Status != 200 || len(f) != 2 || f[0] != f[1] {
			t.Fatalf("job %d: HTTP %d %s", i, r.Status, r.Raw)
		}
		if uid, err := strconv.Atoi(f[0]); err != nil || uid < 20000 || uid > 65535 {
			t.Fatalf("job %d ran as uid %q, want one of a sandbox block (20000-65535)", i, f[0])
		}
		if uids[f[0]] {
			t.Fatalf("job %d ran as uid %s, which an earlier job had", i, f[0])
		}
		uids[f[0]] = true
	}
	waitFor(t, time.Minute, "the pool to settle after the jobs", settled)
	if after := pods(); after != before {
		t.Errorf("twelve jobs changed the scope's python Pods: before %q, after %q", before, after)
	}
}

// A sandbox Pod deleted from outside while its job runs: the caller gets
// a clear error (not a hang, not a fake result), and the pool replaces
// the Pod.
func TestSandboxPodKilledMidJob(t *testing.T) {
	for _, mode := range []string{"prestart", "exec"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, mode)
			marker := fmt.Sprintf("%d", 800000+time.Now().UnixNano()%99999)
			var wg sync.WaitGroup
			var r testdaemon.Response
			wg.Add(1)
			go func() {
				defer wg.Done()
				r = d.Post(t, "/execute", apisuite.With(apisuite.Req("bash", "echo started; sleep "+marker), "timeout", 30))
			}()
			// The node is this machine: the job has started once its
			// process is here. Then kill every bash Pod of the scope, which
			// includes the busy one.
			waitFor(t, 30*time.Second, "the job's process", func() bool {
				out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
				return len(strings.TrimSpace(string(out))) > 0
			})
			kubectl(t, "-n", namespace, "delete", "pods", "-l", "warmbox.io/scope="+d.Scope+",warmbox.io/language=bash",
				"--grace-period=0", "--force", "--wait=false")
			wg.Wait()
			e, _ := r.Body["error"].(map[string]any)
			if r.Status != 503 || e["code"] != "sandbox_lost" || r.Header.Get("Retry-After") == "" {
				t.Fatalf("want 503 sandbox_lost with Retry-After, got HTTP %d: %s", r.Status, r.Raw)
			}
			if msg, _ := e["message"].(string); !strings.Contains(msg, "sandbox") {
				t.Errorf("the message does not say what happened: %s", r.Raw)
			}
			// A replacement serves the next job.
			waitFor(t, 60*time.Second, "a replacement bash sandbox", func() bool {
				res := d.Post(t, "/execute", apisuite.Req("bash", "echo 1"))
				return res.Status == 200 && res.Body["stdout"] == "1\n"
			})
		})
	}
}

// TestOrphanPodDeleted: a Pod that carries the replica's labels but that
// no pool holds (what a delete or a create that failed during an API
// outage leaves) is deleted by the next reconcile (every 30 s), and the
// pools' own Pods are left alone.
func TestOrphanPodDeleted(t *testing.T) {
	d := startDaemon(t, "prestart")
	sel := "warmbox.io/scope=" + d.Scope + ",warmbox.io/language=python"
	// The pool settles first: the start-up self-test's sandbox comes back
	// from its reset next to the one created while it ran, and one of
	// them is shed as surplus once the self-test's target has held for a
	// minute and the surplus for 10 s (pool.peakHold, shedDelay).
	var own []string
	waitFor(t, 150*time.Second, "the python pool to settle", func() bool {
		st, _ := d.Get(t, "/stats").Body["pools"].(map[string]any)
		p, _ := st["python"].(map[string]any)
		if p == nil || p["idle"] != p["target"] || p["busy"] != 0.0 || p["creating"] != 0.0 || p["destroying"] != 0.0 {
			return false
		}
		own = strings.Fields(kubectl(t, "-n", namespace, "get", "pods", "-l", sel, "-o", "name"))
		return float64(len(own)) == p["idle"]
	})
	if len(own) == 0 {
		t.Fatal("no python sandbox Pod")
	}
	// A copy of one of them under another name: same labels, same spec.
	orphan := strings.TrimPrefix(own[0], "pod/") + "-orphan"
	copyPod := exec.Command("sh", "-c", "kubectl -n "+namespace+" get "+own[0]+" -o json | "+
		`jq '.metadata.name = "`+orphan+`" | del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.managedFields, .status)' | `+
		"kubectl create -f -")
	if out, err := copyPod.CombinedOutput(); err != nil {
		t.Fatalf("creating the orphan: %v\n%s", err, out)
	}
	waitFor(t, 60*time.Second, "the orphan Pod to be deleted", func() bool {
		_, err := kubectlErr("-n", namespace, "get", "pod", orphan)
		return err != nil
	})
	for _, p := range own {
		if _, err := kubectlErr("-n", namespace, "get", p); err != nil {
			t.Errorf("the pool's own %s was deleted too: %v", p, err)
		}
	}
	if r := d.Post(t, "/execute", apisuite.Req("python", "print(1)")); r.Status != 200 || r.Body["stdout"] != "1\n" {
		t.Errorf("after the reconcile: HTTP %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(d.Logs(), "deleting a sandbox pod no pool holds") {
		t.Errorf("the deletion was not logged:\n%s", d.Logs())
	}
}
