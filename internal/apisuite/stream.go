package apisuite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// streamPrograms are the streaming cases' programs, per language: first
// prints a line, sleeps a second and prints another; stderr writes to
// stderr and exits 3; flood writes 100 000 bytes, far past the 10 KiB
// cap; spin prints a line and never ends; hang prints a line and sleeps
// 30 s.
var streamPrograms = map[string]map[string]string{
	"python": {
		"first":  "import time\nprint('first', flush=True)\ntime.sleep(1)\nprint('second')",
		"stderr": "import sys\nprint('oops', file=sys.stderr)\nsys.exit(3)",
		"flood":  "import sys\nsys.stdout.write('x' * 100000)",
		"spin":   "print('start', flush=True)\nwhile True:\n    pass",
		"hang":   "import time\nprint('start', flush=True)\ntime.sleep(30)",
	},
	"node": {
		"first":  "console.log('first');\nsetTimeout(() => console.log('second'), 1000);",
		"stderr": "console.error('oops');\nprocess.exitCode = 3;",
		"flood":  "process.stdout.write('x'.repeat(100000));",
		"spin":   "console.log('start');\nfor (;;) {}",
		"hang":   "console.log('start');\nsetTimeout(() => {}, 30000);",
	},
	"bash": {
		"first":  "echo first; sleep 1; echo second",
		"stderr": "echo oops >&2; exit 3",
		"flood":  "head -c 100000 /dev/zero | tr '\\0' x",
		"spin":   "echo start; while :; do :; done",
		"hang":   "echo start; sleep 30",
	},
}

// Event is one Server-Sent Event of a streamed execution and when the
// client read it.
type Event struct {
	Name, Data string
	At         time.Time
}

// Text is the text of a stdout or stderr event.
func (e Event) Text(t *testing.T) string {
	t.Helper()
	var d struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal([]byte(e.Data), &d); err != nil || d.Text == nil {
		t.Fatalf("%s event data %q: want {\"text\": ...} (%v)", e.Name, e.Data, err)
	}
	return *d.Text
}

// PostEvents posts body to /execute asking for Server-Sent Events and
// returns the response and its events, each sent on the channel as soon
// as the client has read it; the channel closes at the end of the body.
// Cancelling ctx leaves the stream.
func PostEvents(t *testing.T, ctx context.Context, d *testdaemon.Daemon, body map[string]any) (*http.Response, <-chan Event) {
	t.Helper()
	return PostEventsTo(t, ctx, d, "/execute", body)
}

// PostEventsTo is PostEvents for another route that streams (a session's
// execute).
func PostEventsTo(t *testing.T, ctx context.Context, d *testdaemon.Daemon, path string, body map[string]any) (*http.Response, <-chan Event) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	events := make(chan Event, 64)
	go func() {
		defer close(events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var name string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				events <- Event{Name: name, Data: strings.TrimPrefix(line, "data: "), At: time.Now()}
			}
		}
	}()
	return resp, events
}

// streamed is a whole streamed execution.
type streamed struct {
	events         []Event
	stdout, stderr string         // the output events' texts, joined
	result         map[string]any // the result event's data
}

