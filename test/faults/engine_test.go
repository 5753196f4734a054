package faults

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestEngineRestart stops dockerd (SIGTERM) under load, with jobs in
// flight, and starts it again. While it is down: /health answers 503
// with docker_available false, /readyz fails, every request gets a
// documented 503 with Retry-After, none hangs, and the jobs in flight end
// well before their deadline. Once it is back, the pools refill with live
// sandboxes by themselves, /readyz turns 200, requests succeed again and
// no container is left behind.
//
// Without live-restore the engine stops every container when it stops,
// so the daemon's idle sandboxes are dead when it returns: the pools must
// notice and replace them. The load runs on python and node; bash only
// has the jobs in flight, so its idle sandboxes are never flushed by
// traffic: only the daemon noticing them dead refills it.
func TestEngineRestart(t *testing.T) { engineOutage(t, syscall.SIGTERM) }

// TestEngineCrash is TestEngineRestart with dockerd SIGKILLed: no die
// event is sent while it is down (the containers keep running under
// their shims), and the restarted engine stops them while it restores,
// before anyone watches.
func TestEngineCrash(t *testing.T) { engineOutage(t, syscall.SIGKILL) }

func engineOutage(t *testing.T, sig syscall.Signal) {
	testdaemon.RequireDocker(t)
	if h := os.Getenv("DOCKER_HOST"); h != "" && h != "unix:///var/run/docker.sock" {
		t.Fatalf("DOCKER_HOST=%s: this test stops and starts the local dockerd, so it needs the local engine", h)
	}
	restoreEngineAtCleanup(t)
	d := start(t, testdaemon.Options{Config: config})
	l := startLoad(t, d.URL, 4, 100*time.Millisecond, over("python", "node"))

	long := job{Lang: "bash", Code: "sleep 15; echo done", Timeout: 20, Want: "done\n", Kind: "bash sleep 15"}
	inflight := make(chan answer, 2)
	hc := newClient(2)
	defer hc.CloseIdleConnections()
	for range cap(inflight) {
		go func() { inflight <- post(hc, d.URL, long) }()
	}
	findProcess(t, d.Scope, "sleep 15", 15*time.Second)
	time.Sleep(2 * time.Second)

	down := time.Now()
	stopEngine(t, sig)
	t.Logf("dockerd gone %s after %v", time.Since(down).Round(time.Millisecond), sig)

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
	for _, lang := range []string{"python", "node"} {
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
	answering := time.Now()
	t.Logf("engine down for %s; engine.sh took %s", up.Sub(down).Round(time.Millisecond), answering.Sub(up).Round(time.Millisecond))
	eventually(t, 30*time.Second, "/health 200 with the engine back", func() (bool, string) {
		h, err := getHealth(d.URL)
		if err != nil {
			return false, err.Error()
		}
		return h.HTTP == 200 && h.DockerAvailable, "HTTP " + itoa(h.HTTP)
	})
	time.Sleep(3 * time.Second) // load on the recovering daemon

	answers := checkLoad(t, l, nil) // the daemon stays up: every request gets an HTTP answer
	t.Logf("before the fault: %s", tally(between(answers, time.Time{}, down)))
	t.Logf("engine down: %s", tally(between(answers, down, up)))
	t.Logf("engine starting and back: %s", tally(between(answers, up, time.Now())))
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

	// Refilled by themselves, with live sandboxes, bash included.
	poolsFull(t, d.URL, d.Scope, 60*time.Second)
	eventually(t, 30*time.Second, "/readyz 200", func() (bool, string) {
		code, body := readyz(d.URL)
		return code == 200, body
	})
	t.Logf("pools full and ready %s after the engine answered again", time.Since(answering).Round(time.Millisecond))
	runOK(t, d.URL, "bash")
	l = startLoad(t, d.URL, 4, 100*time.Millisecond, mixed)
	time.Sleep(5 * time.Second)
	allServed(t, "after recovery", checkLoad(t, l, nil))
	noLeak(t, d.URL, d.Scope, 60*time.Second)
}
