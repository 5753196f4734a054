package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// pistonClientType is what piston-client 1.0.2 sends: node-fetch's
// default for a string body.
var pistonClientType = http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}

// newPistonAPI is an API whose languages report real-looking versions.
func newPistonAPI(t *testing.T, configure ...func(*Options)) *testAPI {
	t.Helper()
	a := newAPI(t, configure...)
	versions := map[string]string{"bash": "5.2.15", "node": "18.19.0", "python": "3.11.2"}
	for i := range a.svc.langs {
		a.svc.langs[i].Version = versions[a.svc.langs[i].Name]
	}
	return a
}

func (a *testAPI) piston(body string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do(http.MethodPost, "/api/v2/execute", body, pistonClientType, "")
}

// pistonBody is what piston-client sends for execute(language, code).
func pistonBody(language, version, code string) string {
	b, _ := json.Marshal(map[string]any{
		"language": language, "version": version, "files": []any{map[string]string{"content": code}},
		"stdin": "", "args": []string{"1", "2", "3"}, "compile_timeout": 10000, "run_timeout": 3000,
		"compile_memory_limit": -1, "run_memory_limit": -1,
	})
	return string(b)
}

// pistonMessage checks an error answer's shape (exactly {"message"}) and
// status, and returns the message.
func pistonMessage(t *testing.T, w *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body.String())
	}
	m := decode(t, w)
	msg, ok := m["message"].(string)
	if !ok || len(m) != 1 {
		t.Fatalf("error body %s, want exactly {\"message\": string}", w.Body.String())
	}
	return msg
}

func TestPistonRuntimes(t *testing.T) {
	a := newPistonAPI(t)
	w := a.get("/api/v2/runtimes")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	checkHygiene(t, w)
	var got []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("not a JSON array: %s", w.Body.String())
	}
	want := []map[string]any{
		{"language": "bash", "version": "5.2.15", "aliases": []any{"sh"}},
		{"language": "javascript", "version": "18.19.0", "aliases": []any{"node-javascript", "node-js", "javascript", "js", "node"}, "runtime": "node"},
		{"language": "python", "version": "3.11.2", "aliases": []any{"py", "py3", "python3"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("runtimes\n got %v\nwant %v", got, want)
	}

	t.Run("a language without Piston names keeps its own", func(t *testing.T) {
		a := newPistonAPI(t)
		a.svc.langs = append(a.svc.langs, dispatch.Info{Language: dispatch.Language{Name: "tcl", File: "main.tcl", Limits: testLimits()}, Version: "8.6.13"})
		w := a.get("/api/v2/runtimes")
		if !strings.Contains(w.Body.String(), `{"language":"tcl","version":"8.6.13","aliases":[]}`) {
			t.Errorf("runtimes %s lack tcl with empty aliases", w.Body.String())
		}
	})
}

func TestPistonExecuteAnswer(t *testing.T) {
	a := newPistonAPI(t)
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("hello\n"), Stderr: []byte("warn\n"), WallMs: 12.4, CPUTimeMs: 5.25, MemoryPeakKB: 9000}}, Run: 13 * time.Millisecond}, nil
	})
	w := a.piston(pistonBody("python", "3.11.2", "print('hello')"))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	checkHygiene(t, w)
	// Exactly Piston's keys, in Piston's order, and no compile stage.
	want := `{"run":{"stdout":"hello\n","stderr":"warn\n","code":0,"signal":null,"output":"hello\nwarn\n",` +
		`"memory":9216000,"message":null,"status":null,"cpu_time":5.25,"wall_time":12},"language":"python","version":"3.11.2"}` + "\n"
	if w.Body.String() != want {
		t.Errorf("answer\n got %s\nwant %s", w.Body.String(), want)
	}

	calls := a.svc.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	got := calls[0]
	wantReq := dispatch.Request{Language: "python", Code: "print('hello')", Args: []string{"1", "2", "3"},
		Stdin: []byte("\n"), Timeout: 3 * time.Second, Files: []wire.File{}}
	if !reflect.DeepEqual(got, wantReq) {
		t.Errorf("request\n got %+v\nwant %+v", got, wantReq)
	}
	if !slices.Equal(a.rec.executions, []string{"python/success"}) {
		t.Errorf("recorded %v, want python/success", a.rec.executions)
	}
}

