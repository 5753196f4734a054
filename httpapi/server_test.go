package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

func TestRoot(t *testing.T) {
	a := newAPI(t)
	w := a.get("/")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	checkHygiene(t, w)
	m := decode(t, w)
	checkTypes(t, "/", m, map[string]string{"service": "string", "version": "string", "status": "string", "documentation": "string"})
	if m["service"] != "warmbox" || m["status"] != "operational" || m["documentation"] != "/docs" || m["version"] != "test" {
		t.Errorf("got %v", m)
	}
}

func TestDocs(t *testing.T) {
	a := newAPI(t)
	w := a.get("/docs")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	m := decode(t, w)
	checkTypes(t, "/docs", m, map[string]string{"documentation": "string", "routes": "array"})
	if !strings.Contains(w.Body.String(), `"/execute"`) {
		t.Errorf("route list lacks /execute: %s", w.Body.String())
	}
}

func TestHealth(t *testing.T) {
	down := func(o *Options) { o.Ping = func(context.Context) error { return errors.New("no engine") } }
	tests := []struct {
		name        string
		configure   func(*Options)
		notReady    bool
		wantCode    int
		wantStatus  string
		wantDocker  bool
		wantReadyPy bool
	}{
		{"healthy", nil, false, http.StatusOK, "healthy", true, true},
		{"language not ready", nil, true, http.StatusOK, "degraded", true, false},
		{"engine down", down, false, http.StatusServiceUnavailable, "degraded", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a *testAPI
			if tt.configure != nil {
				a = newAPI(t, tt.configure)
			} else {
				a = newAPI(t)
			}
			if tt.notReady {
				a.svc.health[2] = dispatch.LanguageHealth{Name: "python", Summary: "warming up", Reason: "warming up", Target: 2}
			}
			w := a.do(http.MethodGet, "/health", "", nil, "127.0.0.1:40000") // no keys: details for loopback
			if w.Code != tt.wantCode {
				t.Fatalf("status %d, want %d", w.Code, tt.wantCode)
			}
			checkHygiene(t, w)
			m := decode(t, w)
			checkTypes(t, "/health", m, map[string]string{
				"status": "string", "docker_available": "bool", "timestamp": "string",
				"active_containers": "int", "languages": "object",
			})
			if m["status"] != tt.wantStatus || m["docker_available"] != tt.wantDocker {
				t.Errorf("status %v docker_available %v, want %v %v", m["status"], m["docker_available"], tt.wantStatus, tt.wantDocker)
			}
			if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			py, _ := m["languages"].(map[string]any)["python"].(map[string]any)
			checkTypes(t, "languages.python", py, map[string]string{
				"ready": "bool", "reason": "string", "idle": "int", "busy": "int", "target": "int",
			})
			if py["ready"] != tt.wantReadyPy {
				t.Errorf("python ready = %v, want %v", py["ready"], tt.wantReadyPy)
			}
		})
	}
}

func TestHealthzReadyz(t *testing.T) {
	var draining, engineDown bool
	var mu sync.Mutex
	a := newAPI(t, func(o *Options) {
		o.Draining = func() bool { mu.Lock(); defer mu.Unlock(); return draining }
		o.Ping = func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if engineDown {
				return errors.New("down")
			}
			return nil
		}
	})
	set := func(d, e bool) { mu.Lock(); draining, engineDown = d, e; mu.Unlock() }
	tests := []struct {
		name       string
		draining   bool
		engineDown bool
		notReady   bool
		want       int
		wantReason string
	}{
		{"ready", false, false, false, http.StatusOK, ""},
		{"draining", true, false, false, http.StatusServiceUnavailable, "shutting down"},
		{"engine down", false, true, false, http.StatusServiceUnavailable, "engine unreachable"},
		{"language warming", false, false, true, http.StatusServiceUnavailable, "python: warming up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set(tt.draining, tt.engineDown)
			a.svc.health[2].Ready, a.svc.health[2].Summary, a.svc.health[2].Reason = !tt.notReady, "", ""
			if tt.notReady {
				a.svc.health[2].Summary, a.svc.health[2].Reason = "warming up", "warming up"
			}
			if w := a.get("/healthz"); w.Code != http.StatusOK || decode(t, w)["status"] != "ok" {
				t.Errorf("/healthz = %d %s, want 200 ok", w.Code, w.Body.String())
			}
			w := a.get("/readyz")
			if w.Code != tt.want {
				t.Fatalf("/readyz = %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			m := decode(t, w)
			checkTypes(t, "/readyz", m, map[string]string{"status": "string", "reasons": "array"})
			if tt.wantReason != "" && !strings.Contains(w.Body.String(), tt.wantReason) {
				t.Errorf("reasons lack %q: %s", tt.wantReason, w.Body.String())
			}
		})
	}
}

func TestEnvironments(t *testing.T) {
	a := newAPI(t)
	w := a.get("/environments")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	checkHygiene(t, w)
	m := decode(t, w)
	checkTypes(t, "/environments", m, map[string]string{"environments": "array", "details": "object"})
	envs := m["environments"].([]any)
	if len(envs) != 3 || envs[0] != "bash" || envs[2] != "python" {
		t.Errorf("environments = %v", envs)
	}
	py := m["details"].(map[string]any)["python"].(map[string]any)
	checkTypes(t, "details.python", py, map[string]string{
		"image": "string", "file_extension": "string", "version": "string", "handoff": "string",
		"runtime": "string", "limits": "object",
	})
	if py["file_extension"] != "py" || py["image"] != "warmbox/python:test" {
		t.Errorf("python detail = %v", py)
	}
	checkTypes(t, "details.python.limits", py["limits"].(map[string]any), map[string]string{
		"timeout_seconds": "int", "max_timeout_seconds": "int", "memory_mb": "int", "cpus": "number",
		"pids": "int", "output_bytes": "int", "code_bytes": "int",
	})
	if !strings.Contains(w.Body.String(), `"cpus":0.5`) {
		t.Errorf("cpus not 0.5: %s", w.Body.String())
	}
}

