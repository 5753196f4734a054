package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// The tests below keep openapi.json true: they fail when the document
// and the code disagree on a route, a request field, a response shape or
// an error. openapi_schema_test.go reads the document and checks values
// and Go types against its schemas; openapi_errors_test.go finds the
// error codes in the source and provokes each error for real.

// fullOptions turns on every option that adds a route or changes an
// answer: metrics on the API's port, API keys, rate and concurrency
// limits, CORS, trusted proxies, Host names, tracing hooks.
func fullOptions(t *testing.T, svc *fakeService, configure ...func(*Options)) Options {
	t.Helper()
	clients, err := policy.NewClientResolver([]string{"10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := policy.NewHosts([]string{"example.com"}, "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	rl := policy.RateLimit{Requests: 1000, Window: time.Minute, Concurrent: 4}
	opts := Options{
		Service:     svc,
		Ping:        func(context.Context) error { return nil },
		Recorder:    &fakeRecorder{},
		Limiter:     policy.NewLimiter(rl),
		Concurrency: policy.NewConcurrency(rl.Concurrent),
		RateLimit:   rl,
		Clients:     clients,
		Auth:        policy.Auth{Keys: []string{testKey}},
		CORSOrigins: []string{"https://docs.example.com"},
		// Small, so that a test body can exceed it.
		MaxBodyBytes: 64 << 10,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			_, _ = w.Write([]byte("warmbox_up 1\n"))
		}),
		Version:    "test",
		Logger:     slog.New(slog.DiscardHandler),
		Stopping:   func() bool { return false },
		Draining:   func() bool { return false },
		Middleware: func(_ string, h http.Handler) http.Handler { return h },
		Hosts:      hosts,
		TrustTrace: func(fromProxy, keyed bool) bool { return fromProxy || keyed },
	}
	for _, c := range configure {
		c(&opts)
	}
	return opts
}

// servedRoutes are the routes of a server with every option on. It
// fails the test when fullOptions leaves an option unset: a new option
// may add a route.
func servedRoutes(t *testing.T) []route {
	t.Helper()
	opts := fullOptions(t, newFakeService())
	v := reflect.ValueOf(opts)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("fullOptions leaves Options.%s unset; set it, in case it adds a route", v.Type().Field(i).Name)
		}
	}
	return (&server{opts: opts}).routes()
}