// streamExecute runs body streamed to its end and checks the stream's
// shape: output events, then exactly one result event.
func streamExecute(t *testing.T, d *testdaemon.Daemon, body map[string]any) streamed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, events := PostEvents(t, ctx, d, body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HTTP %d, Content-Type %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var s streamed
	for e := range events {
		s.events = append(s.events, e)
	}
	for i, e := range s.events {
		switch {
		case e.Name == "stdout":
			s.stdout += e.Text(t)
		case e.Name == "stderr":
			s.stderr += e.Text(t)
		case e.Name == "result" && i == len(s.events)-1:
			if err := json.Unmarshal([]byte(e.Data), &s.result); err != nil {
				t.Fatalf("result event data %q: %v", e.Data, err)
			}
		default:
			t.Fatalf("event %d of %d is %q (%s): want output events, then one result", i+1, len(s.events), e.Name, e.Data)
		}
	}
	if s.result == nil {
		t.Fatalf("no result event in %v", s.events)
	}
	if s.stdout != s.result["stdout"] || s.stderr != s.result["stderr"] {
		t.Errorf("streamed stdout %q, stderr %q; want the result's %q and %q", trim(s.stdout), trim(s.stderr), s.result["stdout"], s.result["stderr"])
	}
	return s
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Streaming runs the streamed executions of every language: output
// comes as it is produced, the texts equal the result's, and caps,
// timeouts and a client that leaves behave as without streaming.
func Streaming(t *testing.T, d *testdaemon.Daemon) {
	for _, lang := range []string{"python", "node", "bash"} {
		prog := streamPrograms[lang]
		t.Run(lang, func(t *testing.T) {
			t.Run("first line before the program ends", func(t *testing.T) {
				s := streamExecute(t, d, Req(lang, prog["first"]))
				if s.result["status"] != "success" || s.stdout != "first\nsecond\n" {
					t.Fatalf("got %v", s.result)
				}
				first, result := s.events[0], s.events[len(s.events)-1]
				if first.Name != "stdout" || first.Text(t) != "first\n" {
					t.Fatalf("first event %s %s, want stdout's first line", first.Name, first.Data)
				}
				// The program sleeps 1 s between its lines: a first line
				// that came only with the result was not streamed.
				if gap := result.At.Sub(first.At); gap < 700*time.Millisecond {
					t.Errorf("first line %v before the result, want the second's 1 s sleep in between (>= 700 ms)", gap)
				}
			})
			t.Run("stderr", func(t *testing.T) {
				s := streamExecute(t, d, Req(lang, prog["stderr"]))
				if s.result["status"] != "error" || s.result["exit_code"] != 3.0 || s.stderr != "oops\n" {
					t.Errorf("got stderr %q, result %v", s.stderr, s.result)
				}
			})
			t.Run("output over the cap", func(t *testing.T) {
				s := streamExecute(t, d, Req(lang, prog["flood"]))
				tr, _ := s.result["truncated"].(map[string]any)
				if len(s.stdout) != 10240 || strings.Trim(s.stdout, "x") != "" || tr["stdout"] != true {
					t.Errorf("streamed %d bytes, truncated %v; want the 10240 the cap keeps", len(s.stdout), tr)
				}
			})
			t.Run("timeout", func(t *testing.T) {
				s := streamExecute(t, d, With(Req(lang, prog["spin"]), "timeout", 2))
				if s.result["status"] != "timeout" || s.result["timed_out"] != true || s.stdout != "start\n" {
					t.Errorf("got stdout %q, result %v", s.stdout, s.result)
				}
			})
			t.Run("client leaves mid-stream", func(t *testing.T) {
				leaveMidStream(t, d, lang, prog["hang"])
			})
		})
	}
	t.Run("errors before the program starts are JSON", func(t *testing.T) {
		resp, events := PostEvents(t, context.Background(), d, Req("cobol", "x"))
		var body strings.Builder
		for e := range events {
			body.WriteString(e.Data)
		}
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("HTTP %d %s, want 422 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
	t.Run("any other Accept is answered with JSON", func(t *testing.T) {
		for _, accept := range []string{"*/*", "application/json"} {
			req, _ := http.NewRequest(http.MethodPost, d.URL+"/execute", strings.NewReader(`{"code":"echo hi","environment":"bash"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var r map[string]any
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || r["stdout"] != "hi\n" {
				t.Errorf("Accept %s: HTTP %d %v (%v), want the JSON answer", accept, resp.StatusCode, r, err)
			}
		}
	})
}

// leaveMidStream starts a program that prints a line and sleeps 30 s,
// leaves once the line came, and checks that the job is killed long
// before it would end: the daemon runs nothing and holds no busy
// sandbox (the daemon's stop then checks that none leaked).
func leaveMidStream(t *testing.T, d *testdaemon.Daemon, lang, code string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	resp, events := PostEvents(t, ctx, d, With(Req(lang, code), "timeout", 30))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	if e, ok := <-events; !ok || e.Name != "stdout" || e.Text(t) != "start\n" {
		t.Fatalf("first event %v, want stdout's first line", e)
	}
	cancel()
	for range events {
	}
	deadline := start.Add(20 * time.Second) // the program would run 30 s
	for {
		st := d.Get(t, "/stats")
		pools, _ := st.Body["pools"].(map[string]any)
		p, _ := pools[lang].(map[string]any)
		if st.Body["active_executions"] == 0.0 && p["busy"] == 0.0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after the client left, /stats still says: %s", st.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