func TestPistonOutcomes(t *testing.T) {
	str := func(s string) any { return s }
	tests := []struct {
		name                  string
		res                   wire.Result
		code, signal          any // float64, string or nil
		status, message       any
		stdout, stderr, outpt string
	}{
		{"success", wire.Result{Stage: wire.Stage{Stdout: []byte("ok\n")}}, 0.0, nil, nil, nil, "ok\n", "", "ok\n"},
		{"runtime error", wire.Result{Stage: wire.Stage{ExitCode: 3, Stderr: []byte("Traceback\n")}}, 3.0, nil, str("RE"), str("Exited with error status 3"), "", "Traceback\n", "Traceback\n"},
		{"signal", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGSEGV"}}, nil, str("SIGSEGV"), str("SG"), str("Caught fatal signal 11"), "", "", ""},
		{"out of memory", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL"}, OOMKilled: true}, nil, str("SIGKILL"), str("SG"), str("Caught fatal signal 9 (out of memory)"), "", "", ""},
		{"timeout", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stdout: []byte("tick\n")}}, nil, str("SIGKILL"), str("TO"), str("Time limit exceeded (wall clock)"), "tick\n", "", "tick\n"},
		{"stdout over its cap", wire.Result{Stage: wire.Stage{Stdout: []byte("aaaa"), StdoutTruncated: true}}, 0.0, nil, str("OL"), str("stdout length exceeded"), "aaaa", "", "aaaa"},
		{"stderr over its cap, then timeout", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stderr: []byte("e"), StderrTruncated: true}}, nil, str("SIGKILL"), str("EL"), str("stderr length exceeded"), "", "e", "e"},
		{"stdout and stderr interleave as stdout then stderr", wire.Result{Stage: wire.Stage{Stdout: []byte("1\n"), Stderr: []byte("2\n")}}, 0.0, nil, nil, nil, "1\n", "2\n", "1\n2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newPistonAPI(t)
			a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
				return dispatch.Outcome{Result: tt.res}, nil
			})
			w := a.piston(pistonBody("python", "*", "x"))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			run, _ := decode(t, w)["run"].(map[string]any)
			checkTypes(t, "run", run, map[string]string{"stdout": "string", "stderr": "string", "output": "string",
				"code": "int|null", "signal": "string|null", "message": "string|null", "status": "string|null",
				"cpu_time": "number", "wall_time": "number", "memory": "int"})
			if len(run) != 10 {
				t.Errorf("run has %d keys, want 10: %v", len(run), run)
			}
			for k, want := range map[string]any{"code": tt.code, "signal": tt.signal, "status": tt.status, "message": tt.message,
				"stdout": tt.stdout, "stderr": tt.stderr, "output": tt.outpt} {
				if run[k] != want {
					t.Errorf("%s = %#v, want %#v", k, run[k], want)
				}
			}
		})
	}
}

func TestPistonLanguagesAndAliases(t *testing.T) {
	tests := []struct {
		asked, served, answered string
	}{
		{"python", "python", "python"}, {"py", "python", "python"}, {"py3", "python", "python"}, {"python3", "python", "python"},
		{"javascript", "node", "javascript"}, {"js", "node", "javascript"}, {"node-js", "node", "javascript"},
		{"node-javascript", "node", "javascript"}, {"node", "node", "javascript"},
		{"bash", "bash", "bash"}, {"sh", "bash", "bash"},
	}
	for _, tt := range tests {
		t.Run(tt.asked, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(pistonBody(tt.asked, "*", "x"))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			m := decode(t, w)
			want := map[string]string{"python": "3.11.2", "node": "18.19.0", "bash": "5.2.15"}[tt.served]
			if m["language"] != tt.answered || m["version"] != want {
				t.Errorf("language %v version %v, want %s %s", m["language"], m["version"], tt.answered, want)
			}
			if calls := a.svc.calls(); len(calls) != 1 || calls[0].Language != tt.served {
				t.Errorf("service got %+v, want language %s", calls, tt.served)
			}
		})
	}
	for _, name := range []string{"Python", "ruby", "python2", " python", "javascript "} {
		t.Run("unknown "+name, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(pistonBody(name, "*", "x"))
			if got, want := pistonMessage(t, w, 400), name+"-* runtime is unknown"; got != want {
				t.Errorf("message %q, want %q", got, want)
			}
			if len(a.svc.calls()) != 0 {
				t.Error("service called")
			}
		})
	}
}

