package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// codapiHeader is what the @antonz/codapi widget sends.
var codapiHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}

func (a *testAPI) codapi(body string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do(http.MethodPost, "/v1/exec", body, codapiHeader, "")
}

// codapiBody is what the widget sends for a snippet.
func codapiBody(sandbox, code string) string {
	b, _ := json.Marshal(map[string]any{"sandbox": sandbox, "version": "", "command": "run", "files": map[string]string{"": code}})
	return string(b)
}

// codapiResult decodes an answer, checking it has exactly codapi's five
// fields with their types.
func codapiResult(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body.String())
	}
	m := decode(t, w)
	checkTypes(t, "codapi", m, map[string]string{"id": "string", "ok": "bool", "duration": "int", "stdout": "string", "stderr": "string"})
	if len(m) != 5 {
		t.Errorf("answer has %d fields, want 5: %s", len(m), w.Body.String())
	}
	return m
}

func TestCodapiExecAnswer(t *testing.T) {
	a := newPistonAPI(t)
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("  hello\n\n"), Stderr: []byte("warn\n"), WallMs: 12.6}}}, nil
	})
	w := a.codapi(codapiBody("python", "print('hello')"))
	m := codapiResult(t, w, http.StatusOK)
	checkHygiene(t, w)
	want := map[string]any{"id": "python_run_" + w.Header().Get("X-Request-Id"), "ok": true, "duration": 13.0,
		"stdout": "hello", "stderr": "warn"}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("answer\n got %v\nwant %v", m, want)
	}
	calls := a.svc.calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	wantReq := dispatch.Request{Language: "python", Code: "print('hello')", Timeout: 30 * time.Second, Files: []wire.File{}}
	if !reflect.DeepEqual(calls[0], wantReq) {
		t.Errorf("request\n got %+v\nwant %+v", calls[0], wantReq)
	}
}

