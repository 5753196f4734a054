package faults

import (
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// longJobs are 3-second jobs, one per language, that print "done".
var longJobs = []job{
	{Lang: "python", Code: "import time\ntime.sleep(3)\nprint('done')", Timeout: 10, Want: "done\n", Kind: "python sleep 3"},
	{Lang: "node", Code: "setTimeout(() => console.log('done'), 3000)", Timeout: 10, Want: "done\n", Kind: "node sleep 3"},
	{Lang: "bash", Code: "sleep 3; echo done", Timeout: 10, Want: "done\n", Kind: "bash sleep 3"},
}

// sendAll sends each job in its own goroutine; the channel gets every
// answer.
func sendAll(base string, jobs []job) <-chan answer {
	out := make(chan answer, len(jobs))
	hc := newClient(len(jobs))
	for _, j := range jobs {
		go func() { out <- post(hc, base, j) }()
	}
	return out
}

// TestSIGTERMUnderLoad sends SIGTERM with a job running in every
// language and the load going. The jobs in flight finish normally; a
// request that arrives afterwards is refused: the listener closes at
// once (connection refused, or the idle keep-alive connection is
// closed), and one already read gets 503 shutting_down with
// Retry-After. Then every container is removed and the daemon exits 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 4, 50*time.Millisecond, mixed)
	running := sendAll(d.URL, longJobs)
	findProcess(t, d.Scope, "sleep 3", 10*time.Second)
	time.Sleep(500 * time.Millisecond)

	sig := time.Now()
	d.Signal(t, syscall.SIGTERM)
	for range longJobs {
		a := <-running
		t.Logf("in flight at SIGTERM: %s", a)
		if a.Problem != "" || a.HTTP != 200 || a.Status != "success" {
			t.Errorf("in flight at SIGTERM: %s %s %.300s, want 200 success", a, a.Problem, a.Raw)
		}
	}
	code := d.Wait(t, 90*time.Second)
	exited := time.Now()
	t.Logf("exited %d, %s after SIGTERM", code, exited.Sub(sig).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if ids, err := containers(d.Scope, false); err != nil || len(ids) != 0 {
		t.Errorf("%d containers of the scope left after the daemon exited (%v)", len(ids), err)
	}
	answers := checkLoad(t, l, func(a answer) bool {
		return !a.Sent.Add(a.Elapsed).Before(sig) && (a.Transport == "refused" || a.Transport == "closed")
	})
	after := between(answers, sig, exited.Add(time.Hour))
	t.Logf("requests sent after SIGTERM: %s", tally(after))
	for _, a := range after {
		if a.HTTP != 0 && !(a.HTTP == 503 && a.Code == "shutting_down") && a.HTTP != 200 {
			t.Errorf("sent after SIGTERM: %s, want 503 shutting_down or a refused connection", a)
		}
	}
}

// TestSecondSIGTERM sends SIGTERM, then a second one during the drain,
// with 30-second jobs in flight: the drain is cut short, the jobs are
// answered (a documented 503) or their connections closed, well before
// they would have finished, every container is removed and the exit code
// is still 0.
func TestSecondSIGTERM(t *testing.T) {
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 4, 50*time.Millisecond, mixed)
	var long []job
	for _, lang := range languages {
		long = append(long, job{Lang: lang, Timeout: 40, Kind: lang + " sleep 30", Code: map[string]string{
			"python": "import time\ntime.sleep(30)\nprint('done')",
			"node":   "setTimeout(() => console.log('done'), 30000)",
			"bash":   "sleep 30; echo done",
		}[lang]})
	}
	running := sendAll(d.URL, long)
	findProcess(t, d.Scope, "sleep 30", 10*time.Second)
	time.Sleep(time.Second)

	first := time.Now()
	d.Signal(t, syscall.SIGTERM)
	time.Sleep(time.Second)
	second := time.Now()
	d.Signal(t, syscall.SIGTERM)
	natural := first.Add(29 * time.Second) // when the jobs would have finished
	for range long {
		a := <-running
		end := a.Sent.Add(a.Elapsed)
		t.Logf("in flight at the second SIGTERM: %s", a)
		if a.Problem != "" || !(a.HTTP == 503 || a.Transport == "closed") {
			t.Errorf("in flight at the second SIGTERM: %s %s, want a documented 503 or a closed connection", a, a.Problem)
		}
		if !end.Before(natural) {
			t.Errorf("in flight at the second SIGTERM: answered %s after it, not cut short", end.Sub(second))
		}
	}
	code := d.Wait(t, 60*time.Second)
	t.Logf("exited %d, %s after the second SIGTERM", code, time.Since(second).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after two SIGTERMs, want 0", code)
	}
	if time.Now().After(natural) {
		t.Errorf("the daemon exited after the jobs would have finished: the second signal did not cut the drain short")
	}
	if ids, err := containers(d.Scope, false); err != nil || len(ids) != 0 {
		t.Errorf("%d containers of the scope left after the daemon exited (%v)", len(ids), err)
	}
	checkLoad(t, l, func(a answer) bool {
		return !a.Sent.Add(a.Elapsed).Before(first) && (a.Transport == "refused" || a.Transport == "closed")
	})
}

// TestSIGKILLUnderLoad kills the daemon with jobs in flight and the load
// going, then starts a new daemon in the same scope: it removes every
// orphan, busy ones included, before it listens (so before its first
// /readyz 200), and serves.
func TestSIGKILLUnderLoad(t *testing.T) {
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 4, 50*time.Millisecond, mixed)
	long := make([]job, 0, 3)
	for _, lang := range languages {
		j := short(lang)
		j.Code, j.Want, j.Timeout, j.Kind = map[string]string{
			"python": "import time\ntime.sleep(20)",
			"node":   "setTimeout(() => {}, 20000)",
			"bash":   "sleep 20",
		}[lang], "", 30, lang+" sleep 20"
		long = append(long, j)
	}
	running := sendAll(d.URL, long)
	busy := findProcess(t, d.Scope, "sleep 20", 10*time.Second)
	time.Sleep(time.Second)

	killed := time.Now()
	d.Signal(t, syscall.SIGKILL)
	d.Wait(t, 10*time.Second)
	for range long {
		if a := <-running; a.Transport != "closed" {
			t.Errorf("in flight when the daemon was killed: %s, want the connection closed", a)
		}
	}
	checkLoad(t, l, func(a answer) bool {
		return !a.Sent.Add(a.Elapsed).Before(killed) && (a.Transport == "refused" || a.Transport == "closed")
	})
	orphans, err := containers(d.Scope, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d orphans after SIGKILL, busy %s among them", len(orphans), busy[:12])
	if !slices.Contains(orphans, busy) {
		t.Fatalf("the busy sandbox %s is not among the orphans", busy[:12])
	}

	// The second daemon takes the first one's scope: its own Scope field
	// names the scope testdaemon generated, which this config overrides.
	d2 := start(t, testdaemon.Options{Config: config + "engine: {scope: " + d.Scope + "}\n", NoWait: true})
	now, err := containers(d.Scope, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range orphans {
		if slices.Contains(now, id) {
			t.Errorf("orphan %s still exists once the new daemon listens", id[:12])
		}
	}
	eventually(t, 120*time.Second, "the new daemon's /readyz 200", func() (bool, string) {
		code, body := readyz(d2.URL)
		return code == 200, body
	})
	l = startLoad(t, d2.URL, 4, 50*time.Millisecond, mixed)
	time.Sleep(3 * time.Second)
	allServed(t, "new daemon", checkLoad(t, l, nil))
	noLeak(t, d2.URL, d.Scope, 30*time.Second)
}