func TestPistonVersionSelectors(t *testing.T) {
	ok := []string{"*", "x", "3", "3.x", "3.11", "3.11.x", "3.11.*", "3.11.2", "=3.11.2", "v3.11.2", "^3.10", "^3",
		"~3.11", "~3.11.1", ">=3.9", ">= 3.9", ">3.10", ">2", "<4", "<=3.11", "<=3.11.2", ">=3.9 <3.12",
		"3.9 - 3.12", "3.11.2 - 3.11.2", "2 || 3", "^2 || ^3.11"}
	for _, sel := range ok {
		t.Run("matches "+sel, func(t *testing.T) {
			a := newPistonAPI(t)
			if w := a.piston(pistonBody("python", sel, "x")); w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		})
	}
	bad := []string{"9.9.9", "3.12", "3.11.3", "2", "^3.12", "~3.10", ">3.11.2", "<3.11.2", ">=4", "<3", "<=3.10",
		"3.9 - 3.10", "3.11.2-rc1", ">*", "latest", "3.11.2.1", "three", "=", "4 || 2", ">3"}
	for _, sel := range bad {
		t.Run("refuses "+sel, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(pistonBody("python", sel, "x"))
			if got, want := pistonMessage(t, w, 400), "python-"+sel+" runtime is unknown"; got != want {
				t.Errorf("message %q, want %q", got, want)
			}
		})
	}
}

func TestVersionMatches(t *testing.T) {
	tests := []struct {
		version, selector string
		want              bool
	}{
		{"0.2.3", "^0.2.1", true}, {"0.3.0", "^0.2.1", false},
		{"0.0.3", "^0.0.3", true}, {"0.0.4", "^0.0.3", false},
		{"0.0.9", "^0.0", true}, {"0.1.0", "^0.0", false},
		{"0.9.0", "^0.x", true}, {"1.0.0", "^0.x", false},
		{"1.2.9", "~1.2.3", true}, {"1.3.0", "~1.2.3", false}, {"1.9.0", "~1", true}, {"2.0.0", "~1", false},
		{"2.3.4", "1.2 - 2.3.4", true}, {"2.3.5", "1.2 - 2.3.4", false}, {"2.3.9", "1.2.3 - 2.3", true}, {"2.4.0", "1.2.3 - 2.3", false},
		{"1.1.9", "1.2 - 2", false}, {"2.9.9", "1.2 - 2", true}, {"3.0.0", "1.2 - 2", false},
		{"5.2.15(1)-release", "5.2.15", true}, {"5.2", "5.2.0", true},
		{"", "*", true}, {"", "3", false}, {"unknown", "unknown", true}, {"unknown", "x", true}, {"unknown", "1", false},
		{"3.11.2", "<*", false}, {"3.11.2", ">=*", true},
	}
	for _, tt := range tests {
		if got := versionMatches(tt.version, tt.selector); got != tt.want {
			t.Errorf("versionMatches(%q, %q) = %v, want %v", tt.version, tt.selector, got, tt.want)
		}
	}
}

