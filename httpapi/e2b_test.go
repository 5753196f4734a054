package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// e2bCreate creates an E2B sandbox through the API and returns its body.
func (a *testAPI) e2bCreate() map[string]any {
	a.t.Helper()
	rec := a.do(http.MethodPost, "/e2b/v2/sandboxes", `{"templateID":"code-interpreter-v1"}`, jsonHeader, "")
	if rec.Code != http.StatusCreated {
		a.t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		a.t.Fatal(err)
	}
	return body
}

// e2bData sends a data-plane request for sandbox sb with its token.
func (a *testAPI) e2bData(method, target, body string, sb map[string]any) *httptest.ResponseRecorder {
	a.t.Helper()
	h := http.Header{"Content-Type": {"application/json"}, "E2b-Sandbox-Id": {str(sb["sandboxID"])},
		"E2b-Sandbox-Port": {"49999"}, "E2b-Traffic-Access-Token": {str(sb["trafficAccessToken"])}}
	return a.do(method, target, body, h, "")
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// ndjsonLines decodes an NDJSON body.
func ndjsonLines(t *testing.T, body string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestE2BCreateShape(t *testing.T) {
	a := newAPI(t)
	sb := a.e2bCreate()
	if !strings.HasPrefix(str(sb["sandboxID"]), "i") || sb["envdVersion"] != e2bEnvdVersion || sb["templateID"] != "code-interpreter-v1" ||
		str(sb["trafficAccessToken"]) == "" || sb["clientID"] == nil {
		t.Errorf("create answered %v", sb)
	}
	if _, ok := sb["envdAccessToken"]; ok {
		t.Error("create returned an envdAccessToken (the SDK would then send it to envd, which warmbox does not serve)")
	}
	if got := a.svc.Sessions(""); len(got) != 1 || got[0].Language != "python" {
		t.Errorf("sessions after create: %+v, want the default python context's", got)
	}
}

func TestE2BExecuteStream(t *testing.T) {
	a := newAPI(t)
	value := "42"
	a.svc.setRun(func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		if req.OnOutput != nil {
			req.OnOutput("stdout", []byte("out\n"))
		}
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("out\n")}, Value: &value}}, nil
	})
	sb := a.e2bCreate()
	rec := a.e2bData(http.MethodPost, "/e2b/execute", `{"code":"x + 22"}`, sb)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("execute: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	lines := ndjsonLines(t, rec.Body.String())
	var types []string
	for _, l := range lines {
		types = append(types, str(l["type"]))
	}
	if strings.Join(types, ",") != "number_of_executions,stdout,result,end_of_execution" {
		t.Fatalf("line types %v", types)
	}
	if lines[0]["execution_count"] != 1.0 || lines[1]["text"] != "out\n" || lines[2]["text"] != "42" || lines[2]["is_main_result"] != true {
		t.Errorf("lines %v", lines)
	}

	exception := &wire.Exception{Name: "ZeroDivisionError", Value: "division by zero", Traceback: "tb"}
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{ExitCode: 1}, Exception: exception}}, nil
	})
	lines = ndjsonLines(t, a.e2bData(http.MethodPost, "/e2b/execute", `{"code":"1/0"}`, sb).Body.String())
	if len(lines) != 3 || lines[1]["type"] != "error" || lines[1]["name"] != "ZeroDivisionError" || lines[0]["execution_count"] != 2.0 {
		t.Errorf("an error's lines: %v", lines)
	}
}

func TestE2BDataPlaneToken(t *testing.T) {
	a := newAPI(t)
	sb := a.e2bCreate()
	h := http.Header{"Content-Type": {"application/json"}, "E2b-Sandbox-Id": {str(sb["sandboxID"])}, "E2b-Sandbox-Port": {"49999"}}
	for _, token := range []string{"", "wrong"} {
		if token != "" {
			h.Set("E2b-Traffic-Access-Token", token)
		}
		if rec := a.do(http.MethodPost, "/e2b/execute", `{"code":"1"}`, h, ""); rec.Code != http.StatusForbidden {
			t.Errorf("execute with token %q: %d %s, want 403", token, rec.Code, rec.Body)
		}
		if rec := a.do(http.MethodGet, "/e2b/contexts", "", h, ""); rec.Code != http.StatusForbidden {
			t.Errorf("contexts with token %q: %d, want 403", token, rec.Code)
		}
	}
	if len(a.svc.calls()) != 0 {
		t.Errorf("code ran without the token: %d calls", len(a.svc.calls()))
	}
}