// openAPIPath spells an httprouter path as OpenAPI does (":name" and
// "*name" become "{name}").
func openAPIPath(p string) string {
	return regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`).ReplaceAllString(p, "{$1}")
}

// TestOpenAPIDocument: the document is one JSON object declaring OpenAPI
// 3.1, each of its references resolves, and each of its links leads to
// one of its operations, names only that operation's parameters (or the
// header of one of its key schemes) and gives each a constant or a
// runtime expression that exampleRequests can evaluate.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if v := doc.root["openapi"]; v != "3.1.0" && v != "3.1.1" {
		t.Errorf("openapi is %v, want 3.1.0 or 3.1.1", v)
	}
	for _, key := range []string{"info", "paths", "components"} {
		if object(doc.root, key) == nil {
			t.Errorf("no %s object", key)
		}
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := doc.pointer(ref); err != nil {
					t.Errorf("%s: %v", where, err)
				}
			}
			for k, e := range x {
				walk(where+"/"+k, e)
			}
		case []any:
			for _, e := range x {
				walk(where, e)
			}
		}
	}
	walk("#", doc.root)
	for _, l := range doc.links(t) {
		for _, key := range sortedKeys(l.parameters) {
			if _, _, ok := doc.linkTarget(t, l.to, key); !ok {
				t.Errorf("%s's link %q names %q, which %s has not", l.from, l.name, key, l.to)
			}
			if _, _, err := runtimeExpression(l.parameters[key]); err != nil {
				t.Errorf("%s's link %q, %s: %v", l.from, l.name, key, err)
			}
		}
	}
}

// TestOpenAPIRoutes: the document's operations are exactly the routes of
// a server with every option on, each summarized by the route's own doc
// string, and the router really serves each.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	served := map[string]route{}
	for _, rt := range servedRoutes(t) {
		served[rt.method+" "+openAPIPath(rt.path)] = rt
	}
	documented := map[string]operation{}
	for _, op := range doc.operations() {
		documented[op.String()] = op
	}
	for _, key := range sortedKeys(served) {
		op, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if got, want := op.op["summary"], served[key].doc; got != want {
			t.Errorf("%s: summary %q, want the route's doc string %q", key, got, want)
		}
		// checkHost and base wrap every route.
		for _, status := range []int{http.StatusMisdirectedRequest, http.StatusInternalServerError} {
			if doc.response(t, op, status) == nil {
				t.Errorf("%s does not document %d, which every route can answer", key, status)
			}
		}
	}
	for _, key := range sortedKeys(documented) {
		if _, ok := served[key]; !ok {
			t.Errorf("openapi.json documents %s, which routes() does not serve", key)
		}
	}

	// The router itself, as a client reaches it: a fresh server for each
	// operation, which the operations that link to it prepare.
	for _, op := range doc.operations() {
		svc := newFakeService()
		realistic(svc)
		h := New(fullOptions(t, svc))
		reqs, err := doc.exampleRequests(t, op, h)
		if err != nil {
			t.Error(err)
		}
		for _, r := range reqs {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s: the router answers %d: %s", op, w.Code, w.Body.String())
			}
		}
	}
}

// TestOpenAPIRequest: each request schema has exactly the keys of the Go
// type its body is decoded into, with their types, and the operations
// that take it say so. Where the decoder is strict the keys are also
// exactly the accepted ones and the schema refuses any other; where
// unknown keys are ignored (E2B's bodies, as E2B's API ignores them) the
// schema does not refuse them. (POST /e2b/contexts decodes into an
// anonymous struct; its body is checked by the answers to its examples.)
func TestOpenAPIRequest(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, tc := range []struct {
		schema string
		typ    reflect.Type
		fields []string // the keys a strict decoder accepts; nil: other keys are ignored
		ops    []string
	}{
		{"ExecuteRequest", reflect.TypeFor[executeRequest](), requestFields, []string{"POST /execute"}},
		{"SessionOpenRequest", reflect.TypeFor[sessionOpenRequest](), sessionOpenFields, []string{"POST /sessions"}},
		{"SessionRunRequest", reflect.TypeFor[sessionRunRequest](), sessionRunFields, []string{"POST /sessions/{id}/execute"}},
		{"E2BCreateRequest", reflect.TypeFor[e2bCreateRequest](), nil, []string{"POST /e2b/v2/sandboxes", "POST /e2b/sandboxes"}},
		{"E2BTimeoutRequest", reflect.TypeFor[e2bTimeoutRequest](), nil,
			[]string{"POST /e2b/sandboxes/{id}/timeout", "POST /e2b/v2/sandboxes/{id}/connect"}},
		{"E2BExecuteRequest", reflect.TypeFor[e2bExecuteRequest](), nil, []string{"POST /e2b/execute"}},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			schema, err := doc.pointer("#/components/schemas/" + tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			strict := schema["additionalProperties"] == false
			switch {
			case tc.fields != nil && !strict:
				t.Errorf("%s allows other properties; unknown fields are refused", tc.schema)
			case tc.fields == nil && strict:
				t.Errorf("%s refuses other properties; unknown fields are ignored", tc.schema)
			}
			if got, want := sortedKeys(object(schema, "properties")), sorted(tc.fields); tc.fields != nil && !slices.Equal(got, want) {
				t.Errorf("%s properties %v, accepted fields %v", tc.schema, got, want)
			}
			doc.checkGoType(t, tc.schema, tc.typ, schema, false)
			for _, op := range tc.ops {
				method, path, _ := strings.Cut(op, " ")
				body := object(doc.root, "paths", path, strings.ToLower(method), "requestBody", "content", "application/json", "schema")
				if got := body["$ref"]; got != "#/components/schemas/"+tc.schema {
					t.Errorf("%s's request schema is %v", op, got)
				}
			}
		})
	}
}

// TestOpenAPIGoTypes: each response schema has exactly the json names of
// the Go type that produces it, nested types included.
func TestOpenAPIGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"ExecuteResponse":    reflect.TypeFor[executeResponse](), // with Truncated, Timing
		"EnvironmentDetail":  reflect.TypeFor[environmentDetail](),
		"PoolStats":          reflect.TypeFor[poolStats](),
		"LanguageHealth":     reflect.TypeFor[languageHealth](),
		"LanguageStatus":     reflect.TypeFor[languageStatus](),
		"ErrorBody":          reflect.TypeFor[errorBody](), // with ErrorDetail
		"PistonRuntime":      reflect.TypeFor[pistonRuntime](),
		"PistonResult":       reflect.TypeFor[pistonResult](), // with PistonStage
		"PistonError":        reflect.TypeFor[pistonError](),
		"CodapiExecution":    reflect.TypeFor[codapiExecution](),
		"OutputEvent":        reflect.TypeFor[outputEvent](),
		"SessionStats":       reflect.TypeFor[sessionStats](),
		"Session":            reflect.TypeFor[sessionBody](),
		"SessionRunResponse": reflect.TypeFor[sessionRunResponse](), // executeResponse embedded
		"E2BSandbox":         reflect.TypeFor[e2bSandboxBody](),
		"E2BListedSandbox":   reflect.TypeFor[e2bListedSandbox](),
		"E2BContext":         reflect.TypeFor[e2bContextBody](),
	} {
		t.Run(name, func(t *testing.T) {
			schema, err := doc.pointer("#/components/schemas/" + name)
			if err != nil {
				t.Fatal(err)
			}
			doc.checkGoType(t, name, typ, schema, true)
		})
	}
}

// TestOpenAPIResponses: every route, asked as the document's examples
// ask it (after the operations that link to it), with a key and without,
// accepting JSON or Server-Sent Events, on a healthy daemon and on a
// failing one, answers a status the document lists, in a documented
// content type, with a JSON body (or events, or JSON lines) that matches
// the documented schema. On the healthy daemon each example, asked as it
// is, succeeds (2xx). A route that refuses a request without a key
// documents 401 and the key schemes; one that does not, does not.
func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	failing := func(svc *fakeService) func(*Options) {
		for i := range svc.health {
			svc.health[i] = dispatch.LanguageHealth{Name: svc.health[i].Name, Summary: "warming up", Reason: "warming up: image pull", Target: 2}
		}
		svc.stats[0].Degraded, svc.stats[0].LastError = true, "create: no such image"
		svc.stats[0].BackoffUntil = time.Now().Add(time.Hour)
		return func(o *Options) {
			o.Ping = func(context.Context) error { return errors.New("engine down") }
			o.Stopping = func() bool { return true }
			o.Draining = func() bool { return true }
		}
	}
	for _, scenario := range []string{"healthy", "failing"} {
		for _, op := range doc.operations() {
			for _, v := range askedVariants {
				// A fresh daemon for each: the operations that link to op
				// open sessions and sandboxes on it, which must not pile
				// up into the caps.
				svc := newFakeService()
				realistic(svc)
				var configure []func(*Options)
				if scenario == "failing" {
					configure = append(configure, failing(svc))
				}
				h := New(fullOptions(t, svc, configure...))
				reqs, err := doc.exampleRequests(t, op, h)
				if err != nil && scenario == "healthy" {
					t.Error(err)
				}
				for _, r := range reqs {
					v.prepare(r.Header)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					doc.checkAnswer(t, scenario+", "+op.String()+v.name, op, w)
					// The examples are realistic: asked as they are, a
					// healthy daemon does what they ask.
					if v.name == "" && scenario == "healthy" && (w.Code < 200 || w.Code > 299) {
						t.Errorf("healthy, %s: its example answered %d: %.200s", op, w.Code, w.Body.String())
					}
					if v.name == withoutKey && scenario == "healthy" {
						checkAuthDocumented(t, doc, op, w.Code == http.StatusUnauthorized)
					}
				}
			}
		}
	}
}

const withoutKey = " without a key"

// askedVariants are the ways TestOpenAPIResponses asks each route.
var askedVariants = []struct {
	name    string
	prepare func(http.Header)
}{
	{"", func(http.Header) {}},
	{withoutKey, func(h http.Header) { h.Del("X-API-Key") }},
	{", Accept: " + eventStreamType, func(h http.Header) { h.Set("Accept", eventStreamType) }},
}

// checkAuthDocumented: a route answers 401 without a key exactly when
// the document lists 401 and both key schemes for it.
func checkAuthDocumented(t *testing.T, doc openAPIDoc, op operation, refused bool) {
	t.Helper()
	documented := doc.response(t, op, http.StatusUnauthorized) != nil
	var schemes []string
	security, _ := op.op["security"].([]any)
	for _, req := range security {
		schemes = append(schemes, sortedKeys(req.(map[string]any))...)
	}
	keyed := slices.Contains(schemes, "bearer") && slices.Contains(schemes, "apiKey")
	switch {
	case refused && !(documented && keyed):
		t.Errorf("%s refuses a request without a key; document 401 and the bearer and apiKey schemes", op)
	case !refused && documented:
		t.Errorf("%s documents 401 but answers without a key", op)
	}
}

// TestOpenAPIExamples: every example in the document matches its schema.
func TestOpenAPIExamples(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if schema, ok := m["schema"]; ok {
			if ex, ok := m["example"]; ok {
				for _, e := range doc.conform(where+" example", schema, ex) {
					t.Error(e)
				}
			}
			for name, ex := range object(m, "examples") {
				for _, e := range doc.conform(where+" example "+name, schema, object(ex)["value"]) {
					t.Error(e)
				}
			}
		}
		for k, e := range m {
			walk(where+"/"+k, e)
		}
	}
	walk("#/paths", object(doc.root, "paths"))
	walk("#/components/responses", object(doc.root, "components", "responses"))
	walk("#/components/parameters", object(doc.root, "components", "parameters"))
}

// TestOpenAPIVersion: the served document is the embedded one with the
// daemon's version as info.version ("dev" when it has none).
func TestOpenAPIVersion(t *testing.T) {
	for _, tc := range []struct{ version, want string }{{"1.2.3", "1.2.3"}, {"", "dev"}} {
		a := newAPI(t, func(o *Options) { o.Version = tc.version })
		w := a.get("/openapi.json")
		if w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
		checkHygiene(t, w)
		var got map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		_ = json.Unmarshal(openAPIDocument, &want)
		object(want, "info")["version"] = tc.want
		if !reflect.DeepEqual(got, want) {
			t.Errorf("version %q: the served document is not the embedded one with info.version %q", tc.version, tc.want)
		}
		if bytes.Contains(w.Body.Bytes(), []byte(`\u003c`)) {
			t.Error("the served document escapes < and > needlessly")
		}
	}
}