func TestPistonFilesAndEncodings(t *testing.T) {
	a := newPistonAPI(t)
	body := `{"language":"python","version":"*","files":[` +
		`{"name":"main.py","content":"import util"},` +
		`{"name":"util.py","content":"X = 1"},` +
		`{"name":"data.bin","content":"AAEC/w==","encoding":"base64"},` +
		`{"name":"raw.b64","content":"AAEC_w","encoding":"base64"},` +
		`{"name":"wrapped.txt","content":"aGVs\nbG8=\n","encoding":"base64"},` +
		`{"content":"00ff10","encoding":"hex"}]}`
	w := a.piston(body)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	calls := a.svc.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	if calls[0].Code != "import util" {
		t.Errorf("code %q", calls[0].Code)
	}
	want := []wire.File{
		{Name: "data.bin", Content: []byte{0, 1, 2, 0xff}},
		{Name: "file5.code", Content: []byte{0, 0xff, 0x10}},
		{Name: "raw.b64", Content: []byte{0, 1, 2, 0xff}},
		{Name: "util.py", Content: []byte("X = 1")},
		{Name: "wrapped.txt", Content: []byte("hello")},
	}
	if !reflect.DeepEqual(calls[0].Files, want) {
		t.Errorf("files\n got %+v\nwant %+v", calls[0].Files, want)
	}

	t.Run("the program is the first utf8 file", func(t *testing.T) {
		a := newPistonAPI(t)
		w := a.piston(`{"language":"py","version":"*","files":[{"name":"d.bin","content":"AA==","encoding":"base64"},{"content":"print(1)","encoding":"utf8"}]}`)
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body.String())
		}
		got := a.svc.calls()[0]
		if got.Code != "print(1)" || len(got.Files) != 1 || got.Files[0].Name != "d.bin" || string(got.Files[0].Content) != "\x00" {
			t.Errorf("request %+v", got)
		}
	})
	t.Run("stdin gets Piston's final newline once", func(t *testing.T) {
		a := newPistonAPI(t)
		for _, stdin := range []string{"a\nb", "a\nb\n"} {
			b, _ := json.Marshal(stdin)
			w := a.piston(`{"language":"py","version":"*","files":[{"content":"x"}],"stdin":` + string(b) + `}`)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		}
		calls := a.svc.calls()
		if string(calls[0].Stdin) != "a\nb\n" || string(calls[1].Stdin) != "a\nb\n" {
			t.Errorf("stdin %q and %q, want \"a\\nb\\n\" both", calls[0].Stdin, calls[1].Stdin)
		}
	})
}