func TestE2BUnknownSandbox(t *testing.T) {
	a := newAPI(t)
	h := http.Header{"Content-Type": {"application/json"}, "E2b-Sandbox-Id": {"inope"}, "E2b-Sandbox-Port": {"49999"}}
	rec := a.do(http.MethodPost, "/e2b/execute", `{"code":"1"}`, h, "")
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), `"message":"The sandbox was not found","code":502`) {
		t.Errorf("execute in an unknown sandbox: %d %s, want E2B's 502", rec.Code, rec.Body)
	}
	if rec := a.do(http.MethodGet, "/e2b/health", "", http.Header{"E2b-Sandbox-Id": {"inope"}}, ""); rec.Code != http.StatusBadGateway {
		t.Errorf("envd health of an unknown sandbox: %d, want 502", rec.Code)
	}
	if rec := a.do(http.MethodDelete, "/e2b/sandboxes/inope", "", nil, ""); rec.Code != http.StatusNotFound ||
		!strings.Contains(rec.Body.String(), `"code":404`) {
		t.Errorf("kill of an unknown sandbox: %d %s, want 404 with code 404 in the body", rec.Code, rec.Body)
	}
}

func TestE2BLifecycle(t *testing.T) {
	a := newAPI(t)
	sb := a.e2bCreate()
	id := str(sb["sandboxID"])
	if rec := a.do(http.MethodPost, "/e2b/sandboxes/"+id+"/timeout", `{"timeout":60}`, jsonHeader, ""); rec.Code != http.StatusNoContent {
		t.Errorf("timeout: %d %s", rec.Code, rec.Body)
	}
	if rec := a.do(http.MethodPost, "/e2b/v2/sandboxes/"+id+"/connect", `{}`, jsonHeader, ""); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), str(sb["trafficAccessToken"])) {
		t.Errorf("connect: %d %s, want 200 with the same token", rec.Code, rec.Body)
	}
	rec := a.e2bData(http.MethodPost, "/e2b/contexts", `{"language":"javascript"}`, sb)
	var ctx map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &ctx); rec.Code != http.StatusOK || err != nil || ctx["language"] != "javascript" || ctx["cwd"] != "/tmp" {
		t.Fatalf("create context: %d %s", rec.Code, rec.Body)
	}
	if rec := a.e2bData(http.MethodGet, "/e2b/contexts", "", sb); !strings.Contains(rec.Body.String(), str(ctx["id"])) {
		t.Errorf("contexts list lacks the new one: %s", rec.Body)
	}
	if rec := a.e2bData(http.MethodDelete, "/e2b/contexts/"+str(ctx["id"]), "", sb); rec.Code != http.StatusNoContent {
		t.Errorf("remove context: %d", rec.Code)
	}
	if rec := a.e2bData(http.MethodPost, "/e2b/execute", `{"code":"1","context_id":"`+str(ctx["id"])+`"}`, sb); rec.Code != http.StatusNotFound ||
		rec.Body.String() != "Context "+str(ctx["id"])+" not found" {
		t.Errorf("execute in a removed context: %d %q", rec.Code, rec.Body)
	}
	if rec := a.get("/e2b/v2/sandboxes"); !strings.Contains(rec.Body.String(), id) {
		t.Errorf("list lacks the sandbox: %s", rec.Body)
	}
	if rec := a.do(http.MethodDelete, "/e2b/sandboxes/"+id, "", nil, ""); rec.Code != http.StatusNoContent {
		t.Errorf("kill: %d", rec.Code)
	}
	if got := a.svc.Sessions(""); len(got) != 0 {
		t.Errorf("sessions after kill: %+v, want none", got)
	}
}

