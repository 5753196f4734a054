package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/telemetry"
)

const testKey = "test-key-0123456789"

// TestHostCheck: against DNS rebinding, a Host the API does not answer
// gets 421 host_not_allowed, on every route, before anything runs.
func TestHostCheck(t *testing.T) {
	hosts, err := policy.NewHosts([]string{"api.example.com"}, "0.0.0.0:8000")
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, func(o *Options) { o.Hosts = hosts })
	tests := []struct {
		name, method, target, host string
		want                       int
	}{
		{"listed name", http.MethodGet, "/health", "api.example.com", 200},
		{"listed name with port", http.MethodPost, "/execute", "API.example.com:8000", 200},
		{"localhost", http.MethodGet, "/", "localhost:8000", 200},
		{"loopback address", http.MethodGet, "/", "127.0.0.1:8000", 200},
		{"an address of the host (listening on all)", http.MethodGet, "/healthz", "10.244.0.7:8000", 200},
		{"rebinding name", http.MethodGet, "/health", "attacker.example:8000", 421},
		{"rebinding name on execute", http.MethodPost, "/execute", "attacker.example", 421},
		{"rebinding name on an unknown route", http.MethodGet, "/nope", "attacker.example", 421},
		{"empty", http.MethodGet, "/", "", 421},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(a.svc.calls())
			req := newRecorder()
			r := httpRequest(t, context.Background(), okBody)
			r.Method, r.URL.Path, r.Host = tc.method, tc.target, tc.host
			a.h.ServeHTTP(req, r)
			if req.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", req.Code, tc.want, req.Body.String())
			}
			if tc.want != 421 {
				return
			}
			checkHygiene(t, req)
			if code := errorCode(t, req); code != "host_not_allowed" {
				t.Errorf("code %q, want host_not_allowed", code)
			}
			if len(a.svc.calls()) != before {
				t.Error("a refused Host reached the service")
			}
			if tc.host != "" && !strings.Contains(req.Body.String(), "http.allowed_hosts") {
				t.Errorf("message does not say how to allow the host: %s", req.Body.String())
			}
		})
	}
	// Without a rule (Options.Hosts nil) any Host is answered.
	b := newAPI(t)
	if w := b.get("/"); w.Code != 200 {
		t.Errorf("no Hosts rule: %d, want 200", w.Code)
	}
}

// TestMetricsNeedsKey: on the API's port /metrics needs the API key when
// keys are set, as /stats does.
func TestMetricsNeedsKey(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("warmbox_up 1\n")) })
	for _, tc := range []struct {
		name   string
		keys   []string
		header http.Header
		want   int
	}{
		{"no keys configured", nil, nil, 200},
		{"keys, none sent", []string{testKey}, nil, 401},
		{"keys, wrong one", []string{testKey}, http.Header{"Authorization": {"Bearer wrong-key-0123456789"}}, 401},
		{"keys, bearer", []string{testKey}, http.Header{"Authorization": {"Bearer " + testKey}}, 200},
		{"keys, x-api-key", []string{testKey}, http.Header{"X-Api-Key": {testKey}}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, func(o *Options) { o.Metrics, o.Auth = metrics, policy.Auth{Keys: tc.keys} })
			w := a.do(http.MethodGet, "/metrics", "", tc.header, "")
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want == 401 && (errorCode(t, w) != "unauthorized" || strings.Contains(w.Body.String(), "warmbox_up")) {
				t.Errorf("refusal: %s", w.Body.String())
			}
		})
	}
}

// TestHealthDetails: /health and /readyz give engine and self-test text
// and pool sizes only to a caller with a valid key (keys set) or on
// loopback (no keys); anyone else gets the booleans, the statuses and
// fixed reasons.
func TestHealthDetails(t *testing.T) {
	const secret = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock"
	proxies, err := policy.NewClientResolver([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		keys     []string
		header   http.Header
		remote   string
		detailed bool
	}{
		{"no keys, remote caller", nil, nil, "192.0.2.1:1234", false},
		{"no keys, loopback caller", nil, nil, "127.0.0.1:1234", true},
		{"no keys, ipv6 loopback caller", nil, nil, "[::1]:1234", true},
		{"no keys, remote caller behind a local proxy", nil, http.Header{"X-Forwarded-For": {"192.0.2.1"}}, "127.0.0.1:1234", false},
		{"keys, no key, even from loopback", []string{testKey}, nil, "127.0.0.1:1234", false},
		{"keys, wrong key", []string{testKey}, http.Header{"X-Api-Key": {"wrong-key-0123456789"}}, "192.0.2.1:1234", false},
		{"keys, valid key", []string{testKey}, http.Header{"Authorization": {"Bearer " + testKey}}, "192.0.2.1:1234", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPI(t, func(o *Options) {
				o.Auth, o.Clients = policy.Auth{Keys: tc.keys}, proxies
				o.Ping = func(context.Context) error { return errors.New(secret) }
			})
			a.svc.health[2] = dispatch.LanguageHealth{Name: "python", Summary: dispatch.NotReadyCreationFailing,
				Reason: dispatch.NotReadyCreationFailing + ": " + secret, Idle: 0, Busy: 1, Target: 2}

			w := a.do(http.MethodGet, "/health", "", tc.header, tc.remote)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("/health = %d, want 503 (engine down) for everyone", w.Code)
			}
			m := decode(t, w)
			checkTypes(t, "/health", m, map[string]string{"status": "string", "docker_available": "bool", "timestamp": "string", "active_containers": "int", "languages": "object"})
			py, _ := m["languages"].(map[string]any)["python"].(map[string]any)
			checkTypes(t, "languages.python", py, map[string]string{"ready": "bool", "reason": "string"})
			if py["ready"] != false || !strings.HasPrefix(py["reason"].(string), dispatch.NotReadyCreationFailing) {
				t.Errorf("python = %v, want not ready, %q", py, dispatch.NotReadyCreationFailing)
			}
			_, hasSizes := py["idle"]
			if got := strings.Contains(w.Body.String(), secret); got != tc.detailed {
				t.Errorf("/health shows the engine's text: %v, want %v: %s", got, tc.detailed, w.Body.String())
			}
			if hasSizes != tc.detailed {
				t.Errorf("/health shows pool sizes: %v, want %v", hasSizes, tc.detailed)
			}

			w = a.do(http.MethodGet, "/readyz", "", tc.header, tc.remote)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("/readyz = %d, want 503", w.Code)
			}
			body := w.Body.String()
			if got := strings.Contains(body, secret); got != tc.detailed {
				t.Errorf("/readyz shows the engine's text: %v, want %v: %s", got, tc.detailed, body)
			}
			for _, want := range []string{"engine unreachable", "python: " + dispatch.NotReadyCreationFailing} {
				if !strings.Contains(body, want) {
					t.Errorf("/readyz reasons lack %q: %s", want, body)
				}
			}
		})
	}
}

