package httpapi

import (
	"cmp"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// TestOpenAPIErrorCodes: the document's ErrorCode enum is exactly the
// set of codes the package's source builds an apiError with. Each
// (status, code) built where errors are answered in warmbox's own shape
// is documented at that status: in an operation's response, or, for
// answers outside any operation (404, 405), in components.responses
// under the status's name (NotFound); and no operation documents a code
// at a status the source never gives it. Errors built in the files of a
// dialect that answers in its own shape (Piston, codapi) have no code in
// their body; their statuses are checked by TestOpenAPIErrorResponses.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc := loadOpenAPI(t)
	built, ownShape := constructedErrors(t)
	if len(built) == 0 {
		t.Fatal("found no apiError in the package's source")
	}
	if len(ownShape) == 0 {
		t.Error("found no dialect that answers in its own shape; is the dialect type still read right?")
	}

	enum := sorted(stringList(object(doc.root, "components", "schemas", "ErrorCode")["enum"]))
	var codes []string
	for _, e := range built {
		if !slices.Contains(codes, e.code) {
			codes = append(codes, e.code)
		}
	}
	codes = sorted(codes)
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("error code %q is built in the source but is not in ErrorCode's enum", c)
		}
	}
	for _, c := range enum {
		if !slices.Contains(codes, c) {
			t.Errorf("ErrorCode's enum has %q, which the source never builds", c)
		}
	}

	documented := map[errorPair]bool{}
	for _, op := range doc.operations() {
		for status := range object(op.op, "responses") {
			n, err := strconv.Atoi(status)
			if err != nil {
				continue
			}
			for _, c := range errorCodes(doc.response(t, op, n)) {
				documented[errorPair{n, c}] = true
			}
		}
	}
	outside := map[errorPair]bool{} // in components.responses by status name
	for name, response := range object(doc.root, "components", "responses") {
		if n, ok := statusByName["Status"+name]; ok {
			for _, c := range errorCodes(object(response)) {
				outside[errorPair{n, c}] = true
			}
		}
	}
	builtPairs := map[errorPair]bool{}
	for _, e := range built {
		if ownShape[e.file] {
			continue
		}
		p := errorPair{e.status, e.code}
		builtPairs[p] = true
		if !documented[p] && !outside[p] {
			t.Errorf("%s builds %q with status %d; no response of the document lists it at %d "+
				"(add it to an operation's %d response, or to components.responses.%s)",
				e.pos, e.code, e.status, e.status, e.status, strings.ReplaceAll(http.StatusText(e.status), " ", ""))
		}
	}
	for p := range documented {
		if !builtPairs[p] {
			t.Errorf("the document lists %q at status %d, which the source never builds", p.code, p.status)
		}
	}
}

// errorPair is an error code at an HTTP status.
type errorPair struct {
	status int
	code   string
}

// builtError is one place in the source that builds an apiError.
type builtError struct {
	status int
	code   string
	file   string // "piston.go"
	pos    string // "piston.go:209:34"
}

// statusByName maps net/http's status constants ("StatusNotFound") to
// their values, through the status texts they are named after.
var statusByName = func() map[string]int {
	m := map[string]int{}
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m["Status"+strings.Map(func(r rune) rune {
				if r == ' ' || r == '-' || r == '\'' {
					return -1
				}
				return r
			}, text)] = code
		}
	}
	return m
}()