func TestE2BNeedsKeyOnControlPlane(t *testing.T) {
	a := newAPI(t, func(o *Options) { o.Auth = policy.Auth{Keys: []string{"k-0123456789abcdef"}} })
	rec := a.do(http.MethodPost, "/e2b/v2/sandboxes", `{}`, jsonHeader, "")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), `"code":401`) {
		t.Errorf("create without a key: %d %s, want 401 in E2B's shape", rec.Code, rec.Body)
	}
}

func TestE2BStreamsWholeCharactersAndTail(t *testing.T) {
	var e e2bStreams
	euro := []byte("€") // 3 bytes
	if got := e.add("stdout", append([]byte("a"), euro[:2]...)); got != "a" {
		t.Errorf("first chunk sent %q, want the whole characters only", got)
	}
	if got := e.add("stdout", append(euro[2:], 'b')); got != "€b" {
		t.Errorf("second chunk sent %q", got)
	}
	rest := e.rest([]byte("a€b tail\n"), []byte("err\n"))
	if len(rest) != 2 || rest[0] != (streamTail{"stdout", " tail\n"}) || rest[1] != (streamTail{"stderr", "err\n"}) {
		t.Errorf("rest %v, want the unsent tail of each stream", rest)
	}
}

func TestE2BSessionsAreNotNativeSessions(t *testing.T) {
	a := newAPI(t)
	a.e2bCreate()
	list := a.svc.Sessions("")
	if len(list) != 1 {
		t.Fatalf("sessions: %+v", list)
	}
	id := list[0].ID
	if rec := a.get("/sessions"); strings.Contains(rec.Body.String(), id) {
		t.Errorf("GET /sessions lists an E2B context's session: %s", rec.Body)
	}
	for _, rec := range []*httptest.ResponseRecorder{
		a.get("/sessions/" + id),
		a.do(http.MethodPost, "/sessions/"+id+"/execute", `{"code":"1"}`, jsonHeader, ""),
		a.do(http.MethodDelete, "/sessions/"+id, "", nil, ""),
	} {
		if rec.Code != http.StatusNotFound {
			t.Errorf("an E2B context's session through /sessions: %d %s, want 404", rec.Code, rec.Body)
		}
	}
	if len(a.svc.Sessions("")) != 1 {
		t.Error("the E2B context's session was closed through /sessions")
	}
}

func TestE2BSandboxBelongsToItsCreator(t *testing.T) {
	keys := []string{"k-alice-0123456789ab", "k-bob-0123456789abcd"}
	a := newAPI(t, func(o *Options) { o.Auth = policy.Auth{Keys: keys} })
	alice := http.Header{"Content-Type": {"application/json"}, "X-Api-Key": {keys[0]}}
	bob := http.Header{"Content-Type": {"application/json"}, "X-Api-Key": {keys[1]}}
	rec := a.do(http.MethodPost, "/e2b/v2/sandboxes", `{}`, alice, "")
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id := str(decodeBody(t, rec.Body.Bytes())["sandboxID"])
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/e2b/sandboxes/" + id, ""},
		{http.MethodPost, "/e2b/sandboxes/" + id + "/timeout", `{"timeout":5}`},
		{http.MethodPost, "/e2b/v2/sandboxes/" + id + "/connect", `{}`},
		{http.MethodDelete, "/e2b/sandboxes/" + id, ""},
	} {
		if rec := a.do(r.method, r.path, r.body, bob, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s by another key: %d %s, want 404", r.method, r.path, rec.Code, rec.Body)
		}
	}
	if rec := a.do(http.MethodGet, "/e2b/v2/sandboxes", "", bob, ""); strings.Contains(rec.Body.String(), id) {
		t.Errorf("another key's list shows the sandbox: %s", rec.Body)
	}
	if rec := a.do(http.MethodDelete, "/e2b/sandboxes/"+id, "", alice, ""); rec.Code != http.StatusNoContent {
		t.Errorf("kill by its creator: %d %s", rec.Code, rec.Body)
	}
}

func TestE2BDataPlaneDraining(t *testing.T) {
	var draining bool
	a := newAPI(t, func(o *Options) { o.Draining = func() bool { return draining } })
	sb := a.e2bCreate()
	draining = true
	if rec := a.e2bData(http.MethodPost, "/e2b/execute", `{"code":"1"}`, sb); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("execute while draining: %d %s, want 503", rec.Code, rec.Body)
	}
}