func TestPistonTimeouts(t *testing.T) {
	tests := []struct {
		field string
		want  time.Duration
	}{
		{``, 30 * time.Second}, // the language's default
		{`,"run_timeout":null`, 30 * time.Second},
		{`,"run_timeout":0`, 30 * time.Second},
		{`,"run_timeout":250`, 250 * time.Millisecond},
		{`,"run_timeout":0.5`, time.Millisecond},
		{`,"run_timeout":1500.2`, 1501 * time.Millisecond},
		{`,"run_timeout":60000`, 60 * time.Second},
		{`,"run_timeout":3000,"compile_timeout":10000,"compile_cpu_time":5,"run_cpu_time":100,"compile_memory_limit":-1,"run_memory_limit":-1`, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(`{"language":"python","version":"*","files":[{"content":"x"}]` + tt.field + `}`)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
			if got := a.svc.calls()[0].Timeout; got != tt.want {
				t.Errorf("timeout %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPistonBadRequests(t *testing.T) {
	files := `"files":[{"content":"x"}]`
	tests := []struct {
		name, body, want string
	}{
		{"empty", ``, "request body is empty; send a JSON object"},
		{"not JSON", `{"language":`, "malformed JSON at byte 12: unexpected end of JSON input"},
		{"trailing data", `{"language":"python"} x`, "malformed JSON at byte 23: invalid character 'x' after top-level value"},
		{"array", `[]`, "request body must be a JSON object"},
		{"null", `null`, "request body must be a JSON object"},
		{"no language", `{"version":"*",` + files + `}`, "language is required as a string"},
		{"language not a string", `{"language":1,"version":"*",` + files + `}`, "language is required as a string"},
		{"no version", `{"language":"python",` + files + `}`, "version is required as a string"},
		{"version empty", `{"language":"python","version":"",` + files + `}`, "version is required as a string"},
		{"version a number", `{"language":"python","version":3,` + files + `}`, "version is required as a string"},
		{"no version, unknown language", `{"language":"cobol",` + files + `}`,
			`version is required as a string, and language "cobol" matches no runtime (see GET /api/v2/runtimes)`},
		{"no files", `{"language":"python","version":"*"}`, "files is required as an array"},
		{"files an object", `{"language":"python","version":"*","files":{"":"x"}}`, "files is required as an array"},
		{"file not an object", `{"language":"python","version":"*","files":["print(1)"]}`, "files[0] must be an object with a content string"},
		{"no content", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"a"}]}`, "files[1].content is required as a string"},
		{"content not a string", `{"language":"python","version":"*","files":[{"content":5}]}`, "files[0].content is required as a string"},
		{"name not a string", `{"language":"python","version":"*","files":[{"content":"x","name":7}]}`, "files[0].name must be a string"},
		{"unknown encoding", `{"language":"python","version":"*","files":[{"content":"x"},{"content":"x","encoding":"utf16"}]}`, "files[1].encoding must be utf8, base64 or hex"},
		{"encoding not a string", `{"language":"python","version":"*","files":[{"content":"x","encoding":true}]}`, "files[0].encoding must be utf8, base64 or hex"},
		{"no utf8 file", `{"language":"python","version":"*","files":[{"content":"AA==","encoding":"base64"}]}`, "files must include at least one utf8 encoded file"},
		{"no files at all", `{"language":"python","version":"*","files":[]}`, "files must include at least one utf8 encoded file"},
		{"bad base64", `{"language":"python","version":"*","files":[{"content":"x"},{"content":"%%%","encoding":"base64"}]}`, "files[1].content is not valid base64"},
		{"bad hex", `{"language":"python","version":"*","files":[{"content":"x"},{"content":"abc","encoding":"hex"}]}`, "files[1].content is not valid hex"},
		{"empty program", `{"language":"python","version":"*","files":[{"content":""}]}`, "files[0].content, the program, must not be empty"},
		{"bad file name", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"../etc/x","content":"y"}]}`, `file name "../etc/x": must not contain ".."`},
		{"bad program name", `{"language":"python","version":"*","files":[{"name":"/abs","content":"x"}]}`, `file name "/abs": must be relative, not absolute`},
		{"duplicate name", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"a.py","content":"1"},{"name":"a.py","content":"2"}]}`, `files[2].name "a.py" is given more than once`},
		{"default name taken", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"file2.code","content":"1"},{"content":"2"}]}`, `files[2].name "file2.code" is given more than once`},
		{"another file named like the entry", `{"language":"python","version":"*","files":[{"content":"x"},{"name":"main.py","content":"1"}]}`, `file name "main.py" is the entry file, which holds code; choose another name`},
		{"duplicate key", `{"language":"python","language":"bash","version":"*",` + files + `}`, `field "language" is given more than once`},
		{"duplicate key in a file", `{"language":"python","version":"*","files":[{"content":"x","content":"y"}]}`, `field "content" is given more than once`},
		{"run_timeout a string", `{"language":"python","version":"*",` + files + `,"run_timeout":"3000"}`, "If specified, run_timeout must be a number"},
		{"run_timeout over the max", `{"language":"python","version":"*",` + files + `,"run_timeout":60001}`, "run_timeout cannot exceed the configured limit of 60000"},
		{"run_timeout huge", `{"language":"python","version":"*",` + files + `,"run_timeout":1e400}`, "run_timeout cannot exceed the configured limit of 60000"},
		{"run_timeout negative", `{"language":"python","version":"*",` + files + `,"run_timeout":-1}`, "run_timeout must be non-negative"},
		{"compile_timeout a bool", `{"language":"python","version":"*",` + files + `,"compile_timeout":true}`, "If specified, compile_timeout must be a number"},
		{"run_memory_limit a string", `{"language":"python","version":"*",` + files + `,"run_memory_limit":"1G"}`, "If specified, run_memory_limit must be a number"},
		{"stdin not a string", `{"language":"python","version":"*",` + files + `,"stdin":["a"]}`, "stdin must be a string"},
		{"args not an array", `{"language":"python","version":"*",` + files + `,"args":"1 2"}`, "args must be an array of strings"},
		{"arg not a string", `{"language":"python","version":"*",` + files + `,"args":["1",2]}`, "args[1] must be a string"},
		{"arg with NUL", `{"language":"python","version":"*",` + files + `,"args":["a\u0000b"]}`, "args[0] must not contain NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(tt.body)
			checkHygiene(t, w)
			if got := pistonMessage(t, w, http.StatusBadRequest); got != tt.want {
				t.Errorf("message\n got %q\nwant %q", got, tt.want)
			}
			if len(a.svc.calls()) != 0 {
				t.Error("service called")
			}
			if !slices.Contains(a.rec.rejected, "invalid_request") {
				t.Errorf("rejected %v, want invalid_request", a.rec.rejected)
			}
		})
	}
}

