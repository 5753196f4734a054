package faults

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestSandboxKilledMidJob kills (`docker kill`) the container running a
// `sleep 10` job, under load. The job gets 503 sandbox_lost (retryable,
// Retry-After) within a couple of seconds of the kill, not at its
// deadline; the dead container is removed and replaced; the load never
// sees anything but documented answers.
func TestSandboxKilledMidJob(t *testing.T) {
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 3, 100*time.Millisecond, mixed)

	long := job{Lang: "bash", Code: "echo started; sleep 10; echo never", Timeout: 20, Kind: "bash sleep 10"}
	res := make(chan answer, 1)
	go func() { res <- post(newClient(1), d.URL, long) }()
	id := findProcess(t, d.Scope, "sleep 10", 15*time.Second)
	killed := time.Now()
	mustDocker(t, "kill", id)

	a := <-res
	after := a.Sent.Add(a.Elapsed).Sub(killed)
	t.Logf("killed %s mid-job: %s, %s after the kill", id[:12], a, after.Round(time.Millisecond))
	if a.Problem != "" || a.HTTP != 503 || a.Code != "sandbox_lost" {
		t.Errorf("job whose sandbox was killed: %s %s %.300s, want 503 sandbox_lost", a, a.Problem, a.Raw)
	}
	if bound := killGrace + 3*time.Second; after > bound {
		t.Errorf("answered %s after the kill, want within %s (its deadline is %ds)", after, bound, long.Timeout)
	}
	gone(t, id, 30*time.Second)
	checkLoad(t, l, nil)
	poolsFull(t, d.URL, d.Scope, 30*time.Second)
	runOK(t, d.URL, languages...)
	noLeak(t, d.URL, d.Scope, 30*time.Second)
}

// TestSandboxPausedMidJob freezes (`docker pause`) the container running
// a job, under load. The runner inside cannot answer, so the daemon's
// backstop ends the job by its timeout + 2 s (status timeout, or 503
// sandbox_lost) and force-removes the paused container.
func TestSandboxPausedMidJob(t *testing.T) {
	d := start(t, testdaemon.Options{Config: config})
	unpauseAtCleanup(t, d.Scope)
	l := startLoad(t, d.URL, 3, 100*time.Millisecond, mixed)

	long := job{Lang: "bash", Code: "echo started; sleep 10; echo never", Timeout: 4, Kind: "bash sleep 10"}
	res := make(chan answer, 1)
	go func() { res <- post(newClient(1), d.URL, long) }()
	id := findProcess(t, d.Scope, "sleep 10", 15*time.Second)
	mustDocker(t, "pause", id)

	a := <-res
	t.Logf("paused %s mid-job: %s", id[:12], a)
	timedOut := a.HTTP == 200 && a.Status == "timeout"
	lost := a.HTTP == 503 && a.Code == "sandbox_lost"
	if a.Problem != "" || !(timedOut || lost) {
		t.Errorf("job whose sandbox was paused: %s %s %.300s, want 200 timeout or 503 sandbox_lost", a, a.Problem, a.Raw)
	}
	if bound := time.Duration(long.Timeout)*time.Second + killGrace + 3*time.Second; a.Elapsed > bound {
		t.Errorf("answered after %s, want by its timeout + %s (%s)", a.Elapsed, killGrace, bound)
	}
	gone(t, id, 30*time.Second)
	checkLoad(t, l, nil)
	poolsFull(t, d.URL, d.Scope, 30*time.Second)
	runOK(t, d.URL, languages...)
	noLeak(t, d.URL, d.Scope, 30*time.Second)
}

// TestSandboxPausedIdle freezes an idle bash sandbox, in each hand-off
// mode, with bash jobs going. No event tells the daemon, and the pool
// hands out its oldest idle sandbox first, so within a few jobs the
// frozen one is tried; it must be removed and replaced, and never hang a
// caller or cost one a job:
//
// exec: the engine refuses to exec into a paused container, so no user
// code ran: the job is retried on another sandbox.
//
// prestart: the job frame goes down the container's open attach stream
// and the frozen runner does not acknowledge it within wire.AckTimeout,
// so the daemon knows the job never started, removes the container and
// retries the job on another sandbox.
//
// Either way every caller gets 200 success.
func TestSandboxPausedIdle(t *testing.T) {
	for _, mode := range []string{"exec", "prestart"} {
		t.Run(mode, func(t *testing.T) { pausedIdle(t, mode) })
	}
}

func pausedIdle(t *testing.T, mode string) {
	d := start(t, testdaemon.Options{Config: config + "languages: {bash: {handoff: " + mode + "}}\n"})
	unpauseAtCleanup(t, d.Scope)
	// The start-up self-test's sandboxes are destroyed in the background:
	// wait until every container left is one a pool holds.
	noLeak(t, d.URL, d.Scope, 30*time.Second)
	ids, err := containers(d.Scope, true)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, c := range ids {
		if out, _ := docker("inspect", "-f", `{{index .Config.Labels "io.warmbox.language"}}`, c); strings.TrimSpace(out) == "bash" {
			id = c
			break
		}
	}
	if id == "" {
		t.Fatalf("no idle bash sandbox among %d running containers", len(ids))
	}
	mustDocker(t, "pause", id)
	t.Logf("paused idle sandbox %s", id[:12])
	l := startLoad(t, d.URL, 3, 100*time.Millisecond, over("bash"))
	gone(t, id, 60*time.Second)
	answers := checkLoad(t, l, nil)
	poolsFull(t, d.URL, d.Scope, 30*time.Second)
	noLeak(t, d.URL, d.Scope, 30*time.Second)

	allServed(t, "with a paused idle sandbox", answers)
	if !strings.Contains(d.Logs(), "retrying on another") {
		t.Errorf("no job was retried: the paused sandbox was never tried, so the test proved nothing")
	}
}

// gone waits until a container no longer exists.
func gone(t *testing.T, id string, within time.Duration) {
	t.Helper()
	eventually(t, within, "container "+id[:12]+" to be removed", func() (bool, string) {
		out, err := docker("ps", "-aq", "--no-trunc")
		if err != nil {
			return false, err.Error()
		}
		if slices.Contains(strings.Fields(out), id) {
			st, _ := docker("inspect", "-f", "{{.State.Status}}", id)
			return false, "still there, " + strings.TrimSpace(st)
		}
		return true, ""
	})
}

// unpauseAtCleanup unpauses the scope's paused containers before the
// daemon stops, so that a failed test cannot leave a frozen sandbox
// behind.
func unpauseAtCleanup(t *testing.T, scope string) {
	t.Cleanup(func() {
		out, _ := docker("ps", "-q", "--filter", "label=io.warmbox.scope="+scope, "--filter", "status=paused")
		for _, id := range strings.Fields(out) {
			_, _ = docker("unpause", id)
		}
	})
}