// TestTraceTrust: an incoming trace context reaches tracing only from a
// trusted proxy or a keyed caller (by default); otherwise its headers are
// dropped and the request starts a trace of its own.
func TestTraceTrust(t *testing.T) {
	proxies, err := policy.NewClientResolver([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	traceHeader := http.Header{
		"Traceparent":   {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		"Tracestate":    {"k=v"},
		"Baggage":       {"user=x"},
		"Uber-Trace-Id": {"4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:3"},
		"Uberctx-User":  {"x"},
		"Content-Type":  {"application/json"},
	}
	keyed := func() http.Header {
		h := traceHeader.Clone()
		h.Set("Authorization", "Bearer "+testKey)
		return h
	}()
	tests := []struct {
		name   string
		keys   []string
		trust  func(fromProxy, keyed bool) bool
		header http.Header
		remote string
		kept   bool
	}{
		{"anonymous, no keys configured", nil, nil, traceHeader, "192.0.2.1:1", false},
		{"anonymous on loopback", nil, nil, traceHeader, "127.0.0.1:1", false},
		{"from a trusted proxy", nil, nil, traceHeader, "10.1.2.3:1", true},
		{"keyed", []string{testKey}, nil, keyed, "192.0.2.1:1", true},
		{"wrong key", []string{testKey}, nil, func() http.Header {
			h := traceHeader.Clone()
			h.Set("X-Api-Key", "wrong-key-0123456789")
			return h
		}(), "192.0.2.1:1", false},
		{"always", nil, telemetry.TracingConfig{TrustIncoming: telemetry.TrustAlways}.TrustsIncoming, traceHeader, "192.0.2.1:1", true},
		{"never, even keyed from a proxy", []string{testKey}, telemetry.TracingConfig{TrustIncoming: telemetry.TrustNever}.TrustsIncoming, keyed, "10.1.2.3:1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var seen http.Header
			a := newAPI(t, func(o *Options) {
				o.Auth, o.Clients, o.TrustTrace = policy.Auth{Keys: tc.keys}, proxies, tc.trust
				o.Middleware = func(_ string, h http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						mu.Lock()
						seen = r.Header.Clone()
						mu.Unlock()
						h.ServeHTTP(w, r)
					})
				}
			})
			w := a.do(http.MethodPost, "/execute", okBody, tc.header, tc.remote)
			mu.Lock()
			defer mu.Unlock()
			if seen == nil {
				t.Fatalf("the request never reached tracing: %d %s", w.Code, w.Body.String())
			}
			for _, k := range []string{"Traceparent", "Tracestate", "Baggage", "Uber-Trace-Id", "Uberctx-User"} {
				if got := seen.Get(k) != ""; got != tc.kept {
					t.Errorf("%s reached tracing: %v, want %v", k, got, tc.kept)
				}
			}
			if seen.Get("Content-Type") == "" {
				t.Error("other headers were dropped too")
			}
		})
	}
}

// TestTraceIDNotChosenByAnonymous: with telemetry's real middleware and
// propagators, an anonymous caller's traceparent does not become the
// trace id it gets back; a trusted proxy's does.
func TestTraceIDNotChosenByAnonymous(t *testing.T) {
	prevProp, prevTP := otel.GetTextMapPropagator(), otel.GetTracerProvider()
	otel.SetTextMapPropagator(telemetry.Propagator())
	otel.SetTracerProvider(noop.NewTracerProvider()) // tracing off: the caller's id would pass through
	t.Cleanup(func() { otel.SetTextMapPropagator(prevProp); otel.SetTracerProvider(prevTP) })
	proxies, err := policy.NewClientResolver([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	a := newAPI(t, func(o *Options) { o.Clients, o.Middleware = proxies, telemetry.Middleware })
	const chosen = "4bf92f3577b34da6a3ce929d0e0e4736"
	h := http.Header{"Content-Type": {"application/json"}, "Traceparent": {"00-" + chosen + "-00f067aa0ba902b7-01"}}
	if w := a.do(http.MethodPost, "/execute", okBody, h, "192.0.2.1:1"); w.Header().Get("X-Trace-Id") == chosen || strings.Contains(w.Body.String(), chosen) {
		t.Errorf("an anonymous caller chose its trace id: X-Trace-Id %q", w.Header().Get("X-Trace-Id"))
	}
	if w := a.do(http.MethodPost, "/execute", okBody, h, "10.0.0.9:1"); w.Header().Get("X-Trace-Id") != chosen {
		t.Errorf("a trusted proxy's trace id was not kept: X-Trace-Id %q", w.Header().Get("X-Trace-Id"))
	}
}
