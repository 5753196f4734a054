package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
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
// 3.1, and each of its references resolves.
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

	// The router itself, as a client reaches it.
	h := New(fullOptions(t, newFakeService()))
	for _, op := range doc.operations() {
		for _, r := range doc.exampleRequests(t, op) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s: the router answers %d: %s", op, w.Code, w.Body.String())
			}
		}
	}
}

// TestOpenAPIRequest: the request schema has exactly the accepted keys,
// with the types executeRequest decodes, and refuses any other key.
func TestOpenAPIRequest(t *testing.T) {
	doc := loadOpenAPI(t)
	schema, err := doc.pointer("#/components/schemas/ExecuteRequest")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedKeys(object(schema, "properties")), sorted(requestFields); !slices.Equal(got, want) {
		t.Errorf("ExecuteRequest properties %v, requestFields %v", got, want)
	}
	if schema["additionalProperties"] != false {
		t.Error("ExecuteRequest allows other properties; unknown fields are refused")
	}
	doc.checkGoType(t, "ExecuteRequest", reflect.TypeFor[executeRequest](), schema, false)
	body := object(doc.root, "paths", "/execute", "post", "requestBody", "content", "application/json", "schema")
	if got := body["$ref"]; got != "#/components/schemas/ExecuteRequest" {
		t.Errorf("POST /execute's request schema is %v", got)
	}
}

// TestOpenAPIGoTypes: each response schema has exactly the json names of
// the Go type that produces it, nested types included.
func TestOpenAPIGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, typ := range map[string]reflect.Type{
		"ExecuteResponse":   reflect.TypeFor[executeResponse](), // with Truncated, Timing
		"EnvironmentDetail": reflect.TypeFor[environmentDetail](),
		"PoolStats":         reflect.TypeFor[poolStats](),
		"LanguageHealth":    reflect.TypeFor[languageHealth](),
		"LanguageStatus":    reflect.TypeFor[languageStatus](),
		"ErrorBody":         reflect.TypeFor[errorBody](), // with ErrorDetail
		"PistonRuntime":     reflect.TypeFor[pistonRuntime](),
		"PistonResult":      reflect.TypeFor[pistonResult](), // with PistonStage
		"PistonError":       reflect.TypeFor[pistonError](),
		"CodapiExecution":   reflect.TypeFor[codapiExecution](),
		"OutputEvent":       reflect.TypeFor[outputEvent](),
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
// ask it, with a key and without, accepting JSON or Server-Sent Events,
// on a healthy daemon and on a failing one, answers a status the
// document lists, in a documented content type, with a JSON body (or
// events) that matches the documented schema. A route that refuses a
// request without a key documents 401 and the key schemes; one that
// does not, does not.
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
		svc := newFakeService()
		var configure []func(*Options)
		if scenario == "failing" {
			configure = append(configure, failing(svc))
		}
		h := New(fullOptions(t, svc, configure...))
		for _, op := range doc.operations() {
			for _, v := range askedVariants {
				for _, r := range doc.exampleRequests(t, op) {
					v.prepare(r.Header)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					doc.checkAnswer(t, scenario+", "+op.String()+v.name, op, w)
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

// exampleRequests builds the requests an operation is tried with: one
// per example of its JSON request body (or one without a body), with the
// API key and the path parameters' examples.
func (d openAPIDoc) exampleRequests(t *testing.T, op operation) []*http.Request {
	t.Helper()
	path := regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllStringFunc(op.path, func(p string) string {
		params, _ := object(d.root, "paths", op.path)["parameters"].([]any)
		opParams, _ := op.op["parameters"].([]any)
		for _, param := range append(params, opParams...) {
			if pm := d.deref(t, param.(map[string]any)); pm["in"] == "path" && pm["name"] == p[1:len(p)-1] {
				if ex, ok := pm["example"].(string); ok {
					return ex
				}
			}
		}
		t.Errorf("%s: path parameter %s has no example", op, p)
		return "x"
	})
	var bodies []string
	if rb := object(op.op, "requestBody"); rb != nil {
		media := object(d.deref(t, rb), "content", "application/json")
		if ex, ok := media["example"]; ok {
			b, _ := json.Marshal(ex)
			bodies = append(bodies, string(b))
		}
		examples := object(media, "examples")
		for _, name := range sortedKeys(examples) {
			b, _ := json.Marshal(object(d.deref(t, object(examples, name)))["value"])
			bodies = append(bodies, string(b))
		}
		if len(bodies) == 0 {
			t.Errorf("%s: the JSON request body has no example to try it with", op)
		}
	} else {
		bodies = []string{""}
	}
	var reqs []*http.Request
	for _, body := range bodies {
		r := httptest.NewRequest(op.method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("X-API-Key", testKey)
		reqs = append(reqs, r)
	}
	return reqs
}

// checkAnswer checks an answer of op against the response the document
// gives for its status.
func (d openAPIDoc) checkAnswer(t *testing.T, where string, op operation, w *httptest.ResponseRecorder) {
	t.Helper()
	response := d.response(t, op, w.Code)
	if response == nil {
		t.Errorf("%s answered %d, which the document does not list: %.200s", where, w.Code, w.Body.String())
		return
	}
	d.checkBody(t, where, op.method, response, w)
}

// checkBody checks an answer to method's content type and, for JSON, its
// body against a Response Object.
func (d openAPIDoc) checkBody(t *testing.T, where, method string, response map[string]any, w *httptest.ResponseRecorder) {
	t.Helper()
	content := object(response, "content")
	if len(content) == 0 {
		// Documented without a body: fine for HEAD, whose body net/http
		// drops.
		if method != http.MethodHead && w.Body.Len() > 0 {
			t.Errorf("%s: %d has a body, which the document does not describe", where, w.Code)
		}
		return
	}
	mediaType, _, err := mime.ParseMediaType(w.Header().Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", where, w.Header().Get("Content-Type"), err)
		return
	}
	media := object(content, mediaType)
	if media == nil {
		t.Errorf("%s: %d answered in %s; the document has %v", where, w.Code, mediaType, sortedKeys(content))
		return
	}
	if mediaType == eventStreamType {
		d.checkEvents(t, where, media, w.Body.String())
		return
	}
	if mediaType != "application/json" {
		return
	}
	var body any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Errorf("%s: %d body is not JSON: %v", where, w.Code, err)
		return
	}
	for _, e := range d.conform(where, media["schema"], body) {
		t.Error(e)
	}
}

// checkEvents checks a stream of Server-Sent Events against a media
// type's x-events, the schema of each event's data by event name.
func (d openAPIDoc) checkEvents(t *testing.T, where string, media map[string]any, stream string) {
	t.Helper()
	schemas := object(media, "x-events")
	events := strings.Split(strings.TrimSuffix(stream, "\n\n"), "\n\n")
	if len(events) == 0 || stream == "" {
		t.Errorf("%s: an empty event stream", where)
	}
	for i, event := range events {
		var name, data string
		for _, line := range strings.Split(event, "\n") {
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "event":
				name = value
			case "data":
				data = value
			default:
				t.Errorf("%s: event %d has a line %q, which the document does not describe", where, i, line)
			}
		}
		schema := object(schemas, name)
		if schema == nil {
			t.Errorf("%s: event %q is not in the document's x-events", where, name)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			t.Errorf("%s: event %q's data is not JSON: %v", where, name, err)
			continue
		}
		for _, e := range d.conform(fmt.Sprintf("%s, event %d (%s)", where, i, name), schema, v) {
			t.Error(e)
		}
	}
}
