package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/runner/wire"
)

func TestExecuteBadRequests(t *testing.T) {
	manyFiles := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`"f%d.txt":"x"`, i)
		}
		return `{"code":"x","environment":"python","files":{` + strings.Join(parts, ",") + `}}`
	}
	file := func(name string) string {
		b, _ := json.Marshal(name)
		return `{"code":"x","environment":"python","files":{` + string(b) + `:"x"}}`
	}
	tests := []struct {
		name      string
		body      string
		want      int
		wantCode  string
		wantField string // "" = not checked
	}{
		// Not one JSON object.
		{"empty body", ``, 400, "invalid_json", ""},
		{"truncated", `{"code":"print(1)","environment":"python"`, 400, "invalid_json", ""},
		{"single quotes", `{'code':'x'}`, 400, "invalid_json", ""},
		{"trailing comma", `{"code":"x","environment":"python",}`, 400, "invalid_json", ""},
		{"two objects", `{"code":"x","environment":"python"}{"code":"y"}`, 400, "invalid_json", ""},
		{"trailing garbage", `{"code":"x","environment":"python"} x`, 400, "invalid_json", ""},
		{"BOM prefix", "\xef\xbb\xbf{\"code\":\"x\",\"environment\":\"python\"}", 400, "invalid_json", ""},
		{"raw NUL in a string", "{\"code\":\"a\x00b\",\"environment\":\"python\"}", 400, "invalid_json", ""},
		{"array", `[1,2]`, 400, "invalid_json", ""},
		{"null", `null`, 400, "invalid_json", ""},
		{"string", `"code"`, 400, "invalid_json", ""},
		{"deeply nested arrays", strings.Repeat("[", 10000), 400, "invalid_json", ""},
		{"deeply nested under a field", `{"code":"x","files":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 400, "invalid_json", ""},
		{"deeply nested under unknown key", `{"x":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat("}", 20000) + `}`, 400, "invalid_json", ""},

		// Keys.
		{"unknown field", `{"code":"x","environment":"python","privileged":true}`, 422, "unknown_field", "privileged"},
		{"mass assignment", `{"code":"x","environment":"python","image":"alpine","network":"host"}`, 422, "unknown_field", ""},
		{"case-variant key", `{"code":"x","environment":"python","Environment":"bash"}`, 422, "unknown_field", "Environment"},
		{"case-variant only", `{"CODE":"x","environment":"python"}`, 422, "unknown_field", "CODE"},
		{"kelvin sign folds in encoding/json", "{\"code\":\"x\",\"environment\":\"python\",\"\u212aey\":1}", 422, "unknown_field", ""},
		{"duplicate key", `{"code":"x","environment":"python","timeout":5,"timeout":1000000000}`, 422, "duplicate_key", "timeout"},
		{"duplicate environment", `{"code":"x","environment":"python","environment":"bash"}`, 422, "duplicate_key", "environment"},
		{"duplicate file", `{"code":"x","environment":"python","files":{"a.py":"1","a.py":"2"}}`, 422, "duplicate_file_name", "files"},

		// Environment.
		{"no environment", `{"code":"x"}`, 422, "unknown_environment", "environment"},
		{"unknown environment", `{"code":"x","environment":"ruby"}`, 422, "unknown_environment", "environment"},
		{"wrong case environment", `{"code":"x","environment":"Python"}`, 422, "unknown_environment", "environment"},
		{"padded environment", `{"code":"x","environment":" python"}`, 422, "unknown_environment", "environment"},
		{"cyrillic o", `{"code":"x","environment":"pyth\u043en"}`, 422, "unknown_environment", "environment"},
		{"NUL in environment", `{"code":"x","environment":"python\u0000"}`, 422, "unknown_environment", "environment"},
		{"path environment", `{"code":"x","environment":"../python"}`, 422, "unknown_environment", "environment"},
		{"image environment", `{"code":"x","environment":"alpine:latest"}`, 422, "unknown_environment", "environment"},
		{"environment not a string", `{"code":"x","environment":1}`, 422, "invalid_request", "environment"},

		// Code.
		{"missing code", `{"environment":"python"}`, 422, "invalid_request", "code"},
		{"empty code", `{"code":"","environment":"python"}`, 422, "invalid_request", "code"},
		{"code too large", `{"code":"` + strings.Repeat("x", 4097) + `","environment":"python"}`, 422, "invalid_request", "code"},
		{"code too large in bytes not runes", `{"code":"` + strings.Repeat("😀", 1025) + `","environment":"python"}`, 422, "invalid_request", "code"},
		{"code plus files too large", `{"code":"` + strings.Repeat("x", 3000) + `","environment":"python","files":{"a.txt":"` + strings.Repeat("y", 1100) + `"}}`, 422, "invalid_request", "code"},
		{"code not a string", `{"code":["x"],"environment":"python"}`, 422, "invalid_request", "code"},

		// Timeout.
		{"timeout 0", `{"code":"x","environment":"python","timeout":0}`, 422, "invalid_request", "timeout"},
		{"timeout 61", `{"code":"x","environment":"python","timeout":61}`, 422, "invalid_request", "timeout"},
		{"timeout -1", `{"code":"x","environment":"python","timeout":-1}`, 422, "invalid_request", "timeout"},
		{"timeout huge", `{"code":"x","environment":"python","timeout":1000000000000}`, 422, "invalid_request", "timeout"},
		{"timeout beyond int64", `{"code":"x","environment":"python","timeout":99999999999999999999}`, 422, "invalid_request", "timeout"},
		{"timeout string", `{"code":"x","environment":"python","timeout":"5"}`, 422, "invalid_request", "timeout"},
		{"timeout 1e309", `{"code":"x","environment":"python","timeout":1e309}`, 422, "invalid_request", "timeout"},
		{"timeout 1.5", `{"code":"x","environment":"python","timeout":1.5}`, 422, "invalid_request", "timeout"},
		{"timeout bool", `{"code":"x","environment":"python","timeout":true}`, 422, "invalid_request", "timeout"},
		{"timeout array", `{"code":"x","environment":"python","timeout":[]}`, 422, "invalid_request", "timeout"},
		{"timeout object", `{"code":"x","environment":"python","timeout":{}}`, 422, "invalid_request", "timeout"},

		// Stdin and args.
		{"stdin too large", `{"code":"x","environment":"python","stdin":"` + strings.Repeat("s", 1025) + `"}`, 422, "invalid_request", "stdin"},
		{"too many args", `{"code":"x","environment":"python","args":["1","2","3","4"]}`, 422, "invalid_request", "args"},
		{"arg with NUL", `{"code":"x","environment":"python","args":["a\u0000b"]}`, 422, "invalid_request", "args[0]"},
		{"args not strings", `{"code":"x","environment":"python","args":[1]}`, 422, "invalid_request", "args"},

		// Files.
		{"too many files", manyFiles(6), 422, "invalid_request", "files"},
		{"1000 files", manyFiles(1000), 422, "invalid_request", "files"},
		{"dot-dot", file("../x.py"), 422, "invalid_request", "files"},
		{"inner dot-dot", file("a/../../x.py"), 422, "invalid_request", "files"},
		{"just dot-dot", file(".."), 422, "invalid_request", "files"},
		{"dot", file("."), 422, "invalid_request", "files"},
		{"empty name", file(""), 422, "invalid_request", "files"},
		{"absolute", file("/etc/passwd"), 422, "invalid_request", "files"},
		{"backslash", file(`a\..\..\b`), 422, "invalid_request", "files"},
		{"NUL in name", file("a\x00b"), 422, "invalid_request", "files"},
		{"newline in name", file("a\nb"), 422, "invalid_request", "files"},
		{"escape in name", file("a\x1bb"), 422, "invalid_request", "files"},
		{"long component", file(strings.Repeat("a", 256)), 422, "invalid_request", "files"},
		{"long name", file(strings.Repeat("a/", 600) + "b"), 422, "invalid_request", "files"},
		{"entry file", file("main.py"), 422, "invalid_request", "files"},
		{"under the entry file", file("main.py/x"), 422, "invalid_request", "files"},
		{"file and directory", `{"code":"x","environment":"python","files":{"a":"1","a/b":"2"}}`, 422, "invalid_request", "files"},
		{"file content not a string", `{"code":"x","environment":"python","files":{"a":1}}`, 422, "invalid_request", "files"},
		{"files an array of non-objects", `{"code":"x","environment":"python","files":["a"]}`, 422, "invalid_request", "files[0]"},
		{"files a string", `{"code":"x","environment":"python","files":"a"}`, 422, "invalid_request", "files"},
		{"file entry without content", `{"code":"x","environment":"python","files":[{"name":"a"}]}`, 422, "invalid_request", "files[0]"},
		{"file entry with an unknown key", `{"code":"x","environment":"python","files":[{"name":"a","content":"","mode":"x"}]}`, 422, "invalid_request", "files[0]"},
		{"bad base64", `{"code":"x","environment":"python","files":[{"name":"a","content":"@@","encoding":"base64"}]}`, 422, "invalid_request", "files[0].content"},
		{"unknown encoding", `{"code":"x","environment":"python","files":[{"name":"a","content":"x","encoding":"hex"}]}`, 422, "invalid_request", "files[0].encoding"},
		{"file name twice in the array", `{"code":"x","environment":"python","files":[{"name":"a","content":"1"},{"name":"a","content":"2"}]}`, 422, "invalid_request", "files"},
		{"bad name in the array", `{"code":"x","environment":"python","files":[{"name":"../a","content":"1"}]}`, 422, "invalid_request", "files"},
		{"return pattern leaving the work dir", `{"code":"x","environment":"python","return_files":["../*"]}`, 422, "invalid_request", "return_files[0]"},
		{"return pattern malformed", `{"code":"x","environment":"python","return_files":["[a"]}`, 422, "invalid_request", "return_files[0]"},
		{"return pattern absolute", `{"code":"x","environment":"python","return_files":["/etc/*"]}`, 422, "invalid_request", "return_files[0]"},
		{"return_files not strings", `{"code":"x","environment":"python","return_files":[1]}`, 422, "invalid_request", "return_files"},
		{"too many return patterns", `{"code":"x","environment":"python","return_files":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`, 422, "invalid_request", "return_files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			w := a.post(tt.body)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			checkHygiene(t, w)
			if code := errorCode(t, w); code != tt.wantCode {
				t.Errorf("code %q, want %q: %s", code, tt.wantCode, w.Body.String())
			}
			e := decode(t, w)["error"].(map[string]any)
			if tt.wantField != "" && e["field"] != tt.wantField {
				t.Errorf("field %v, want %q", e["field"], tt.wantField)
			}
			if tt.wantField == "timeout" && tt.wantCode == "invalid_request" && !strings.Contains(e["message"].(string), "from 1 to 60 seconds") {
				t.Errorf("timeout message %q does not give the range", e["message"])
			}
			if len(e["message"].(string)) > 400 {
				t.Errorf("message is %d bytes; input must not be echoed at length", len(e["message"].(string)))
			}
			if n := len(a.svc.calls()); n != 0 {
				t.Errorf("Execute called %d times for a bad request", n)
			}
		})
	}
}

