package kube

import (
	"os"
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
	return `
backend: kubernetes
kubernetes:
  kubeconfig: ` + os.Getenv("KUBECONFIG") + `
  namespace: ` + namespace + `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 4}
languages: {python: {handoff: ` + handoff + `}, node: {handoff: ` + handoff + `}, bash: {handoff: ` + handoff + `}}
`
}

func startDaemon(t *testing.T, handoff string) *testdaemon.Daemon {
	t.Helper()
	requireCluster(t)
	applyBase(t)
	return testdaemon.Start(t, testdaemon.Options{Config: config(handoff), Leftovers: func(t testing.TB, scope string) int {
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
// sandbox Pods pass the namespace's "restricted" Pod Security profile, or
// they would not be created at all.
func TestAPI(t *testing.T) {
	for _, mode := range []string{"prestart", "exec"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, mode)
			t.Run("execute", func(t *testing.T) { apisuite.Execute(t, d) })
			t.Run("containment", func(t *testing.T) { apisuite.Containment(t, d) })
		})
	}
}

// A sandbox Pod deleted from outside while its job runs: the caller gets
// a clear error (not a hang, not a fake result), and the pool replaces
// the Pod.
func TestSandboxPodKilledMidJob(t *testing.T) {
	for _, mode := range []string{"prestart", "exec"} {
		t.Run(mode, func(t *testing.T) {
			d := startDaemon(t, mode)
			var wg sync.WaitGroup
			var r testdaemon.Response
			wg.Add(1)
			go func() {
				defer wg.Done()
				r = d.Post(t, "/execute", apisuite.With(apisuite.Req("bash", "echo started; sleep 20"), "timeout", 30))
			}()
			// The busy Pod is the one running sleep; kill every bash Pod of
			// the scope to be sure to hit it.
			time.Sleep(2 * time.Second)
			kubectl(t, "-n", namespace, "delete", "pods", "-l", "warmbox.io/scope="+d.Scope+",warmbox.io/language=bash",
				"--grace-period=0", "--force", "--wait=false")
			start := time.Now()
			wg.Wait()
			if took := time.Since(start); took > 15*time.Second {
				t.Errorf("answered %s after the Pod was killed", took)
			}
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
