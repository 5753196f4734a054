package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/runner/wire"
)

func decodeBody(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return m
}

func TestSessionRoutes(t *testing.T) {
	a := newAPI(t)
	rec := a.do(http.MethodPost, "/sessions", `{"environment":"python","idle_ttl":60}`, jsonHeader, "")
	if rec.Code != http.StatusCreated {
		t.Fatalf("open: %d %s", rec.Code, rec.Body)
	}
	s := decodeBody(t, rec.Body.Bytes())
	id := str(s["id"])
	if rec.Header().Get("Location") != "/sessions/"+id || s["environment"] != "python" || s["idle_ttl"] != 60.0 || s["runs"] != 0.0 {
		t.Errorf("open answered %v (Location %q)", s, rec.Header().Get("Location"))
	}
	value := "42"
	a.svc.setRun(func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("out\n"), ExitCode: 1}, Value: &value,
			Exception: &wire.Exception{Name: "E", Value: "v", Traceback: "tb"}}}, nil
	})
	rec = a.do(http.MethodPost, "/sessions/"+id+"/execute", `{"code":"x + 22","timeout":5}`, jsonHeader, "")
	if rec.Code != http.StatusOK {
		t.Fatalf("run: %d %s", rec.Code, rec.Body)
	}
	r := decodeBody(t, rec.Body.Bytes())
	x, _ := r["exception"].(map[string]any)
	if r["session_id"] != id || r["value"] != "42" || r["stdout"] != "out\n" || r["status"] != "error" || x["name"] != "E" ||
		x["traceback"] != "tb" || r["session_ended"] != false || r["environment"] != "python" {
		t.Errorf("run answered %v", r)
	}
	if calls := a.svc.calls(); len(calls) != 1 || calls[0].Code != "x + 22" || calls[0].Language != "python" || calls[0].Timeout.Seconds() != 5 {
		t.Errorf("the service got %+v", calls)
	}
	if rec := a.get("/sessions"); !strings.Contains(rec.Body.String(), id) {
		t.Errorf("list lacks the session: %s", rec.Body)
	}
	if rec := a.do(http.MethodDelete, "/sessions/"+id, "", nil, ""); rec.Code != http.StatusNoContent {
		t.Errorf("delete: %d", rec.Code)
	}
	for _, rec := range []*httptest.ResponseRecorder{
		a.do(http.MethodPost, "/sessions/"+id+"/execute", `{"code":"1"}`, jsonHeader, ""),
		a.get("/sessions/" + id),
		a.do(http.MethodDelete, "/sessions/"+id, "", nil, ""),
	} {
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"session_not_found"`) {
			t.Errorf("a closed session: %d %s, want 404 session_not_found", rec.Code, rec.Body)
		}
	}
}

func TestSessionRequestErrors(t *testing.T) {
	a := newAPI(t)
	for body, want := range map[string]string{
		`{"environment":"ruby"}`:                      "unknown_environment",
		`{"environment":"python","idle_ttl":0}`:       "invalid_request",
		`{"environment":"python","idle_ttl":"60"}`:    "invalid_request",
		`{"environment":"python","idle_ttl":7200}`:    "invalid_request",
		`{"environment":"python","stdin":"x"}`:        "unknown_field",
		`{"environment":"python","environment":"py"}`: "duplicate_key",
	} {
		rec := a.do(http.MethodPost, "/sessions", body, jsonHeader, "")
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"`+want+`"`) {
			t.Errorf("open %s: %d %s, want 422 %s", body, rec.Code, rec.Body, want)
		}
	}
	id := str(decodeBody(t, a.do(http.MethodPost, "/sessions", `{"environment":"python"}`, jsonHeader, "").Body.Bytes())["id"])
	for body, want := range map[string]string{
		`{"code":""}`:                  "invalid_request",
		`{"code":"1","args":["a"]}`:    "unknown_field",
		`{"code":"1","timeout":99999}`: "invalid_request",
	} {
		rec := a.do(http.MethodPost, "/sessions/"+id+"/execute", body, jsonHeader, "")
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"`+want+`"`) {
			t.Errorf("run %s: %d %s, want 422 %s", body, rec.Code, rec.Body, want)
		}
	}
	if len(a.svc.calls()) != 0 {
		t.Errorf("bad runs reached the service: %d", len(a.svc.calls()))
	}
}

func TestSessionCapsAnswered(t *testing.T) {
	a := newAPI(t)
	for range 2 {
		if rec := a.do(http.MethodPost, "/sessions", `{"environment":"bash"}`, jsonHeader, ""); rec.Code != http.StatusCreated {
			t.Fatalf("open: %d %s", rec.Code, rec.Body)
		}
	}
	rec := a.do(http.MethodPost, "/sessions", `{"environment":"bash"}`, jsonHeader, "")
	if rec.Code != http.StatusTooManyRequests || !strings.Contains(rec.Body.String(), `"too_many_sessions"`) {
		t.Errorf("a third session of one client: %d %s, want 429 too_many_sessions", rec.Code, rec.Body)
	}
}

func TestSessionDefaultRunTimeout(t *testing.T) {
	a := newAPI(t)
	rec := a.do(http.MethodPost, "/sessions", `{"environment":"python","timeout":7}`, jsonHeader, "")
	s := decodeBody(t, rec.Body.Bytes())
	if rec.Code != http.StatusCreated || s["timeout"] != 7.0 {
		t.Fatalf("open with a timeout: %d %s", rec.Code, rec.Body)
	}
	id := str(s["id"])
	a.do(http.MethodPost, "/sessions/"+id+"/execute", `{"code":"1"}`, jsonHeader, "")
	a.do(http.MethodPost, "/sessions/"+id+"/execute", `{"code":"1","timeout":2}`, jsonHeader, "")
	calls := a.svc.calls()
	if len(calls) != 2 || calls[0].Timeout.Seconds() != 7 || calls[1].Timeout.Seconds() != 2 {
		t.Errorf("run timeouts %v, want the session's 7 s, then the run's own 2 s", calls)
	}
	if rec := a.do(http.MethodPost, "/sessions", `{"environment":"python","timeout":0}`, jsonHeader, ""); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("timeout 0 at open: %d, want 422", rec.Code)
	}
	plain := decodeBody(t, a.do(http.MethodPost, "/sessions", `{"environment":"bash"}`, jsonHeader, "").Body.Bytes())
	if plain["timeout"] != 30.0 {
		t.Errorf("a session opened without a timeout reports %v, want the language's 30", plain["timeout"])
	}
}
