package faults

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestImageRemoved removes the image of one language (node) under load.
// Once its idle sandboxes are used up, node is reported not ready in
// /health with the create error as the reason, /readyz fails, and node
// requests get 503 environment_unavailable with Retry-After, without a
// hot loop of create calls (the pool backs off); python and bash keep
// serving every request. Once the image is back, node recovers without a
// restart.
//
// The daemon's node image is a tag of its own, so removing it disturbs
// nobody else on the engine: `docker rmi` of that tag is, for the daemon,
// exactly a removed image (creates fail with "No such image").
func TestImageRemoved(t *testing.T) {
	testdaemon.RequireDocker(t)
	const source = "warmbox/node:bookworm"
	tag := fmt.Sprintf("warmbox/node:faults-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	mustDocker(t, "tag", source, tag)
	// Registered before the daemon starts, so it runs after it stopped.
	t.Cleanup(func() {
		if _, err := docker("rmi", tag); err != nil && !strings.Contains(err.Error(), "No such image") {
			t.Errorf("removing the test tag: %v", err)
		}
	})
	// Node at the container level: every job needs a create, so the
	// missing image shows at once. At the job level the live sandboxes
	// keep serving until they are recycled, and the pool reports the
	// image only when it next needs a create.
	d := start(t, testdaemon.Options{Config: config + "languages: {node: {image: " + tag + ", pool: {max_uses: 1}}}\n"})
	l := startLoad(t, d.URL, 4, 100*time.Millisecond, mixed)
	time.Sleep(2 * time.Second)

	removed := time.Now()
	mustDocker(t, "rmi", tag)
	eventually(t, 60*time.Second, "node to be reported unavailable", func() (bool, string) {
		h, err := getHealth(d.URL)
		if err != nil {
			return false, err.Error()
		}
		node := h.Languages["node"]
		return h.HTTP == 200 && h.Status == "degraded" && !node.Ready && strings.Contains(node.Reason, "No such image"),
			fmt.Sprintf("HTTP %d %s node ready %v: %s", h.HTTP, h.Status, node.Ready, node.Reason)
	})
	h, _ := getHealth(d.URL)
	t.Logf("/health: node: %s", h.Languages["node"].Reason)
	for _, l := range []string{"python", "bash"} {
		if !h.Languages[l].Ready {
			t.Errorf("/health: %s not ready (%s) while only node's image is gone", l, h.Languages[l].Reason)
		}
	}
	if code, body := readyz(d.URL); code != 503 || !strings.Contains(body, "node") {
		t.Errorf("/readyz without node's image: HTTP %d %s, want 503 naming node", code, body)
	}
	eventually(t, 60*time.Second, "a node request to get 503 environment_unavailable", func() (bool, string) {
		a := post(newClient(1), d.URL, short("node"))
		return a.HTTP == 503 && a.Code == "environment_unavailable" && a.Problem == "", a.String()
	})
	// No hot loop: the pool backs off between create attempts.
	st, err := getStats(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	before := st["node"].CreateFailures
	const window = 10 * time.Second
	time.Sleep(window)
	if st, err = getStats(d.URL); err != nil {
		t.Fatal(err)
	}
	failures := st["node"].CreateFailures - before
	t.Logf("node: %d failed creates in %s (%s)", failures, window, st["node"])
	if failures > 10 {
		t.Errorf("node: %d failed creates in %s: creation is not backing off", failures, window)
	}
	// The failed creates are engine errors for the "engine down" alert.
	if n := testdaemon.Metric(t, d.URL, `warmbox_engine_errors_total{op="create"}`); n < 1 {
		t.Errorf(`warmbox_engine_errors_total{op="create"} = %g after the failed creates, want >= 1`, n)
	}

	restored := time.Now()
	mustDocker(t, "tag", source, tag)
	// Under the load a pool may stay short of idle sandboxes (every new
	// one goes to a waiting caller): recovered means creating works again
	// and node is ready; the pool refills once the load stops.
	eventually(t, 90*time.Second, "node ready and /readyz 200", func() (bool, string) {
		st, err := getStats(d.URL)
		if err != nil {
			return false, err.Error()
		}
		if p := st["node"]; p.Degraded {
			return false, p.String()
		}
		code, body := readyz(d.URL)
		return code == 200, body
	})
	recovered := time.Now()
	t.Logf("node ready %s after the image came back", recovered.Sub(restored).Round(time.Millisecond))
	time.Sleep(3 * time.Second)

	answers := checkLoad(t, l, nil)
	poolsFull(t, d.URL, d.Scope, 60*time.Second)
	allServed(t, "python and bash while node's image was gone", filter(answers, func(a answer) bool { return a.Job.Lang != "node" }))
	for _, a := range answers {
		if a.Job.Lang != "node" && a.HTTP == 503 && a.Code != "capacity" {
			t.Errorf("%s while only node's image was gone", a)
		}
	}
	isNode := func(a answer) bool { return a.Job.Lang == "node" }
	t.Logf("node before the removal: %s", tally(filter(between(answers, time.Time{}, removed), isNode)))
	t.Logf("node without its image: %s", tally(filter(between(answers, removed, restored), isNode)))
	t.Logf("node image back, recovering: %s", tally(filter(between(answers, restored, recovered), isNode)))
	t.Logf("node recovered: %s", tally(filter(between(answers, recovered, time.Now()), isNode)))
	allServed(t, "node after recovery", filter(between(answers, recovered, time.Now()), isNode))
	runOK(t, d.URL, languages...)
	noLeak(t, d.URL, d.Scope, 30*time.Second)
}
