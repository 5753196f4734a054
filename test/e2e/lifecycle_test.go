package e2e

import (
	"bytes"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestSIGTERMDrains: jobs in flight finish, then every sandbox is
// removed and the daemon exits 0 (Stop checks the exit code and the
// leftover count).
func TestSIGTERMDrains(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	var wg sync.WaitGroup
	results := make([]testdaemon.Response, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = d.Post(t, "/execute", apisuite.With(apisuite.Req("bash", "sleep 2; echo done"), "timeout", 10))
		}()
	}
	time.Sleep(700 * time.Millisecond) // let the jobs reach their sandboxes
	d.Signal(t, syscall.SIGTERM)
	wg.Wait()
	for i, r := range results {
		if r.Status != 200 || r.Body["stdout"] != "done\n" {
			t.Errorf("job %d in flight at SIGTERM: HTTP %d %s", i, r.Status, r.Raw)
		}
	}
	if code := d.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, d.Logs())
	}
	if n := testdaemon.Sandboxes(t, d.Scope); n != 0 {
		t.Fatalf("%d sandboxes left after SIGTERM", n)
	}
}

// TestSIGKILLOrphansReaped: a SIGKILLed daemon's sandboxes are removed by
// the next daemon of the same scope before it serves.
func TestSIGKILLOrphansReaped(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	old := testdaemon.ContainerIDs(t, d.Scope)
	if len(old) == 0 {
		t.Fatal("no sandboxes before the kill")
	}
	d.Signal(t, syscall.SIGKILL)
	d.Wait(t, 10*time.Second)
	if n := testdaemon.Sandboxes(t, d.Scope); n == 0 {
		t.Fatal("a SIGKILLed daemon cannot remove its sandboxes; expected orphans")
	}
	d2 := testdaemon.Start(t, testdaemon.Options{Config: config + "engine: {scope: " + d.Scope + "}\n", NoWait: true})
	// d2 runs in d's scope (its config overrides the generated one).
	now := testdaemon.ContainerIDs(t, d.Scope)
	for _, id := range old {
		for _, n := range now {
			if n == id {
				t.Errorf("orphan %s still exists once the new daemon serves", id[:12])
			}
		}
	}
	d2.WaitReady(t, 60*time.Second)
}

// TestIdleSandboxKilledIsReplaced: an idle sandbox killed from outside
// is noticed, removed and replaced; jobs keep working.
func TestIdleSandboxKilledIsReplaced(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: "rate_limit: {requests: 0}\npool: {min_idle: 1, max_size: 2}\nlanguages: {node: {enabled: false}, bash: {enabled: false}}\n"})
	ids := testdaemon.ContainerIDs(t, d.Scope)
	if len(ids) == 0 {
		t.Fatal("no idle sandbox")
	}
	if out, err := exec.Command("docker", "kill", ids[0]).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v %s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		running, _ := exec.Command("docker", "ps", "-q", "--no-trunc", "--filter", "label=io.warmbox.scope="+d.Scope).Output()
		all := testdaemon.ContainerIDs(t, d.Scope)
		if !strings.Contains(strings.Join(all, " "), ids[0]) && len(strings.Fields(string(running))) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed sandbox not replaced: all=%v running=%s\n%s", all, running, d.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := d.Post(t, "/execute", apisuite.Req("python", "print(1)"))
	if r.Status != 200 || r.Body["stdout"] != "1\n" {
		t.Fatalf("after replacement: HTTP %d %s", r.Status, r.Raw)
	}
}

// TestBadRequests: every bad input gets its status and a JSON error.
func TestBadRequests(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	big := strings.Repeat("x", 70*1024)
	cases := []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"malformed JSON", `{"code": `, "application/json", 400, "invalid_json"},
		{"unknown field", `{"code":"print(1)","environment":"python","network":true}`, "application/json", 422, "unknown_field"},
		{"unknown language", `{"code":"print(1)","environment":"cobol"}`, "application/json", 422, "unknown_environment"},
		{"empty code", `{"code":"","environment":"python"}`, "application/json", 422, "invalid_request"},
		{"oversized code", `{"code":"` + big + `","environment":"python"}`, "application/json", 422, "invalid_request"},
		{"timeout too big", `{"code":"print(1)","environment":"python","timeout":61}`, "application/json", 422, "invalid_request"},
		{"timeout zero", `{"code":"print(1)","environment":"python","timeout":0}`, "application/json", 422, "invalid_request"},
		{"file name escapes", `{"code":"print(1)","environment":"python","files":{"../x.py":"1"}}`, "application/json", 422, "invalid_request"},
		{"absolute file name", `{"code":"print(1)","environment":"python","files":{"/etc/x":"1"}}`, "application/json", 422, "invalid_request"},
		{"body too large", `{"code":"` + strings.Repeat("x", 2<<20) + `","environment":"python"}`, "application/json", 413, "body_too_large"},
		{"wrong content type", `{"code":"print(1)","environment":"python"}`, "text/plain", 415, "unsupported_media_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(d.URL+"/execute", tc.ctype, bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := decodeJSON(resp, &body); err != nil {
				t.Fatalf("HTTP %d, body not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != tc.status || body.Error.Code != tc.code || body.Error.Message == "" {
				t.Errorf("got %d %q %q, want %d %q with a message", resp.StatusCode, body.Error.Code, body.Error.Message, tc.status, tc.code)
			}
		})
	}
	// No sandbox was leased for any of them: the pools are untouched.
	st := d.Get(t, "/stats")
	if st.Body["active_executions"] != 0.0 {
		t.Errorf("active_executions = %v after bad requests", st.Body["active_executions"])
	}
}

// TestSIGTERMDelay: with shutdown.delay, SIGTERM first turns /readyz to
// 503 while jobs are still run (a load balancer's grace to stop sending),
// then drains and exits 0.
func TestSIGTERMDelay(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config + "shutdown: {delay: 4s}\n"})
	d.Signal(t, syscall.SIGTERM)
	signalled := time.Now()
	for r := d.Get(t, "/readyz"); r.Status != 503 || !strings.Contains(string(r.Raw), "shutting down"); r = d.Get(t, "/readyz") {
		if time.Since(signalled) > time.Second {
			t.Fatalf("/readyz a second after SIGTERM: HTTP %d %s, want 503 shutting down", r.Status, r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := d.Post(t, "/execute", apisuite.Req("python", "print('still served')"))
	if r.Status != 200 || r.Body["stdout"] != "still served\n" {
		t.Errorf("a job in the delay: HTTP %d %s, want 200", r.Status, r.Raw)
	}
	if time.Since(signalled) > 3*time.Second {
		t.Fatalf("the checks took %v, past most of the 4 s delay: inconclusive", time.Since(signalled))
	}
	if code := d.Wait(t, 60*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM\n%s", code, d.Logs())
	}
	if took := time.Since(signalled); took < 4*time.Second {
		t.Errorf("exited %v after SIGTERM, before the 4 s delay ended", took)
	}
	if n := testdaemon.Sandboxes(t, d.Scope); n != 0 {
		t.Fatalf("%d sandboxes left after SIGTERM", n)
	}
}