// constructedErrors parses the package's non-test files and returns every
// apiError they build: composite literals with a string code, and calls
// of constructors whose code is a parameter (unsupportedMedia,
// duplicateKey) with a string argument. Anything else that sets a code
// fails the test, so that a new way of building errors extends this
// function rather than escaping it. ownShape are the files that define a
// dialect whose fail is not writeError: their errors are answered in
// another API's shape.
func constructedErrors(t *testing.T) (built []builtError, ownShape map[string]bool) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	consts := intConstants(files)
	statusOf := func(e ast.Expr) (int, bool) {
		switch x := e.(type) {
		case *ast.SelectorExpr:
			if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "http" {
				n, ok := statusByName[x.Sel.Name]
				return n, ok
			}
		case *ast.Ident:
			n, ok := consts[x.Name]
			return n, ok
		case *ast.BasicLit:
			n, err := strconv.Atoi(x.Value)
			return n, err == nil
		}
		return 0, false
	}

	// A constructor builds an apiError whose code is its parameter.
	type constructor struct{ param, status int }
	constructors := map[string]constructor{}
	ownShape = map[string]bool{}
	for _, f := range files {
		for _, decl := range f.Decls {
			fn, _ := decl.(*ast.FuncDecl)
			ast.Inspect(decl, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.AssignStmt:
					for _, lhs := range x.Lhs {
						if sel, ok := lhs.(*ast.SelectorExpr); ok && sel.Sel.Name == "code" {
							t.Errorf("%s assigns a code outside a composite literal; teach constructedErrors to read it", fset.Position(x.Pos()))
						}
					}
				case *ast.CompositeLit:
					id, ok := x.Type.(*ast.Ident)
					if ok && id.Name == "dialect" {
						if fail, ok := keyedFields(x)["fail"].(*ast.Ident); !ok || fail.Name != "writeError" {
							ownShape[fset.Position(x.Pos()).Filename] = true
						}
					}
					if !ok || id.Name != "apiError" {
						return true
					}
					pos := fset.Position(x.Pos()).String()
					file := fset.Position(x.Pos()).Filename
					fields := keyedFields(x)
					status, ok := statusOf(fields["status"])
					if !ok {
						t.Errorf("%s: an apiError whose status this test cannot read", pos)
						return true
					}
					switch code := fields["code"].(type) {
					case *ast.BasicLit:
						s, err := strconv.Unquote(code.Value)
						if err != nil {
							t.Errorf("%s: code %s: %v", pos, code.Value, err)
						}
						built = append(built, builtError{status, s, file, pos})
					case *ast.Ident:
						if i := paramIndex(fn, code.Name); i >= 0 {
							constructors[fn.Name.Name] = constructor{i, status}
							return true
						}
						t.Errorf("%s: an apiError whose code, %s, is neither a string nor a parameter", pos, code.Name)
					default:
						t.Errorf("%s: an apiError whose code this test cannot read", pos)
					}
				}
				return true
			})
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			id, ok := call.Fun.(*ast.Ident)
			if !ok {
				return true
			}
			c, ok := constructors[id.Name]
			if !ok {
				return true
			}
			pos := fset.Position(call.Pos()).String()
			lit, ok := call.Args[c.param].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: %s is called with a code that is not a string literal", pos, id.Name)
				return true
			}
			s, _ := strconv.Unquote(lit.Value)
			built = append(built, builtError{c.status, s, fset.Position(call.Pos()).Filename, pos})
			return true
		})
	}
	return built, ownShape
}

// keyedFields maps a composite literal's keys to their values.
func keyedFields(lit *ast.CompositeLit) map[string]ast.Expr {
	m := map[string]ast.Expr{}
	for _, e := range lit.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if k, ok := kv.Key.(*ast.Ident); ok {
				m[k.Name] = kv.Value
			}
		}
	}
	return m
}

// paramIndex is the position of the parameter called name in fn's
// signature, or -1.
func paramIndex(fn *ast.FuncDecl, name string) int {
	if fn == nil {
		return -1
	}
	i := 0
	for _, field := range fn.Type.Params.List {
		for _, n := range field.Names {
			if n.Name == name {
				return i
			}
			i++
		}
	}
	return -1
}

// intConstants are the package's integer constants written as literals
// (statusClientClosed).
func intConstants(files []*ast.File) map[string]int {
	m := map[string]int{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
							if n, err := strconv.Atoi(lit.Value); err == nil {
								m[name.Name] = n
							}
						}
					}
				}
			}
		}
	}
	return m
}