// TestPistonLimits: each limit of testLimits is enforced as on /execute
// (the same values, at the same sizes), in Piston's shape.
func TestPistonLimits(t *testing.T) {
	lim := testLimits()
	body := func(code string, extra string) string {
		b, _ := json.Marshal(code)
		return `{"language":"python","version":"*","files":[{"content":` + string(b) + `}` + extra + `]` // files closed by extra's caller
	}
	filesN := func(n int) string {
		var sb strings.Builder
		for i := 1; i < n; i++ {
			fmt.Fprintf(&sb, `,{"name":"f%d.txt","content":"x"}`, i)
		}
		return sb.String()
	}
	args := func(n int) string {
		return `,"args":[` + strings.TrimSuffix(strings.Repeat(`"a",`, n), ",") + `]`
	}
	stdin := func(n int) string { return `,"stdin":"` + strings.Repeat("s", n) + `"` }
	tests := []struct {
		name, body string
		want       string // "" = accepted
	}{
		{"code at the limit", body(strings.Repeat("x", lim.CodeBytes), "") + "}", ""},
		{"code over the limit", body(strings.Repeat("x", lim.CodeBytes+1), "") + "}",
			fmt.Sprintf("code is %d bytes; the limit is %d bytes", lim.CodeBytes+1, lim.CodeBytes)},
		{"code and files over the limit", body(strings.Repeat("x", lim.CodeBytes), `,{"name":"a","content":"y"}`) + "}",
			fmt.Sprintf("code and files are %d bytes together; the limit is %d bytes", lim.CodeBytes+1, lim.CodeBytes)},
		// 4 bytes of base64 are 2 decoded: the limit counts what runs.
		{"decoded size counts", body(strings.Repeat("x", lim.CodeBytes-2), `,{"name":"a","content":"AAA=","encoding":"base64"}`) + "}", ""},
		{"files at the limit", body("x", filesN(lim.MaxFiles+1)) + "}", ""},
		{"files over the limit", body("x", filesN(lim.MaxFiles+2)) + "}",
			fmt.Sprintf("at most %d files are accepted (the program and %d more), got %d", lim.MaxFiles+1, lim.MaxFiles, lim.MaxFiles+2)},
		{"args at the limit", body("x", "") + args(lim.MaxArgs) + "}", ""},
		{"args over the limit", body("x", "") + args(lim.MaxArgs+1) + "}",
			fmt.Sprintf("at most %d args are accepted, got %d", lim.MaxArgs, lim.MaxArgs+1)},
		{"stdin at the limit", body("x", "") + stdin(lim.StdinBytes) + "}", ""},
		{"stdin over the limit", body("x", "") + stdin(lim.StdinBytes+1) + "}",
			fmt.Sprintf("stdin is %d bytes; the limit is %d bytes", lim.StdinBytes+1, lim.StdinBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.piston(tt.body)
			if tt.want == "" {
				if w.Code != http.StatusOK {
					t.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
				return
			}
			if got := pistonMessage(t, w, http.StatusBadRequest); got != tt.want {
				t.Errorf("message\n got %q\nwant %q", got, tt.want)
			}
			// /execute refuses the same request with the same words.
			if len(a.svc.calls()) != 0 {
				t.Error("service called")
			}
		})
	}
}

func TestPistonContentTypes(t *testing.T) {
	body := pistonBody("python", "*", "x")
	for _, ct := range []string{"application/json", "text/plain", "text/plain;charset=UTF-8", "text/plain; charset=utf-8"} {
		t.Run(ct, func(t *testing.T) {
			a := newPistonAPI(t)
			if w := a.do(http.MethodPost, "/api/v2/execute", body, http.Header{"Content-Type": {ct}}, ""); w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body.String())
			}
		})
	}
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain; charset=latin1"} {
		t.Run("refused "+ct, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.do(http.MethodPost, "/api/v2/execute", body, http.Header{"Content-Type": {ct}}, "")
			msg := pistonMessage(t, w, http.StatusUnsupportedMediaType)
			if !strings.HasPrefix(msg, "Content-Type") {
				t.Errorf("message %q", msg)
			}
		})
	}
	t.Run("text/plain stays refused on /execute", func(t *testing.T) {
		a := newPistonAPI(t)
		w := a.do(http.MethodPost, "/execute", okBody, http.Header{"Content-Type": {"text/plain"}}, "")
		if w.Code != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestPistonAuthAndRateLimit(t *testing.T) {
	const key = "test-key-0123456789"
	body := pistonBody("python", "*", "x")
	t.Run("keys are required", func(t *testing.T) {
		a := newPistonAPI(t, func(o *Options) { o.Auth = policy.Auth{Keys: []string{key}} })
		w := a.piston(body)
		if msg := pistonMessage(t, w, http.StatusUnauthorized); msg != errUnauthorized.message {
			t.Errorf("message %q", msg)
		}
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
		h := http.Header{"Content-Type": {"text/plain"}, "X-Api-Key": {key}}
		if w := a.do(http.MethodPost, "/api/v2/execute", body, h, ""); w.Code != http.StatusOK {
			t.Errorf("with the key: status %d", w.Code)
		}
		if w := a.get("/api/v2/runtimes"); w.Code != http.StatusOK {
			t.Errorf("runtimes without a key: %d, want 200 like /environments", w.Code)
		}
		if n := len(a.svc.calls()); n != 1 {
			t.Errorf("%d executions, want 1", n)
		}
	})
	t.Run("the rate limit is shared with /execute", func(t *testing.T) {
		rl := policy.RateLimit{Requests: 2, Window: time.Minute}
		a := newPistonAPI(t, func(o *Options) { o.Limiter = policy.NewLimiter(rl) })
		if w := a.post(okBody); w.Code != http.StatusOK {
			t.Fatalf("/execute: %d", w.Code)
		}
		if w := a.piston(body); w.Code != http.StatusOK {
			t.Fatalf("piston: %d", w.Code)
		}
		w := a.piston(body)
		if msg := pistonMessage(t, w, http.StatusTooManyRequests); msg != "rate limit exceeded; retry after the Retry-After delay" {
			t.Errorf("message %q", msg)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
		}
	})
	t.Run("capacity is a 503 with Retry-After", func(t *testing.T) {
		a := newPistonAPI(t)
		a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
			return dispatch.Outcome{}, fmt.Errorf("acquire: %w", dispatch.ErrCapacity)
		})
		w := a.piston(body)
		if msg := pistonMessage(t, w, http.StatusServiceUnavailable); msg != "no sandbox became free in time; retry shortly" {
			t.Errorf("message %q", msg)
		}
		if w.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q, want 1", w.Header().Get("Retry-After"))
		}
	})
	t.Run("a runner refusal is a 400", func(t *testing.T) {
		a := newPistonAPI(t)
		a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
			return dispatch.Outcome{}, fmt.Errorf("%w: file name clash", dispatch.ErrRejected)
		})
		if msg := pistonMessage(t, a.piston(body), http.StatusBadRequest); !strings.Contains(msg, "file name clash") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("draining", func(t *testing.T) {
		a := newPistonAPI(t, func(o *Options) { o.Draining = func() bool { return true } })
		if msg := pistonMessage(t, a.piston(body), http.StatusServiceUnavailable); msg != errDraining.message {
			t.Errorf("message %q", msg)
		}
	})
}

func TestPistonRouting(t *testing.T) {
	a := newPistonAPI(t)
	if w := a.get("/api/v2/execute"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "OPTIONS, POST" {
		t.Errorf("GET /api/v2/execute: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := a.get("/api/v2/packages"); w.Code != http.StatusNotFound {
		t.Errorf("/api/v2/packages: %d, want 404", w.Code)
	}
	w := a.get("/docs")
	for _, p := range []string{`"/api/v2/runtimes"`, `"/api/v2/execute"`} {
		if !strings.Contains(w.Body.String(), p) {
			t.Errorf("/docs lacks %s", p)
		}
	}
}
