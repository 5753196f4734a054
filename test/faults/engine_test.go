package faults

import (
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestEngineRestart stops dockerd under load, with jobs in flight, and
// starts it again. While it is down: /health answers 503 with
// docker_available false, /readyz fails, every request gets a documented
// 503 with Retry-After within its bound, none hangs. Jobs in flight end
// well before their deadline. Once it is back, the pools refill with live
// sandboxes by themselves, /readyz turns 200, every request succeeds
// again and no container is left behind.
//
// Without live-restore the engine stops every container when it stops,
// so the daemon's idle sandboxes are dead when it returns: the pools must
// notice and replace them.
func TestEngineRestart(t *testing.T) {
	testdaemon.RequireDocker(t)
	restoreEngineAtCleanup(t)
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 4, 100*time.Millisecond, mixed)

	long := job{Lang: "bash", Code: "sleep 15; echo done", Timeout: 20, Want: "done\n", Kind: "bash sleep 15"}
	inflight := make(chan answer, 2)
	hc := newClient(2)
	for range cap(inflight) {
		go func() { inflight <- post(hc, d.URL, long) }()
	}
	findProcess(t, d.Scope, "sleep 15", 15*time.Second)
	time.Sleep(2 * time.Second)

	down := time.Now()
	stopEngine(t)
	t.Logf("dockerd stopped in %s", time.Since(down).Round(time.Millisecond))

	eventually(t, 15*time.Second, "/health to report the engine gone", func() (bool, string) {
		h, err := getHealth(d.URL)
		if err != nil {
			return false, err.Error()
		}
		return h.HTTP == 503 && !h.DockerAvailable && h.Status == "degraded",
			"HTTP " + itoa(h.HTTP) + " status " + h.Status
	})
	if code, body := readyz(d.URL); code != 503 {
		t.Errorf("/readyz with the engine down: HTTP %d %s, want 503", code, body)
	}
	// Requests sent now fail fast with a documented 503.
	for _, lang := range languages {
		a := post(newClient(1), d.URL, short(lang))
		t.Logf("engine down: %s", a)
		if a.HTTP != 503 || a.Problem != "" {
			t.Errorf("engine down: %s %s, want a 503 with Retry-After", a, a.Problem)
		}
	}
	time.Sleep(5 * time.Second) // the load keeps sending meanwhile

	up := time.Now()
	if err := startEngine(); err != nil {
		t.Fatal(err)
	}
	t.Logf("engine down for %s; engine.sh took %s", up.Sub(down).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	eventually(t, 30*time.Second, "/health 200 with the engine back", func() (bool, string) {
		h, err := getHealth(d.URL)
		if err != nil {
			return false, err.Error()
		}
		return h.HTTP == 200 && h.DockerAvailable, "HTTP " + itoa(h.HTTP)
	})
	poolsFull(t, d.URL, d.Scope, 60*time.Second)
	eventually(t, 60*time.Second, "/readyz 200", func() (bool, string) {
		code, body := readyz(d.URL)
		return code == 200, body
	})
	recovered := time.Now()
	t.Logf("pools full and ready %s after the engine was started", recovered.Sub(up).Round(time.Millisecond))
	time.Sleep(5 * time.Second) // load on the recovered daemon

	answers := checkLoad(t, l, nil) // the daemon stays up: every request gets an HTTP answer
	t.Logf("before the fault: %s", tally(between(answers, time.Time{}, down)))
	t.Logf("engine down: %s", tally(between(answers, down, up)))
	t.Logf("engine starting, pools refilling: %s", tally(between(answers, up, recovered)))
	after := between(answers, recovered, time.Now().Add(time.Hour))
	t.Logf("recovered: %s", tally(after))
	for _, a := range after {
		if a.HTTP != 200 || a.Status != "success" {
			t.Errorf("after recovery: %s, want 200 success", a)
		}
	}
	if len(after) == 0 {
		t.Error("no request was sent after recovery")
	}
	for range cap(inflight) {
		a := <-inflight
		t.Logf("in flight when the engine stopped: %s", a)
		if a.Problem != "" || !(a.HTTP == 200 && a.Status == "success" || a.HTTP == 503 && a.Code == "sandbox_lost") {
			t.Errorf("in flight when the engine stopped: %s %s, want 200 success or 503 sandbox_lost", a, a.Problem)
		}
		if bound := time.Duration(long.Timeout)*time.Second + killGrace + slack; a.Elapsed > bound {
			t.Errorf("in flight when the engine stopped: answered after %s, past its deadline bound %s", a.Elapsed, bound)
		}
	}
	hc.CloseIdleConnections()

	runOK(t, d.URL, languages...)
	if out, err := docker("ps", "-a", "--filter", "label=io.warmbox.scope="+d.Scope, "--format", "{{.ID}} {{.CreatedAt}} {{.Status}} {{.Label \"io.warmbox.language\"}}"); err == nil {
		t.Logf("down %s up %s recovered %s; containers:\n%s", down.Format("15:04:05.000"), up.Format("15:04:05.000"), recovered.Format("15:04:05.000"), out)
	}
	noLeak(t, d.URL, d.Scope, 60*time.Second)
}
