package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// eventually polls cond every 250 ms until it holds, or fails the test
// after within with cond's last message.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", within, what, msg)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// probe is a client for the daemon's read-only routes, bounded.
var probe = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func getJSON(url string, v any) (int, error) {
	resp, err := probe.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return resp.StatusCode, fmt.Errorf("%s: not JSON: %v: %.200s", url, err, b)
	}
	return resp.StatusCode, nil
}

// poolStats is one language's entry in /stats.
type poolStats struct {
	Idle            int               `json:"idle"`
	Busy            int               `json:"busy"`
	Creating        int               `json:"creating"`
	Destroying      int               `json:"destroying"`
	Waiting         int               `json:"waiting"`
	Target          int               `json:"target"`
	MinIdle         int               `json:"min_idle"`
	MaxSize         int               `json:"max_size"`
	Acquired        uint64            `json:"acquired"`
	AcquireTimeouts uint64            `json:"acquire_timeouts"`
	Created         uint64            `json:"created"`
	CreateFailures  uint64            `json:"create_failures"`
	Destroyed       map[string]uint64 `json:"destroyed"`
	Degraded        bool              `json:"degraded"`
	LastError       string            `json:"last_error"`
}

func (p poolStats) String() string {
	return fmt.Sprintf("idle %d busy %d creating %d destroying %d waiting %d target %d degraded %v failures %d %s",
		p.Idle, p.Busy, p.Creating, p.Destroying, p.Waiting, p.Target, p.Degraded, p.CreateFailures, p.LastError)
}

func getStats(base string) (map[string]poolStats, error) {
	var body struct {
		Pools map[string]poolStats `json:"pools"`
	}
	code, err := getJSON(base+"/stats", &body)
	if err == nil && code != 200 {
		err = fmt.Errorf("/stats: HTTP %d", code)
	}
	return body.Pools, err
}

// health is GET /health.
type health struct {
	HTTP            int
	Status          string `json:"status"`
	DockerAvailable bool   `json:"docker_available"`
	Languages       map[string]struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"reason"`
		Idle   int    `json:"idle"`
	} `json:"languages"`
}

func getHealth(base string) (health, error) {
	var h health
	code, err := getJSON(base+"/health", &h)
	h.HTTP = code
	return h, err
}

// readyz returns /readyz's status code and body.
func readyz(base string) (int, string) {
	var body map[string]any
	code, err := getJSON(base+"/readyz", &body)
	if err != nil {
		return code, err.Error()
	}
	return code, fmt.Sprint(body)
}

// poolsFull waits until every pool has at least min_idle idle sandboxes,
// none is degraded, nothing is being created, and as many sandboxes of
// the scope run as the pools count idle or busy: the idle ones are
// alive, not leftovers of an engine that went away.
func poolsFull(t *testing.T, base, scope string, within time.Duration) {
	t.Helper()
	eventually(t, within, "every pool to refill with live sandboxes", func() (bool, string) {
		st, err := getStats(base)
		if err != nil {
			return false, err.Error()
		}
		tracked := 0
		for _, l := range languages {
			p, ok := st[l]
			if !ok {
				continue
			}
			if p.Idle < p.MinIdle || p.Degraded {
				return false, l + ": " + p.String()
			}
			tracked += p.Idle + p.Busy
		}
		running, err := containers(scope, true)
		if err != nil {
			return false, err.Error()
		}
		if len(running) < tracked {
			return false, fmt.Sprintf("%d sandboxes tracked, %d running", tracked, len(running))
		}
		return true, ""
	})
}

// noLeak waits until the scope's containers are exactly the ones the
// pools track (idle + busy + being created or destroyed settle to idle).
func noLeak(t *testing.T, base, scope string, within time.Duration) {
	t.Helper()
	eventually(t, within, "the scope's containers to equal the pools' sandboxes", func() (bool, string) {
		st, err := getStats(base)
		if err != nil {
			return false, err.Error()
		}
		tracked, moving := 0, 0
		for _, p := range st {
			tracked += p.Idle + p.Busy
			moving += p.Creating + p.Destroying
		}
		all, err := containers(scope, false)
		if err != nil {
			return false, err.Error()
		}
		if moving > 0 || len(all) != tracked {
			return false, fmt.Sprintf("%d containers of the scope, the pools track %d (%d being created or destroyed); by state: %s",
				len(all), tracked, moving, states(scope))
		}
		return true, ""
	})
}

// runOK sends one short job per language and fails unless each succeeds.
func runOK(t *testing.T, base string, langs ...string) {
	t.Helper()
	hc := newClient(1)
	defer hc.CloseIdleConnections()
	for _, l := range langs {
		a := post(hc, base, short(l))
		if a.HTTP != 200 || a.Status != "success" || a.Problem != "" {
			t.Errorf("a normal %s job: %s %s %.300s", l, a, a.Problem, a.Raw)
		}
	}
}

// start runs a daemon with cfg; if the test fails, the daemon's log is
// kept in a file under the system temp dir and its tail is logged.
func start(t *testing.T, opts testdaemon.Options) *testdaemon.Daemon {
	t.Helper()
	d := testdaemon.Start(t, opts)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		logs := d.Logs()
		name := filepath.Join(os.TempDir(), "warmbox-"+strings.ReplaceAll(t.Name(), "/", "_")+"-"+d.Scope+".log")
		if err := os.WriteFile(name, []byte(logs), 0o644); err == nil {
			t.Logf("daemon log: %s", name)
		}
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		t.Logf("daemon log, last lines:\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
	})
	return d
}