func TestExecuteUnknownEnvironmentListsServed(t *testing.T) {
	a := newAPI(t)
	w := a.post(`{"code":"x","environment":"ruby"}`)
	e := decode(t, w)["error"].(map[string]any)
	if !strings.Contains(e["message"].(string), "bash, node, python") {
		t.Errorf("message %q does not list the served languages", e["message"])
	}
	if s, _ := e["supported"].([]any); len(s) != 3 {
		t.Errorf("supported = %v", e["supported"])
	}
}

func TestExecuteAcceptedEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, r dispatch.Request)
	}{
		{"invalid UTF-8 in code is replaced", "{\"code\":\"a\xff\",\"environment\":\"python\"}", func(t *testing.T, r dispatch.Request) {
			if r.Code != "a\uFFFD" {
				t.Errorf("code %q, want a\\uFFFD", r.Code)
			}
		}},
		{"escaped NUL in code passes byte-exact", `{"code":"print(1)\u0000import os","environment":"python"}`, func(t *testing.T, r dispatch.Request) {
			if r.Code != "print(1)\x00import os" {
				t.Errorf("code %q", r.Code)
			}
		}},
		{"whitespace-only code runs", `{"code":"   \n","environment":"python"}`, nil},
		{"timeout 1", `{"code":"x","environment":"python","timeout":1}`, nil},
		{"timeout 60", `{"code":"x","environment":"python","timeout":60}`, nil},
		{"code at the byte limit", `{"code":"` + strings.Repeat("x", 4096) + `","environment":"python"}`, nil},
		{"max files", `{"code":"x","environment":"python","files":{"a":"","b":"","c":"","d":"","e":""}}`, nil},
		{"nested file", `{"code":"x","environment":"python","files":{"pkg/mod/__init__.py":""}}`, nil},
		{"case differs from entry", `{"code":"x","environment":"python","files":{"Main.py":""}}`, nil},
		{"content-type with utf-8 charset", `{"code":"x","environment":"python"}`, nil},
		{"whitespace around the object", " \n\t{\"code\":\"x\",\"environment\":\"python\"}\n ", nil},
		{"null fields are defaults", `{"code":"x","environment":"python","stdin":null,"args":null,"files":null,"timeout":null}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			w := a.do(http.MethodPost, "/execute", tt.body, http.Header{"Content-Type": {"application/json; charset=UTF-8"}}, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", w.Code, w.Body.String())
			}
			if tt.check != nil {
				tt.check(t, a.svc.calls()[0])
			}
		})
	}
}

// FuzzDecodeExecute feeds arbitrary bodies to the decoder and validator:
// they never panic, and whatever they accept is within the limits.
func FuzzDecodeExecute(f *testing.F) {
	for _, seed := range []string{
		`{"code":"print(1)","environment":"python"}`,
		`{"code":"x","environment":"python","timeout":5,"stdin":"s","args":["a"],"files":{"a.py":"1","d/b.py":"2"}}`,
		`{"code":"x","environment":"python","timeout":5,"timeout":6}`,
		`{"code":"x","environment":"python","files":{"../a":"1"}}`,
		`{"code":"x","Environment":"python"}`,
		`{"code":"x"} {}`,
		`[[[[`,
		`{"code":"\u0000","environment":"bash","timeout":1e309}`,
		"{\"code\":\"\xff\",\"environment\":\"node\"}",
	} {
		f.Add([]byte(seed))
	}
	svc := newFakeService()
	f.Fuzz(func(t *testing.T, body []byte) {
		q, e := decodeExecute(body)
		if e != nil {
			if e.status < 400 || e.status > 499 || e.code == "" {
				t.Fatalf("decode error with status %d code %q", e.status, e.code)
			}
			return
		}
		lang, ok := svc.Limits(q.Environment)
		if !ok {
			return
		}
		req, e := q.validate(lang)
		if e != nil {
			if e.status != 422 {
				t.Fatalf("validation error with status %d", e.status)
			}
			return
		}
		lim := lang.Limits
		total := len(req.Code)
		for _, f := range req.Files {
			total += len(f.Content)
			if err := wire.ValidateFileName(f.Name); err != nil || f.Name == lang.File {
				t.Fatalf("accepted file name %q", f.Name)
			}
		}
		switch {
		case req.Code == "":
			t.Fatal("accepted empty code")
		case total > lim.CodeBytes:
			t.Fatalf("accepted %d bytes of code and files", total)
		case req.Timeout < 1e9 || req.Timeout > lim.MaxTimeout:
			t.Fatalf("accepted timeout %v", req.Timeout)
		case len(req.Stdin) > lim.StdinBytes:
			t.Fatalf("accepted %d bytes of stdin", len(req.Stdin))
		case len(req.Files) > lim.MaxFiles:
			t.Fatalf("accepted %d files", len(req.Files))
		case len(req.Args) > lim.MaxArgs:
			t.Fatalf("accepted %d args", len(req.Args))
		case req.Language != q.Environment:
			t.Fatalf("language %q from environment %q", req.Language, q.Environment)
		case !utf8.ValidString(req.Code):
			t.Fatal("accepted code that is not valid UTF-8")
		}
	})
}
