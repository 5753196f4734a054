package apisuite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// SessionConfig is what the session suites expect of a daemon's config:
// small caps to reach, a short idle TTL to allow, and loopback as a
// trusted proxy, so that X-Forwarded-For can play several clients.
const SessionConfig = `
sessions: {max: 4, max_per_client: 2, idle_ttl: 5m, max_idle_ttl: 10m, max_lifetime: 10m}
http: {trusted_proxies: ["127.0.0.1/32"]}
`

// sessionClient talks to a daemon's session routes as one client
// (X-Forwarded-For names it).
type sessionClient struct {
	t      *testing.T
	d      *testdaemon.Daemon
	client string
}

func (c sessionClient) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.d.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.client != "" {
		req.Header.Set("X-Forwarded-For", c.client)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			c.t.Fatalf("%s %s: HTTP %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// open opens a session of lang and returns its id.
func (c sessionClient) open(lang string) string {
	c.t.Helper()
	status, body := c.do(http.MethodPost, "/sessions", map[string]any{"environment": lang})
	if status != http.StatusCreated {
		c.t.Fatalf("open a %s session: HTTP %d %v", lang, status, body)
	}
	return body["id"].(string)
}

// run runs code in session id and returns the answer (HTTP 200 wanted).
func (c sessionClient) run(id, code string, extra ...any) map[string]any {
	c.t.Helper()
	req := map[string]any{"code": code}
	for i := 0; i+1 < len(extra); i += 2 {
		req[extra[i].(string)] = extra[i+1]
	}
	status, body := c.do(http.MethodPost, "/sessions/"+id+"/execute", req)
	if status != http.StatusOK {
		c.t.Fatalf("run %q in %s: HTTP %d %v", code, id, status, body)
	}
	return body
}

func (c sessionClient) close(id string) {
	c.t.Helper()
	if status, body := c.do(http.MethodDelete, "/sessions/"+id, nil); status != http.StatusNoContent {
		c.t.Fatalf("close %s: HTTP %d %v", id, status, body)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func exceptionName(body map[string]any) string {
	x, _ := body["exception"].(map[string]any)
	return str(x["name"])
}

// Sessions checks sessions through the API, per language: state kept
// between runs, the last expression's value, an uncaught error reported
// with the session alive, files kept, a run past its timeout
// interrupted, the session deleted; then an interpreter killed by its own
// code, which ends the session. The daemon runs with SessionConfig.
func Sessions(t *testing.T, d *testdaemon.Daemon) {
	type step struct {
		code, stdout, value, exception string
		exit                           float64
	}
	langs := map[string][]step{
		"python": {
			{code: "x = 20"},
			{code: "x + 22", value: "42"},
			{code: "print('out')\nn = open('kept.txt', 'w').write('k')", stdout: "out\n"},
			{code: "open('kept.txt').read()", value: "'k'"},
			{code: "1/0", exception: "ZeroDivisionError", exit: 1},
			{code: "x", value: "20"},
		},
		"node": {
			{code: "let x = 20"},
			{code: "x + 22", value: "42"},
			{code: "require('fs').writeFileSync('kept.txt', 'k'); console.log('out')", stdout: "out\n"},
			{code: "require('fs').readFileSync('kept.txt', 'utf8')", value: "'k'"},
			{code: "null.y", exception: "TypeError", exit: 1},
			{code: "x", value: "20"},
		},
		"bash": {
			{code: "x=20; cd /tmp"},
			{code: "echo $((x + 22))", stdout: "42\n"},
			{code: "echo k > kept.txt; false", exit: 1},
			{code: "cat kept.txt", stdout: "k\n"},
		},
	}
	for lang, steps := range langs {
		t.Run(lang, func(t *testing.T) {
			c := sessionClient{t: t, d: d, client: "10.1.0." + fmt.Sprint(len(lang))}
			id := c.open(lang)
			for i, s := range steps {
				body := c.run(id, s.code)
				if str(body["stdout"]) != s.stdout || str(body["value"]) != s.value ||
					exceptionName(body) != s.exception || body["exit_code"] != s.exit || body["session_ended"] != false {
					t.Errorf("step %d %q: stdout %q value %v exception %q exit %v ended %v; want stdout %q value %q exception %q exit %v",
						i, s.code, body["stdout"], body["value"], exceptionName(body), body["exit_code"], body["session_ended"],
						s.stdout, s.value, s.exception, s.exit)
				}
				if body["session_id"] != id || body["environment"] != lang {
					t.Errorf("step %d: session_id %v environment %v, want %s %s", i, body["session_id"], body["environment"], id, lang)
				}
			}
			if status, body := c.do(http.MethodGet, "/sessions/"+id, nil); status != 200 || body["runs"] != float64(len(steps)) {
				t.Errorf("GET the session: HTTP %d %v, want %d runs", status, body, len(steps))
			}
			c.close(id)
			if status, body := c.do(http.MethodPost, "/sessions/"+id+"/execute", map[string]any{"code": "1"}); status != http.StatusNotFound ||
				body["error"].(map[string]any)["code"] != "session_not_found" {
				t.Errorf("a run in a deleted session: HTTP %d %v, want 404 session_not_found", status, body)
			}
		})
	}
	t.Run("timeout interrupts the run, the session lives on", func(t *testing.T) {
		c := sessionClient{t: t, d: d, client: "10.1.1.1"}
		id := c.open("python")
		defer c.close(id)
		c.run(id, "y = 1")
		body := c.run(id, "while True: pass", "timeout", 1)
		if body["status"] != "timeout" || body["timed_out"] != true || exceptionName(body) != "KeyboardInterrupt" || body["session_ended"] != false {
			t.Fatalf("a run past its timeout: %v", body)
		}
		if body := c.run(id, "y + 1"); str(body["value"]) != "2" {
			t.Fatalf("the session after an interrupted run: %v", body)
		}
	})
	t.Run("an interpreter killed by its own code ends the session", func(t *testing.T) {
		c := sessionClient{t: t, d: d, client: "10.1.1.2"}
		id := c.open("python")
		body := c.run(id, "import os, signal\nprint('bye', flush=True)\nos.kill(os.getpid(), signal.SIGKILL)")
		if body["session_ended"] != true || body["signal"] != "SIGKILL" || body["status"] != "error" || str(body["stdout"]) != "bye\n" {
			t.Fatalf("a run that kills its interpreter: %v", body)
		}
		if status, _ := c.do(http.MethodGet, "/sessions/"+id, nil); status != http.StatusNotFound {
			t.Errorf("an ended session is still there: HTTP %d", status)
		}
		// A new session of the same client starts afresh.
		fresh := c.open("python")
		defer c.close(fresh)
		if body := c.run(fresh, "'y' in globals()"); str(body["value"]) != "False" {
			t.Errorf("a new session sees an old one's names: %v", body)
		}
	})
	t.Run("streamed run", func(t *testing.T) {
		c := sessionClient{t: t, d: d, client: "10.1.1.3"}
		id := c.open("python")
		defer c.close(id)
		c.run(id, "import time")
		_, events := PostEventsTo(t, context.Background(), d, "/sessions/"+id+"/execute",
			map[string]any{"code": "print('first', flush=True)\ntime.sleep(0.5)\nprint('second')\n6 * 7"})
		var names []string
		var result map[string]any
		for e := range events {
			names = append(names, e.Name)
			if e.Name == "result" {
				if err := json.Unmarshal([]byte(e.Data), &result); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(names) < 2 || names[0] != "stdout" || names[len(names)-1] != "result" {
			t.Fatalf("events %v, want stdout events then the result", names)
		}
		if str(result["stdout"]) != "first\nsecond\n" || str(result["value"]) != "42" || result["session_id"] != id {
			t.Errorf("result event: %v", result)
		}
	})
}

// SessionCaps checks the caps: per client (429 too_many_sessions) and in
// all (503 sessions_full), a slot freed by a close, and a bad idle_ttl.
// The daemon runs with SessionConfig (max 4, max_per_client 2).
func SessionCaps(t *testing.T, d *testdaemon.Daemon) {
	a := sessionClient{t: t, d: d, client: "10.2.0.1"}
	b := sessionClient{t: t, d: d, client: "10.2.0.2"}
	cc := sessionClient{t: t, d: d, client: "10.2.0.3"}
	ids := []string{a.open("bash"), a.open("bash")}
	if status, body := a.do(http.MethodPost, "/sessions", map[string]any{"environment": "bash"}); status != http.StatusTooManyRequests ||
		body["error"].(map[string]any)["code"] != "too_many_sessions" {
		t.Fatalf("a third session of one client: HTTP %d %v, want 429 too_many_sessions", status, body)
	}
	ids = append(ids, b.open("bash"), b.open("bash"))
	status, body := cc.do(http.MethodPost, "/sessions", map[string]any{"environment": "bash"})
	if status != http.StatusServiceUnavailable || body["error"].(map[string]any)["code"] != "sessions_full" {
		t.Fatalf("a session past the global cap: HTTP %d %v, want 503 sessions_full", status, body)
	}
	if status, list := a.do(http.MethodGet, "/sessions", nil); status != 200 || len(list["sessions"].([]any)) != 2 {
		t.Errorf("client a's list: HTTP %d %v, want its 2 sessions", status, list)
	}
	a.close(ids[0])
	ids[0] = cc.open("bash")
	if status, body := cc.do(http.MethodPost, "/sessions", map[string]any{"environment": "bash", "idle_ttl": 3600}); status != 422 {
		t.Errorf("idle_ttl over max_idle_ttl: HTTP %d %v, want 422", status, body)
	}
	for i, id := range ids {
		[]sessionClient{cc, a, b, b}[i].close(id)
	}
}

// SessionExpiry checks that an idle session closes after its idle TTL
// and its sandbox goes back to the pool.
func SessionExpiry(t *testing.T, d *testdaemon.Daemon) {
	c := sessionClient{t: t, d: d, client: "10.3.0.1"}
	status, body := c.do(http.MethodPost, "/sessions", map[string]any{"environment": "python", "idle_ttl": 1})
	if status != http.StatusCreated {
		t.Fatalf("open: HTTP %d %v", status, body)
	}
	id := body["id"].(string)
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, _ := c.do(http.MethodGet, "/sessions/"+id, nil)
		if status == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an idle session was not closed 15 s after its 1 s idle TTL")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SessionIsolation runs attacks from one session on another: its
// processes, files, shared memory, signals and uid; none may reach.
func SessionIsolation(t *testing.T, d *testdaemon.Daemon) {
	c := sessionClient{t: t, d: d, client: "10.4.0.1"}
	victim := c.open("python")
	defer c.close(victim)
	attacker := c.open("python")
	defer c.close(attacker)
	setup := c.run(victim, `import os, subprocess
open('/tmp/victim-secret', 'w').write('s3cret')
open('/dev/shm/victim-shm', 'w').write('shm')
p = subprocess.Popen(['sleep', '1000'])
secret_value = 'in-memory-secret'
print(os.getuid(), p.pid, flush=True)`)
	fields := strings.Fields(str(setup["stdout"]))
	if len(fields) != 2 {
		t.Fatalf("victim setup: %v", setup)
	}
	victimUID, victimPID := fields[0], fields[1]
	probe := c.run(attacker, fmt.Sprintf(`import os, signal
found = []
if os.path.exists('/tmp/victim-secret'): found.append('file')
if os.path.exists('/dev/shm/victim-shm'): found.append('shm')
procs = [p for p in os.listdir('/proc') if p.isdigit()]
for p in procs:
    try:
        if 'sleep' in open('/proc/%%s/cmdline' %% p).read(): found.append('process')
    except OSError: pass
# PID namespaces differ: the victim's pid may name one of the attacker's
# own processes here, which the signal must not hit.
victim_pid = %s
try: mine = 'sleep' not in open('/proc/%%d/cmdline' %% victim_pid).read()
except OSError: mine = False
if not mine:
    try:
        os.kill(victim_pid, signal.SIGKILL)
        found.append('signal')
    except OSError: pass
if str(os.getuid()) == '%s': found.append('same uid')
'secret_value' in globals() and found.append('variable')
print(','.join(found) or 'none')`, victimPID, victimUID))
	if got := strings.TrimSpace(str(probe["stdout"])); got != "none" {
		t.Errorf("the attacking session reached the victim's: %s (%v)", got, probe)
	}
	after := c.run(victim, "p.poll() is None and open('/tmp/victim-secret').read() == 's3cret' and secret_value")
	if str(after["value"]) != "'in-memory-secret'" {
		t.Errorf("the victim's session was disturbed: %v", after)
	}
}

// SessionChurn opens and closes sessions concurrently, running a cell in
// each; the caller's daemon checks at stop that nothing leaked.
func SessionChurn(t *testing.T, d *testdaemon.Daemon, rounds int) {
	var wg sync.WaitGroup
	errs := make(chan string, rounds*4)
	for r := range rounds {
		for k := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := sessionClient{t: t, d: d, client: fmt.Sprintf("10.5.%d.%d", r, k)}
				status, body := c.do(http.MethodPost, "/sessions", map[string]any{"environment": []string{"python", "node", "bash", "python"}[k]})
				if status == http.StatusServiceUnavailable {
					return // the global cap, with other rounds' sessions open: allowed
				}
				if status != http.StatusCreated {
					errs <- fmt.Sprintf("open: HTTP %d %v", status, body)
					return
				}
				id := body["id"].(string)
				if status, body := c.do(http.MethodPost, "/sessions/"+id+"/execute", map[string]any{"code": "echo 1 || print(1) || console.log(1)"}); status != 200 {
					errs <- fmt.Sprintf("run: HTTP %d %v", status, body)
				}
				if status, body := c.do(http.MethodDelete, "/sessions/"+id, nil); status != http.StatusNoContent {
					errs <- fmt.Sprintf("close: HTTP %d %v", status, body)
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	status, list := sessionClient{t: t, d: d}.do(http.MethodGet, "/stats", nil)
	if status != 200 {
		t.Fatalf("/stats: HTTP %d", status)
	}
	if s, _ := list["sessions"].(map[string]any); s == nil || s["open"] != 0.0 {
		t.Errorf("/stats sessions after the churn: %v, want none open", list["sessions"])
	}
}