// TestOpenAPIErrorResponses: each error the API raises, provoked for
// real, matches the response the document gives for its status: where
// that response lists codes (warmbox's own shape), with the case's code;
// on the compatible APIs, in their shapes.
func TestOpenAPIErrorResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	fail := func(err error) func(*fakeService, *Options) {
		return func(svc *fakeService, _ *Options) {
			svc.run = func(context.Context, dispatch.Request) (dispatch.Outcome, error) { return dispatch.Outcome{}, err }
		}
	}
	const (
		piston       = "POST /api/v2/execute"
		codapi       = "POST /v1/exec"
		openSession  = "POST /sessions"
		getSession   = "GET /sessions/{id}"
		runInSession = "POST /sessions/{id}/execute"
		e2bCreate    = "POST /e2b/v2/sandboxes"
		e2bExecute   = "POST /e2b/execute"
	)
	sessionsConfig := func(cfg dispatch.SessionConfig, others int) func(*fakeService, *Options) {
		return func(svc *fakeService, _ *Options) {
			svc.sessions.cfg = cfg
			for range others { // open for another client
				_, _ = svc.OpenSession(context.Background(), "python", "203.0.113.9", 0, 0)
			}
		}
	}
	sessionsOff := sessionsConfig(dispatch.SessionConfig{IdleTTL: time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}, 0) // max 0
	sessionsFull := sessionsConfig(dispatch.SessionConfig{Max: 1, MaxPerClient: 1, IdleTTL: time.Minute, MaxIdleTTL: time.Hour, MaxLifetime: time.Hour}, 1)
	draining := func(_ *fakeService, o *Options) { o.Draining = func() bool { return true } }
	tests := []struct {
		name      string // the error code, where the answer has one, unless code says
		code      string // "" = name
		op        string // "" = POST /execute
		configure func(*fakeService, *Options)
		method    string          // "" = the operation's
		target    string          // "" = the path the operation's examples (and links) give
		header    http.Header     // replaces these keys of the default header
		body      string          // "" = a valid body
		times     int             // sends the request this often; the last answer counts
		ctx       context.Context // nil = background
		want      int
		response  string // a component, for an answer outside any operation
	}{
		{name: "invalid_json", body: `{"code": `, want: 400},
		{name: "key_in_query", target: "/execute?api_key=" + testKey, want: 400},
		{name: "unauthorized", header: http.Header{"X-Api-Key": {"wrong-key-0123456789"}}, want: 401},
		{name: "body_too_large", body: `{"code": "` + strings.Repeat("x", 70<<10) + `", "environment": "python"}`, want: 413},
		{name: "unsupported_media_type", header: http.Header{"Content-Type": {"text/plain"}}, want: 415},
		{name: "unsupported_encoding", header: http.Header{"Content-Encoding": {"gzip"}}, want: 415},
		{name: "host_not_allowed", header: http.Header{"Host": {"rebound.example"}}, want: 421},
		{name: "invalid_request", body: `{"code": "x", "environment": "python", "timeout": 0}`, want: 422},
		{name: "unknown_field", body: `{"code": "x", "environment": "python", "Code": "y"}`, want: 422},
		{name: "duplicate_key", body: `{"code": "x", "environment": "python", "code": "y"}`, want: 422},
		{name: "duplicate_file_name", body: `{"code": "x", "environment": "python", "files": {"a.py": "", "a.py": ""}}`, want: 422},
		{name: "unknown_environment", body: `{"code": "x", "environment": "cobol"}`, want: 422},
		{name: "rate_limited", configure: func(_ *fakeService, o *Options) {
			o.Limiter = policy.NewLimiter(policy.RateLimit{Requests: 1, Window: time.Hour})
		}, times: 2, want: 429},
		{name: "client_closed_request", configure: fail(context.Canceled), ctx: canceled(), want: 499},
		{name: "internal", configure: fail(errors.New("a bug")), want: 500},
		{name: "capacity", configure: fail(dispatch.ErrCapacity), want: 503},
		{name: "environment_unavailable", configure: fail(dispatch.ErrUnavailable), want: 503},
		{name: "sandbox_lost", configure: fail(dispatch.ErrSandboxLost), want: 503},
		{name: "shutting_down", configure: func(_ *fakeService, o *Options) { o.Draining = func() bool { return true } }, want: 503},
		{name: "not_found", method: http.MethodGet, target: "/nowhere", want: 404, response: "NotFound"},
		{name: "method_not_allowed", method: http.MethodDelete, want: 405, response: "MethodNotAllowed"},

		{name: "piston unknown runtime", op: piston, body: `{"language": "cobol", "version": "*", "files": [{"content": "x"}]}`, want: 400},
		{name: "piston invalid", op: piston, body: `{"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": -1}`, want: 400},
		{name: "piston unauthorized", op: piston, header: http.Header{"X-Api-Key": nil}, want: 401},
		{name: "piston internal", op: piston, configure: fail(errors.New("a bug")), want: 500},
		{name: "piston capacity", op: piston, configure: fail(dispatch.ErrCapacity), want: 503},
		{name: "codapi unknown sandbox", op: codapi, body: `{"sandbox": "cobol", "command": "run", "files": {"": "x"}}`, want: 404},
		{name: "codapi unknown command", op: codapi, body: `{"sandbox": "python", "command": "test", "files": {"": "x"}}`, want: 404},
		{name: "codapi empty program", op: codapi, body: `{"sandbox": "python", "command": "run", "files": {"": " "}}`, want: 400},
		{name: "codapi unsupported media type", op: codapi, header: http.Header{"Content-Type": {"text/plain"}}, want: 415},
		{name: "codapi internal", op: codapi, configure: fail(errors.New("a bug")), want: 500},
		{name: "codapi shutting down", op: codapi, configure: draining, want: 503},

		{name: "session_not_found", op: getSession, target: "/sessions/s-closed", want: 404},
		{name: "session run, unknown session", code: "session_not_found", op: runInSession, target: "/sessions/s-closed/execute", want: 404},
		{name: "session_busy", op: runInSession, configure: fail(dispatch.ErrSessionBusy), want: 409},
		{name: "session run, sandbox lost", code: "sandbox_lost", op: runInSession, configure: fail(dispatch.ErrSandboxLost), want: 503},
		{name: "session run, unknown field", code: "unknown_field", op: runInSession, body: `{"code": "1", "stdin": "x"}`, want: 422},
		{name: "too_many_sessions", op: openSession, times: 3, want: 429},
		{name: "sessions_full", op: openSession, configure: sessionsFull, want: 503},
		{name: "sessions_unavailable", op: openSession, configure: sessionsOff, want: 422},
		{name: "session idle_ttl out of range", code: "invalid_request", op: openSession, body: `{"environment": "python", "idle_ttl": 0}`, want: 422},
		{name: "session open, shutting down", code: "shutting_down", op: openSession, configure: draining, want: 503},

		{name: "e2b unknown sandbox", op: "GET /e2b/sandboxes/{id}", target: "/e2b/sandboxes/inope", want: 404},
		{name: "e2b kill, unknown sandbox", op: "DELETE /e2b/sandboxes/{id}", target: "/e2b/sandboxes/inope", want: 404},
		{name: "e2b timeout under a second", op: "POST /e2b/sandboxes/{id}/timeout", body: `{"timeout": 0.5}`, want: 400},
		{name: "e2b create, not JSON", op: e2bCreate, body: `{"templateID": `, want: 400},
		{name: "e2b unauthorized", op: e2bCreate, header: http.Header{"X-Api-Key": {"wrong-key-0123456789"}}, want: 401},
		{name: "e2b too many sessions", op: e2bCreate, times: 3, want: 429},
		{name: "e2b sessions off", op: e2bCreate, configure: sessionsOff, want: 422},
		{name: "e2b sessions full", op: e2bCreate, configure: sessionsFull, want: 503},
		{name: "e2b shutting down", op: e2bCreate, configure: draining, want: 503},
		{name: "e2b execute, unknown sandbox", op: e2bExecute, header: http.Header{"E2b-Sandbox-Id": {"inope"}}, want: 502},
		{name: "e2b execute, wrong token", op: e2bExecute, header: http.Header{"E2b-Traffic-Access-Token": {"WRONG"}}, want: 403},
		{name: "e2b execute, unknown context", op: e2bExecute, body: `{"code": "1", "context_id": "nope"}`, want: 404},
		{name: "e2b execute, context and language", op: e2bExecute, body: `{"code": "1", "context_id": "nope", "language": "python"}`, want: 400},
		{name: "e2b execute, rate limited", op: e2bExecute, configure: func(_ *fakeService, o *Options) {
			o.Limiter = policy.NewLimiter(policy.RateLimit{Requests: 1, Window: time.Hour}) // spent by the sandbox's creation
		}, want: 429},
		{name: "e2b context, unknown language", op: "POST /e2b/contexts", body: `{"language": "cobol"}`, want: 400},
		{name: "e2b restart, unknown context", op: "POST /e2b/contexts/{id}/restart", target: "/e2b/contexts/nope/restart", want: 404},
		{name: "e2b remove, unknown context", op: "DELETE /e2b/contexts/{id}", target: "/e2b/contexts/nope", want: 404},
		{name: "e2b health, unknown sandbox", op: "GET /e2b/health", header: http.Header{"E2b-Sandbox-Id": {"inope"}}, want: 502},
	}
	ops := map[string]operation{}
	for _, op := range doc.operations() {
		ops[op.String()] = op
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.op == "" {
				tc.op = "POST /execute"
			}
			op, ok := ops[tc.op]
			if !ok {
				t.Fatalf("the document has no %s", tc.op)
			}
			svc := newFakeService()
			opts := fullOptions(t, svc)
			if tc.configure != nil {
				tc.configure(svc, &opts)
			}
			h := New(opts)
			reqs, err := doc.exampleRequests(t, op, h)
			if err != nil {
				t.Fatal(err)
			}
			valid := reqs[0]
			method, target, body := op.method, valid.URL.RequestURI(), ""
			if b, err := io.ReadAll(valid.Body); err == nil {
				body = string(b)
			}
			if tc.method != "" {
				method = tc.method
			}
			if tc.target != "" {
				target = tc.target
			}
			if tc.body != "" {
				body = tc.body
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var w *httptest.ResponseRecorder
			for range max(tc.times, 1) {
				r := httptest.NewRequestWithContext(ctx, method, target, strings.NewReader(body))
				r.Header = valid.Header.Clone()
				for k, v := range tc.header {
					r.Header[k] = v
				}
				if host := tc.header.Get("Host"); host != "" {
					r.Host = host
				}
				w = httptest.NewRecorder()
				h.ServeHTTP(w, r)
			}
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			response := doc.response(t, op, w.Code)
			if tc.response != "" {
				if response, err = doc.pointer("#/components/responses/" + tc.response); err != nil {
					t.Fatal(err)
				}
			}
			if response == nil {
				t.Fatalf("%s answered %d, which the document does not list: %.200s", op, w.Code, w.Body.String())
			}
			if len(errorCodes(response)) > 0 { // warmbox's own shape
				want := cmp.Or(tc.code, tc.name)
				if code := errorCode(t, w); code != want {
					t.Fatalf("code %q, want %q", code, want)
				}
			}
			doc.checkBody(t, tc.name, method, response, w)
		})
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