func TestCodapiOutcomes(t *testing.T) {
	tests := []struct {
		name           string
		res            wire.Result
		ok             bool
		stdout, stderr string
	}{
		{"success with nothing printed", wire.Result{}, true, "", ""},
		{"exit status with both streams", wire.Result{Stage: wire.Stage{ExitCode: 1, Stdout: []byte("partial\n"), Stderr: []byte("Traceback\n")}}, false, "", "partial\nTraceback (exit status 1)"},
		{"exit status alone", wire.Result{Stage: wire.Stage{ExitCode: 2}}, false, "", "exit status 2"},
		{"timeout", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stdout: []byte("tick\n")}}, false, "", "code execution timeout"},
		{"signal", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGSEGV", Stderr: []byte("oops")}}, false, "", "oops (killed by signal SIGSEGV)"},
		{"out of memory", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL"}, OOMKilled: true}, false, "", "killed: out of memory"},
		{"truncated", wire.Result{Stage: wire.Stage{Stdout: []byte("aaaa"), StdoutTruncated: true}}, true, "aaaa\n[output truncated]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newPistonAPI(t)
			a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
				return dispatch.Outcome{Result: tt.res}, nil
			})
			m := codapiResult(t, a.codapi(codapiBody("python", "x")), http.StatusOK)
			if m["ok"] != tt.ok || m["stdout"] != tt.stdout || m["stderr"] != tt.stderr {
				t.Errorf("ok %v stdout %q stderr %q, want %v %q %q", m["ok"], m["stdout"], m["stderr"], tt.ok, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestCodapiSandboxes(t *testing.T) {
	for sandbox, lang := range map[string]string{"python": "python", "javascript": "node", "node": "node", "bash": "bash", "sh": "bash"} {
		t.Run(sandbox, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.codapi(codapiBody(sandbox, "x"))
			m := codapiResult(t, w, http.StatusOK)
			if want := sandbox + "_run_" + w.Header().Get("X-Request-Id"); m["id"] != want {
				t.Errorf("id %v, want %s", m["id"], want)
			}
			if calls := a.svc.calls(); len(calls) != 1 || calls[0].Language != lang {
				t.Errorf("service got %+v, want %s", calls, lang)
			}
		})
	}
	versions := []struct {
		version string
		served  bool
	}{{"", true}, {"latest", true}, {"3", true}, {"3.11", true}, {"3.11.2", true}, {"3.12", false}, {"2.7", false}}
	for _, v := range versions {
		t.Run("version "+v.version, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.codapi(`{"sandbox":"python","version":"` + v.version + `","command":"run","files":{"":"x"}}`)
			if v.served {
				m := codapiResult(t, w, http.StatusOK)
				if v.version != "" && m["id"] != "python."+v.version+"_run_"+w.Header().Get("X-Request-Id") {
					t.Errorf("id %v", m["id"])
				}
				return
			}
			m := codapiResult(t, w, http.StatusNotFound)
			want := fmt.Sprintf(`unknown version "%s" of sandbox "python"; served: "3.11.2"`, v.version)
			if m["stderr"] != want || m["ok"] != false || m["stdout"] != "" || m["duration"] != 0.0 {
				t.Errorf("answer %v, want stderr %q", m, want)
			}
		})
	}
}

func TestCodapiFiles(t *testing.T) {
	t.Run("extra files and the entry by name", func(t *testing.T) {
		a := newPistonAPI(t)
		w := a.codapi(`{"sandbox":"python","command":"run","files":{"main.py":"import util","util.py":"X = 1","data/x.txt":"d"}}`)
		codapiResult(t, w, http.StatusOK)
		got := a.svc.calls()[0]
		want := []wire.File{{Name: "data/x.txt", Content: []byte("d")}, {Name: "util.py", Content: []byte("X = 1")}}
		if got.Code != "import util" || !reflect.DeepEqual(got.Files, want) {
			t.Errorf("request %+v", got)
		}
	})
	lim := testLimits()
	many := func(n int) string {
		parts := []string{`"":"x"`}
		for i := 1; i < n; i++ {
			parts = append(parts, fmt.Sprintf(`"f%d.txt":"x"`, i))
		}
		return `{"sandbox":"python","command":"run","files":{` + strings.Join(parts, ",") + `}}`
	}
	t.Run("files at the limit", func(t *testing.T) {
		codapiResult(t, newPistonAPI(t).codapi(many(lim.MaxFiles+1)), http.StatusOK)
	})

	tests := []struct {
		name, body string
		status     int
		id         string // "-" or "python_run_" (followed by the request id)
		want       string
	}{
		{"not JSON", `{"sandbox":`, 400, "-", "malformed JSON at byte 11: unexpected end of JSON input"},
		{"empty body", ``, 400, "-", "request body is empty; send a JSON object"},
		{"array", `[1]`, 400, "-", "request body must be a JSON object"},
		{"sandbox not a string", `{"sandbox":1,"command":"run","files":{"":"x"}}`, 400, "-", "sandbox must be a string"},
		{"files not an object", `{"sandbox":"python","command":"run","files":["x"]}`, 400, "-", "files must be an object mapping file names to contents"},
		{"file not a string", `{"sandbox":"python","command":"run","files":{"":1}}`, 400, "-", `files[""] must be a string`},
		{"duplicate key", `{"sandbox":"python","sandbox":"bash","command":"run","files":{"":"x"}}`, 400, "-", `field "sandbox" is given more than once`},
		{"duplicate file", `{"sandbox":"python","command":"run","files":{"":"x","a":"1","a":"2"}}`, 400, "-", `file name "a" is given more than once`},
		{"unknown sandbox", `{"sandbox":"cobol","command":"run","files":{"":"x"}}`, 404, "cobol_run_", `unknown sandbox "cobol"; served: bash, javascript, node, python, sh`},
		{"no sandbox", `{"command":"run","files":{"":"x"}}`, 404, "_run_", `unknown sandbox ""; served: bash, javascript, node, python, sh`},
		{"unknown command", `{"sandbox":"python","command":"test","files":{"":"x"}}`, 404, "python_test_", `unknown command "test"; the only command is "run"`},
		{"no command", `{"sandbox":"python","files":{"":"x"}}`, 404, "python__", `unknown command ""; the only command is "run"`},
		{"no files", `{"sandbox":"python","command":"run"}`, 400, "python_run_", `empty request: the program (files[""]) is empty`},
		{"blank program", `{"sandbox":"python","command":"run","files":{"":"  \n"}}`, 400, "python_run_", `empty request: the program (files[""]) is empty`},
		{"no program among files", `{"sandbox":"python","command":"run","files":{"a.py":"x"}}`, 400, "python_run_", `files must hold the program under "" (or "main.py")`},
		{"program twice", `{"sandbox":"python","command":"run","files":{"":"x","main.py":"y"}}`, 400, "python_run_", `files holds the program twice, under "" and "main.py"; keep one`},
		{"bad file name", `{"sandbox":"python","command":"run","files":{"":"x","../a":"y"}}`, 400, "python_run_", `file name "../a": must not contain ".."`},
		{"too many files", many(lim.MaxFiles + 2), 400, "python_run_", fmt.Sprintf("at most %d files are accepted (the program and %d more), got %d", lim.MaxFiles+1, lim.MaxFiles, lim.MaxFiles+2)},
		{"code over the limit", codapiBody("python", strings.Repeat("x", lim.CodeBytes+1)), 400, "python_run_", fmt.Sprintf("code is %d bytes; the limit is %d bytes", lim.CodeBytes+1, lim.CodeBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newPistonAPI(t)
			w := a.codapi(tt.body)
			m := codapiResult(t, w, tt.status)
			checkHygiene(t, w)
			id := tt.id
			if id != "-" {
				id += w.Header().Get("X-Request-Id")
			}
			want := map[string]any{"id": id, "ok": false, "duration": 0.0, "stdout": "", "stderr": tt.want}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("answer\n got %v\nwant %v", m, want)
			}
			if len(a.svc.calls()) != 0 {
				t.Error("service called")
			}
		})
	}
}

