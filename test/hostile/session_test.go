package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestBatteryInSession runs the battery's cases as runs of a session
// (one session per language, reopened when a case ends it) while a
// victim session holds a canary: a background process, files in /tmp
// and /dev/shm, and a variable. After every case the victim must still
// have all of it and answer (docs/SECURITY.md S1). Cases that need stdin
// or args are left out: a session's runs have neither. What each case
// does to its own session is not judged here (TestHostile does that for
// jobs); that it reaches no other session is.
// sessionLanguages are the battery's languages that have a session
// interpreter; the others' cases (c, java, go, ruby) run as jobs only.
var sessionLanguages = map[string]bool{"python": true, "node": true, "bash": true}

func TestBatteryInSession(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 4, max_wait: 30s}
sessions: {max: 4, max_per_client: 4, idle_ttl: 10m, max_idle_ttl: 10m, max_lifetime: 1h}
`})
	port := func() string { u, _ := url.Parse(d.URL); return u.Port() }()
	s := sessionHarness{t: t, url: d.URL, open: map[string]string{}}

	victim := s.openSession("python")
	setup := s.run(victim, `import os, subprocess
open('/tmp/canary', 'w').write('canary')
open('/dev/shm/canary', 'w').write('canary')
canary_proc = subprocess.Popen(['sleep', '100000'])
canary_value = 'canary'
print(canary_proc.pid)`, 10)
	if setup.status != 200 || setup.body["status"] != "success" {
		t.Fatalf("victim setup: HTTP %d %v", setup.status, setup.body)
	}
	const probe = `(canary_proc.poll() is None, open('/tmp/canary').read(), open('/dev/shm/canary').read(), canary_value)`
	const intact = `(True, 'canary', 'canary', 'canary')`

	ran := 0
	for _, c := range loadCases(t) {
		if c.Stdin != "" || c.StdinFill > 0 || len(c.Args) > 0 || c.Mode != "single" || !sessionLanguages[c.Language] {
			continue
		}
		ran++
		job := c.Prepare(port)
		code, _ := job.Body["code"].(string)
		attacker := s.session(c.Language)
		a := s.runFiles(attacker, code, c.Timeout, c.Files)
		switch {
		case a.status == http.StatusOK && a.body["session_ended"] == true,
			a.status == http.StatusServiceUnavailable, a.status == http.StatusNotFound:
			delete(s.open, c.Language) // the case ended its session: the next case opens another
		case a.status != http.StatusOK && a.status != http.StatusUnprocessableEntity:
			t.Errorf("%s: HTTP %d %v", c.ID, a.status, a.body)
		}
		v := s.run(victim, probe, 10)
		if v.status != http.StatusOK || v.body["value"] != intact {
			t.Fatalf("%s (%s) reached the victim session: HTTP %d %v", c.ID, c.Title, v.status, v.body)
		}
	}
	if ran < 40 {
		t.Errorf("only %d cases ran in a session, want the battery's (at least 40)", ran)
	}
	t.Logf("%d cases ran in sessions; the victim session kept its process, files and names through all", ran)
}

// sessionHarness drives sessions over HTTP for the battery.
type sessionHarness struct {
	t    *testing.T
	url  string
	open map[string]string // language → its attacker session
}

type answer struct {
	status int
	body   map[string]any
}

func (s *sessionHarness) post(path string, body map[string]any, wait time.Duration) answer {
	s.t.Helper()
	raw, _ := json.Marshal(body)
	c := http.Client{Timeout: wait}
	resp, err := c.Post(s.url+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return answer{resp.StatusCode, m}
}

func (s *sessionHarness) openSession(lang string) string {
	s.t.Helper()
	a := s.post("/sessions", map[string]any{"environment": lang}, time.Minute)
	if a.status != http.StatusCreated {
		s.t.Fatalf("open a %s session: HTTP %d %v", lang, a.status, a.body)
	}
	return a.body["id"].(string)
}

// session returns the attacker session of lang, opening one if none.
func (s *sessionHarness) session(lang string) string {
	if id, ok := s.open[lang]; ok {
		return id
	}
	id := s.openSession(lang)
	s.open[lang] = id
	return id
}

func (s *sessionHarness) run(id, code string, timeout int) answer {
	return s.runFiles(id, code, timeout, nil)
}

func (s *sessionHarness) runFiles(id, code string, timeout int, files map[string]string) answer {
	body := map[string]any{"code": code, "timeout": timeout}
	if len(files) > 0 {
		// A name an earlier case of the session left behind is refused
		// (422): files are never overwritten.
		body["files"] = files
	}
	return s.post(fmt.Sprintf("/sessions/%s/execute", id), body, time.Duration(timeout+30)*time.Second)
}
