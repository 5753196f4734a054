package telemetry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The backends, all on the loopback interface (see deploy/host/*.sh).
const (
	jaegerOTLP  = "http://127.0.0.1:4318"
	jaegerQuery = "http://127.0.0.1:16686"
	promURL     = "http://127.0.0.1:19090"
)

// Bounds. None is a pass/fail timing: each only stops a wait that would
// otherwise hang, and is generous for a busy 2-core CI host.
const (
	scriptTimeout = 10 * time.Minute // jaeger.sh may build Jaeger (~3.5 min cold)
	exportWait    = 90 * time.Second // batch exporter -> Jaeger -> query API
	scrapeWait    = 90 * time.Second // daemon -> Prometheus scrape -> query API
	settleWait    = 120 * time.Second
	lockWait      = 10 * time.Minute // another run of this test holds the backends
	poll          = 500 * time.Millisecond
)

var client = &http.Client{Timeout: 10 * time.Second}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// script runs deploy/host/<name> with args and extra environment.
func script(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot(), "deploy", "host", name), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// lockBackends serialises runs of this test on a host: there is one
// Prometheus of prometheus.sh per host, and each run repoints it at its
// own daemon. The lock lives with the scripts' pid files.
func lockBackends(t *testing.T) {
	t.Helper()
	dir := os.Getenv("WARMBOX_RUN_DIR")
	if dir == "" {
		dir = "/var/run/warmbox-ci"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = "/tmp/warmbox-ci"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "test-telemetry.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("lock %s: %v", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for logged := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			t.Fatalf("lock %s: %v", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			t.Fatalf("another run of this test held %s for more than %s", path, lockWait)
		}
		if !logged {
			t.Logf("waiting for another run of this test to release %s", path)
			logged = true
		}
		time.Sleep(time.Second)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// answers reports whether GET u answers 200.
func answers(u string) bool {
	resp, err := client.Get(u)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// requireJaeger makes sure a Jaeger answers on 127.0.0.1:16686, starting
// one with jaeger.sh when none does (and stopping that one at cleanup). It
// fails, never skips, when it cannot.
func requireJaeger(t *testing.T) {
	t.Helper()
	if answers(jaegerQuery + "/api/services") {
		t.Logf("using the Jaeger already answering on %s", jaegerQuery)
		return
	}
	out, err := script(nil, "jaeger.sh", "start")
	if err != nil {
		t.Fatalf("Jaeger is required on %s and deploy/host/jaeger.sh start failed: %v\n%s", jaegerQuery, err, out)
	}
	t.Logf("%s", out)
	t.Cleanup(func() {
		if out, err := script(nil, "jaeger.sh", "stop"); err != nil {
			t.Errorf("jaeger.sh stop: %v\n%s", err, out)
		}
	})
	if !answers(jaegerQuery + "/api/services") {
		t.Fatalf("jaeger.sh start succeeded but nothing answers on %s/api/services\n%s", jaegerQuery, out)
	}
}

// startPrometheus points prometheus.sh's Prometheus at target. At cleanup
// it stops it, or, when one was already running, points it back at the
// target it scraped before.
func startPrometheus(t *testing.T, target string) {
	t.Helper()
	before := ""
	if _, err := script(nil, "prometheus.sh", "status"); err == nil {
		before = scrapedTarget()
		t.Logf("a Prometheus of prometheus.sh is running (scraping %q); reloading it with %s", before, target)
	}
	out, err := script([]string{"WARMBOX_TARGET=" + target}, "prometheus.sh", "start")
	if err != nil {
		t.Fatalf("deploy/host/prometheus.sh start failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	t.Cleanup(func() {
		var out string
		var err error
		if before != "" {
			out, err = script([]string{"WARMBOX_TARGET=" + before}, "prometheus.sh", "start")
		} else {
			out, err = script(nil, "prometheus.sh", "stop")
		}
		if err != nil {
			t.Errorf("restoring Prometheus: %v\n%s", err, out)
		}
	})
}

// scrapedTarget returns the address the running Prometheus scrapes for
// job warmbox, or "".
func scrapedTarget() string {
	var body struct {
		Data struct {
			ActiveTargets []struct {
				DiscoveredLabels map[string]string `json:"discoveredLabels"`
				ScrapePool       string            `json:"scrapePool"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if _, err := getJSON(promURL+"/api/v1/targets", &body); err != nil {
		return ""
	}
	for _, tg := range body.Data.ActiveTargets {
		if tg.ScrapePool == "warmbox" {
			return tg.DiscoveredLabels["__address__"]
		}
	}
	return ""
}

// getJSON fetches u into v and returns the raw body, for failure messages.
func getJSON(u string, v any) ([]byte, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return raw, err
	}
	if resp.StatusCode != http.StatusOK {
		return raw, fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return raw, fmt.Errorf("GET %s: %w", u, err)
	}
	return raw, nil
}

// query builds base?k=v&....
func query(base string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return base + "?" + q.Encode()
}

// eventually calls check every poll until it returns "" or within has
// passed; it returns the last complaint ("" on success).
func eventually(within time.Duration, check func() string) string {
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" || time.Now().After(deadline) {
			return msg
		}
		time.Sleep(poll)
	}
}

// budget is one bounded wait shared by a series of polls: the first may
// use all of it, later ones what is left (each tries at least once), so a
// backend that never gets the data costs the bound once, not once per
// check.
type budget struct {
	bound    time.Duration
	deadline time.Time
}

func newBudget(bound time.Duration) *budget {
	return &budget{bound: bound, deadline: time.Now().Add(bound)}
}

// eventually polls check within what is left of the budget.
func (b *budget) eventually(check func() string) string {
	return eventually(time.Until(b.deadline), check)
}

func (b *budget) String() string { return fmt.Sprintf("a shared bound of %s", b.bound) }

// clip shortens a backend's answer for a failure message.
func clip(b []byte) string {
	const max = 6000
	if len(b) > max {
		return string(b[:max]) + fmt.Sprintf("... (%d more bytes)", len(b)-max)
	}
	return string(b)
}