func TestStats(t *testing.T) {
	a := newAPI(t, func(o *Options) { o.RateLimit = policy.DefaultRateLimit() })
	a.post(`{"code":"print(1)","environment":"python"}`)
	w := a.get("/stats")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	checkHygiene(t, w)
	m := decode(t, w)
	checkTypes(t, "/stats", m, map[string]string{
		"active_executions": "int", "total_containers": "int", "supported_environments": "array",
		"rate_limit": "object", "resource_limits": "object", "timestamp": "string",
		"pools": "object", "executions": "object",
	})
	if m["active_executions"] != 3.0 || m["total_containers"] != 12.0 {
		t.Errorf("active_executions %v total_containers %v, want 3 12", m["active_executions"], m["total_containers"])
	}
	rl := m["rate_limit"].(map[string]any)
	checkTypes(t, "rate_limit", rl, map[string]string{"window_seconds": "int", "max_requests": "int"})
	if rl["window_seconds"] != 60.0 || rl["max_requests"] != 10.0 {
		t.Errorf("rate_limit = %v", rl)
	}
	res := m["resource_limits"].(map[string]any)
	checkTypes(t, "resource_limits", res, map[string]string{"memory": "string", "cpu_percent": "number", "timeout_seconds": "int"})
	if res["memory"] != "256m" || res["cpu_percent"] != 50.0 || res["timeout_seconds"] != 30.0 {
		t.Errorf("resource_limits = %v", res)
	}
	if !strings.Contains(w.Body.String(), `"cpu_percent":50.0`) {
		t.Errorf("cpu_percent not written as a float: %s", w.Body.String())
	}
	py := m["pools"].(map[string]any)["python"].(map[string]any)
	checkTypes(t, "pools.python", py, map[string]string{
		"idle": "int", "busy": "int", "creating": "int", "destroying": "int", "waiting": "int",
		"target": "int", "min_idle": "int", "max_size": "int", "max_uses": "int", "acquired": "int",
		"acquire_timeouts": "int", "created": "int", "create_failures": "int", "destroyed": "object",
		"degraded": "bool", "last_error": "string",
	})
	if py["destroyed"].(map[string]any)["used"] != 9.0 {
		t.Errorf("destroyed = %v", py["destroyed"])
	}
	ex := m["executions"].(map[string]any)
	checkTypes(t, "executions", ex, map[string]string{"success": "int", "error": "int", "timeout": "int"})
	if ex["success"] != 1.0 {
		t.Errorf("executions = %v, want one success", ex)
	}
}

func TestRouting(t *testing.T) {
	a := newAPI(t)
	tests := []struct {
		name, method, path string
		want               int
		wantCode           string
		wantAllow          string
	}{
		{"GET /execute", http.MethodGet, "/execute", http.StatusMethodNotAllowed, "method_not_allowed", "OPTIONS, POST"},
		{"DELETE /stats", http.MethodDelete, "/stats", http.StatusMethodNotAllowed, "method_not_allowed", "GET, OPTIONS"},
		{"POST /", http.MethodPost, "/", http.StatusMethodNotAllowed, "method_not_allowed", "GET, OPTIONS"},
		{"trailing slash", http.MethodPost, "/execute/", http.StatusNotFound, "not_found", ""},
		{"case", http.MethodPost, "/EXECUTE", http.StatusNotFound, "not_found", ""},
		{"dot segments", http.MethodPost, "/execute/../admin", http.StatusNotFound, "not_found", ""},
		{"pprof", http.MethodGet, "/debug/pprof/", http.StatusNotFound, "not_found", ""},
		{"metrics without handler", http.MethodGet, "/metrics", http.StatusNotFound, "not_found", ""},
		{"unknown", http.MethodGet, "/nope", http.StatusNotFound, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := a.do(tt.method, tt.path, "", jsonHeader, "")
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			checkHygiene(t, w)
			if code := errorCode(t, w); code != tt.wantCode {
				t.Errorf("code %q, want %q", code, tt.wantCode)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestMetricsRoute(t *testing.T) {
	a := newAPI(t, func(o *Options) {
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write([]byte("warmbox_up 1\n"))
		})
	})
	w := a.get("/metrics")
	if w.Code != http.StatusOK || w.Body.String() != "warmbox_up 1\n" {
		t.Fatalf("/metrics = %d %q", w.Code, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the metrics handler's", ct)
	}
}

func TestPanicBecomes500(t *testing.T) {
	a := newAPI(t)
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		panic("boom: secret internal detail")
	})
	w := a.post(`{"code":"x","environment":"python"}`)
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	checkHygiene(t, w)
	if code := errorCode(t, w); code != "internal" {
		t.Errorf("code %q, want internal", code)
	}
	if strings.Contains(w.Body.String(), "secret") {
		t.Errorf("panic value leaked: %s", w.Body.String())
	}
}

func TestMiddlewareGetsRouteTemplates(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	a := newAPI(t, func(o *Options) {
		o.Middleware = func(route string, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, route)
				mu.Unlock()
				h.ServeHTTP(w, r)
			})
		}
	})
	a.get("/health")
	a.post(`{"code":"x","environment":"python"}`)
	a.get("/no/such/path/123")
	a.get("/execute")
	want := []string{"/health", "/execute", "unmatched", "unmatched"}
	if !slices.Equal(seen, want) {
		t.Fatalf("routes seen %v, want %v", seen, want)
	}
}
