package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeService is a Service with canned languages and a scripted Execute.
type fakeService struct {
	mu       sync.Mutex
	langs    []dispatch.Info
	health   []dispatch.LanguageHealth
	stats    []pool.Stats
	run      func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error)
	requests []dispatch.Request
	deadline []time.Duration // time left on each Execute ctx
	sessions fakeSessions
}

func testLimits() policy.Limits {
	l := policy.DefaultLimits()
	l.CodeBytes = 4096
	l.StdinBytes = 1024
	l.MaxFiles = 5
	l.MaxArgs = 3
	return l
}

func newFakeService() *fakeService {
	lang := func(name, image, file string) dispatch.Info {
		return dispatch.Info{Language: dispatch.Language{
			Name: name, Image: image, Handoff: "exec", Command: []string{name}, File: file,
			Limits: testLimits(),
		}, Version: "1.0"}
	}
	f := &fakeService{
		langs: []dispatch.Info{
			lang("bash", "warmbox/bash:test", "main.sh"),
			lang("node", "warmbox/node:test", "main.js"),
			lang("python", "warmbox/python:test", "main.py"),
		},
	}
	for _, l := range f.langs {
		f.health = append(f.health, dispatch.LanguageHealth{Name: l.Name, Ready: true, Idle: 2, Busy: 1, Target: 2})
		f.stats = append(f.stats, pool.Stats{
			Name: l.Name, Idle: 2, Busy: 1, Creating: 1, Target: 2, MinIdle: 2, MaxSize: 8, MaxUses: 1,
			Acquired: 10, Created: 13, Destroyed: map[pool.DestroyReason]uint64{pool.ReasonUsed: 9},
		})
	}
	f.run = func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{
			Result:  wire.Result{Stage: wire.Stage{Stdout: []byte("hello\n"), WallMs: 12.3456, CPUTimeMs: 5, MemoryPeakKB: 9000}},
			Acquire: time.Millisecond, Run: 15 * time.Millisecond, SandboxID: "0123456789abcdef",
		}, nil
	}
	return f
}

func (f *fakeService) Execute(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	if d, ok := ctx.Deadline(); ok {
		f.deadline = append(f.deadline, time.Until(d))
	} else {
		f.deadline = append(f.deadline, -1)
	}
	run := f.run
	f.mu.Unlock()
	return run(ctx, req)
}

func (f *fakeService) Languages() []dispatch.Info { return f.langs }

func (f *fakeService) Limits(language string) (dispatch.Language, bool) {
	for _, l := range f.langs {
		if l.Name == language {
			return l.Language, true
		}
	}
	return dispatch.Language{}, false
}

func (f *fakeService) Stats() []pool.Stats               { return f.stats }
func (f *fakeService) Health() []dispatch.LanguageHealth { return f.health }

func (f *fakeService) calls() []dispatch.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]dispatch.Request(nil), f.requests...)
}

func (f *fakeService) setRun(run func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run = run
}

// fakeRecorder records what the API reports.
type fakeRecorder struct {
	mu         sync.Mutex
	executions []string // language/status
	rejected   []string
	waits      int
}

func (r *fakeRecorder) Execution(language, status string, _ time.Duration, _ context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.executions = append(r.executions, language+"/"+status)
}

func (r *fakeRecorder) Rejected(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected = append(r.rejected, reason)
}

func (r *fakeRecorder) AcquireWait(string, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits++
}

// testAPI is a handler under test and its fakes.
type testAPI struct {
	t   *testing.T
	h   http.Handler
	svc *fakeService
	rec *fakeRecorder
}

func newAPI(t *testing.T, configure ...func(*Options)) *testAPI {
	t.Helper()
	svc := newFakeService()
	rec := &fakeRecorder{}
	opts := Options{
		Service:  svc,
		Recorder: rec,
		Version:  "test",
		Logger:   slog.New(slog.DiscardHandler),
	}
	for _, c := range configure {
		c(&opts)
	}
	return &testAPI{t: t, h: New(opts), svc: svc, rec: rec}
}

// do serves one request in-process; remote is the peer ("ip:port").
func (a *testAPI) do(method, target, body string, header http.Header, remote string) *httptest.ResponseRecorder {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if remote != "" {
		req.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	return w
}

func (a *testAPI) get(target string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do(http.MethodGet, target, "", nil, "")
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

func (a *testAPI) post(body string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do(http.MethodPost, "/execute", body, jsonHeader, "")
}

// decode parses a JSON object response.
func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, w.Body.String())
	}
	return m
}

// checkTypes checks that obj has every field of want with its JSON type:
// string, number, int, bool, object, array, null, or alternatives such as
// "string|null".
func checkTypes(t *testing.T, where string, obj map[string]any, want map[string]string) {
	t.Helper()
	for field, kinds := range want {
		v, ok := obj[field]
		if !ok {
			t.Errorf("%s: field %q missing", where, field)
			continue
		}
		got := kindOf(v)
		match := false
		for _, k := range strings.Split(kinds, "|") {
			if k == got || (k == "number" && got == "int") {
				match = true
			}
		}
		if !match {
			t.Errorf("%s: field %q is %s (%v), want %s", where, field, got, v, kinds)
		}
	}
}

func kindOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64:
		if x == math.Trunc(x) {
			return "int"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// errorCode returns the error code of an error response, checking its
// shape.
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	m := decode(t, w)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", w.Body.String())
	}
	checkTypes(t, "error", e, map[string]string{"code": "string", "message": "string"})
	code, _ := e["code"].(string)
	return code
}

func checkHygiene(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	h := w.Header()
	for k, want := range map[string]string{
		"Content-Type":           "application/json",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if h.Get("Server") != "" {
		t.Errorf("Server header %q, want none", h.Get("Server"))
	}
	if h.Get("X-Request-Id") == "" {
		t.Error("X-Request-Id missing")
	}
}

func httpRequest(t *testing.T, ctx context.Context, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/execute", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