func TestCodapiPipeline(t *testing.T) {
	body := codapiBody("python", "x")
	t.Run("text/plain is refused", func(t *testing.T) {
		a := newPistonAPI(t)
		w := a.do(http.MethodPost, "/v1/exec", body, http.Header{"Content-Type": {"text/plain"}}, "")
		if m := codapiResult(t, w, http.StatusUnsupportedMediaType); m["stderr"] != "Content-Type must be application/json" || m["id"] != "-" {
			t.Errorf("answer %v", m)
		}
	})
	t.Run("keys are required", func(t *testing.T) {
		const key = "test-key-0123456789"
		a := newPistonAPI(t, func(o *Options) { o.Auth = policy.Auth{Keys: []string{key}} })
		if m := codapiResult(t, a.codapi(body), http.StatusUnauthorized); m["stderr"] != errUnauthorized.message {
			t.Errorf("answer %v", m)
		}
		h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + key}}
		codapiResult(t, a.do(http.MethodPost, "/v1/exec", body, h, ""), http.StatusOK)
	})
	t.Run("rate limit", func(t *testing.T) {
		a := newPistonAPI(t, func(o *Options) { o.Limiter = policy.NewLimiter(policy.RateLimit{Requests: 1, Window: time.Minute}) })
		codapiResult(t, a.codapi(body), http.StatusOK)
		w := a.codapi(body)
		if m := codapiResult(t, w, http.StatusTooManyRequests); m["stderr"] != "rate limit exceeded; retry after the Retry-After delay" {
			t.Errorf("answer %v", m)
		}
		if w.Header().Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
	t.Run("body limit", func(t *testing.T) {
		a := newPistonAPI(t, func(o *Options) { o.MaxBodyBytes = 64 })
		w := a.codapi(codapiBody("python", strings.Repeat("x", 100)))
		if m := codapiResult(t, w, http.StatusRequestEntityTooLarge); m["stderr"] != "request body exceeds 64 bytes" {
			t.Errorf("answer %v", m)
		}
	})
	t.Run("capacity", func(t *testing.T) {
		a := newPistonAPI(t)
		a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
			return dispatch.Outcome{}, dispatch.ErrCapacity
		})
		w := a.codapi(body)
		m := codapiResult(t, w, http.StatusServiceUnavailable)
		if m["stderr"] != "no sandbox became free in time; retry shortly" || m["id"] != "python_run_"+w.Header().Get("X-Request-Id") {
			t.Errorf("answer %v", m)
		}
	})
}

func TestCodapiHealth(t *testing.T) {
	a := newPistonAPI(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if w := a.do(method, "/v1/health", "", nil, ""); w.Code != http.StatusOK || (method == http.MethodGet && w.Body.String() != `{"status":"ok"}`+"\n") {
			t.Errorf("%s /v1/health: %d %q", method, w.Code, w.Body.String())
		}
	}
	draining := newPistonAPI(t, func(o *Options) { o.Draining = func() bool { return true } })
	if w := draining.get("/v1/health"); w.Code != http.StatusServiceUnavailable || w.Body.String() != `{"status":"shutting_down"}`+"\n" {
		t.Errorf("draining: %d %q", w.Code, w.Body.String())
	}
	if w := a.get("/v1/exec"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "OPTIONS, POST" {
		t.Errorf("GET /v1/exec: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

// TestCodapiCORS: the widget on another origin gets its preflight for
// POST /v1/exec (it sends content-type: application/json) and can read
// the answers and the health probe.
func TestCodapiCORS(t *testing.T) {
	const origin = "http://127.0.0.1:18090"
	a := newPistonAPI(t, func(o *Options) { o.CORSOrigins = []string{origin} })
	pre := a.do(http.MethodOptions, "/v1/exec", "", http.Header{"Origin": {origin},
		"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"accept,content-type"}}, "")
	h := pre.Header()
	if pre.Code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Fatalf("preflight: %d %v", pre.Code, h)
	}
	hdr := codapiHeader.Clone()
	hdr.Set("Origin", origin)
	if w := a.do(http.MethodPost, "/v1/exec", codapiBody("python", "x"), hdr, ""); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("exec: %d Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if w := a.do(http.MethodHead, "/v1/health", "", http.Header{"Origin": {origin}}, ""); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("health probe: %d Allow-Origin %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	other := a.do(http.MethodOptions, "/v1/exec", "", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}, "")
	if other.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin is allowed: %v", other.Header())
	}
	// Piston's client is not a browser's, but a page may call Piston too.
	pre = a.do(http.MethodOptions, "/api/v2/execute", "", http.Header{"Origin": {origin}, "Access-Control-Request-Method": {"POST"}}, "")
	if pre.Code != http.StatusNoContent || pre.Header().Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("piston preflight: %d %v", pre.Code, pre.Header())
	}
}
