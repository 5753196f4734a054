package httpapi

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// How the OpenAPI tests ask an operation (its examples, after the
// operations whose links lead to it) and read its answer (JSON,
// Server-Sent Events, JSON lines).

// ndjsonType is the media type of E2B's execution stream: one JSON
// object a line.
const ndjsonType = "application/x-ndjson"

// maxLinkDepth bounds a chain of links (an E2B context's restart is
// reached from its creation, which is reached from its sandbox's).
const maxLinkDepth = 4

// exampleRequests builds the requests an operation is tried with: one
// per example of its JSON request body (or one without a body), with the
// API key and its path and header parameters' examples.
//
// When a link of the document leads to the operation (a session's id
// from POST /sessions, an E2B sandbox's id and token from its creation),
// the link's parameters come from a real answer instead: the operation
// the link is on is asked first, on h, as its own examples ask it, so
// that h holds what the parameters name. If it does not answer the
// link's status (a daemon that refuses everything), the examples stand,
// and err says why.
func (d openAPIDoc) exampleRequests(t *testing.T, op operation, h http.Handler) ([]*http.Request, error) {
	t.Helper()
	return d.requestsFor(t, op, h, 0)
}

func (d openAPIDoc) requestsFor(t *testing.T, op operation, h http.Handler, depth int) ([]*http.Request, error) {
	t.Helper()
	var linked map[string]string // "path.id", "header.E2b-Sandbox-Id"
	var err error
	for _, l := range d.links(t) {
		if l.to.String() != op.String() || l.from.String() == op.String() {
			continue
		}
		if depth >= maxLinkDepth {
			err = fmt.Errorf("%s: links lead to it through more than %d operations", op, maxLinkDepth)
			break
		}
		linked, err = d.follow(t, l, h, depth+1)
		break
	}
	params := d.parameters(t, op)
	path := regexp.MustCompile(`\{([^}]+)\}`).ReplaceAllStringFunc(op.path, func(p string) string {
		name := p[1 : len(p)-1]
		if v, ok := linked["path."+name]; ok {
			return url.PathEscape(v)
		}
		for _, pm := range params {
			if pm["in"] == "path" && pm["name"] == name {
				if ex, ok := pm["example"].(string); ok {
					return ex
				}
			}
		}
		t.Errorf("%s: path parameter %s has no example", op, p)
		return "x"
	})
	header := http.Header{}
	header.Set("X-API-Key", testKey)
	for _, pm := range params {
		if name, _ := pm["name"].(string); pm["in"] == "header" {
			if ex, ok := pm["example"].(string); ok {
				header.Set(name, ex)
			}
		}
	}
	for key, v := range linked {
		if name, ok := strings.CutPrefix(key, "header."); ok {
			header.Set(name, v)
		}
	}

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
		r.Header = header.Clone()
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		reqs = append(reqs, r)
	}
	return reqs, err
}

// parameters are op's Parameter Objects, its path's and its own,
// resolved.
func (d openAPIDoc) parameters(t *testing.T, op operation) []map[string]any {
	t.Helper()
	shared, _ := object(d.root, "paths", op.path)["parameters"].([]any)
	own, _ := op.op["parameters"].([]any)
	var out []map[string]any
	for _, p := range append(shared, own...) {
		if pm, ok := p.(map[string]any); ok {
			out = append(out, d.deref(t, pm))
		}
	}
	return out
}

// keyHeaders are the headers of the apiKey schemes in op's security
// requirements ("E2B-Traffic-Access-Token").
func (d openAPIDoc) keyHeaders(op operation) []string {
	var out []string
	security, _ := op.op["security"].([]any)
	for _, req := range security {
		for _, name := range sortedKeys(object(req)) {
			scheme := object(d.root, "components", "securitySchemes", name)
			if scheme["type"] == "apiKey" && scheme["in"] == "header" {
				out = append(out, scheme["name"].(string))
			}
		}
	}
	return out
}

// link is an OpenAPI Link: an answer of one operation that leads to
// another, with the values of some of its parameters.
type link struct {
	from       operation
	status     int
	name       string
	to         operation
	parameters map[string]any // "path.id": "$response.body#/id"
}

// links are the document's links, in the order of its operations, their
// statuses and the links' names. A link to an operationId the document
// does not have fails the test.
func (d openAPIDoc) links(t *testing.T) []link {
	t.Helper()
	ops := d.operations()
	byID := map[string]operation{}
	for _, op := range ops {
		if id, ok := op.op["operationId"].(string); ok {
			byID[id] = op
		}
	}
	var out []link
	for _, from := range ops {
		responses := object(from.op, "responses")
		for _, status := range sortedKeys(responses) {
			n, err := strconv.Atoi(status)
			if err != nil {
				continue
			}
			links := object(d.deref(t, object(responses, status)), "links")
			for _, name := range sortedKeys(links) {
				l := d.deref(t, object(links, name))
				id, _ := l["operationId"].(string)
				to, ok := byID[id]
				if !ok {
					t.Errorf("%s %d: link %q leads to operationId %q, which the document does not have", from, n, name, id)
					continue
				}
				out = append(out, link{from: from, status: n, name: name, to: to, parameters: object(l, "parameters")})
			}
		}
	}
	return out
}

// linkTarget is where a link's parameter key puts its value in op's
// requests: "path.id" is the path parameter id, "header.X" the header
// parameter X or the header of one of op's apiKey schemes, an
// unqualified name op's parameter of that name. Header names come back
// canonical. ok is false when op has no such parameter.
func (d openAPIDoc) linkTarget(t *testing.T, op operation, key string) (in, name string, ok bool) {
	t.Helper()
	in, name, qualified := strings.Cut(key, ".")
	if !qualified {
		in, name = "", key
	}
	for _, p := range d.parameters(t, op) {
		pin, _ := p["in"].(string)
		pname, _ := p["name"].(string)
		if (in == "" || in == pin) && (pname == name || pin == "header" && strings.EqualFold(pname, name)) {
			if pin == "header" {
				pname = http.CanonicalHeaderKey(pname)
			}
			return pin, pname, true
		}
	}
	if in == "header" {
		for _, h := range d.keyHeaders(op) {
			if strings.EqualFold(h, name) {
				return "header", http.CanonicalHeaderKey(h), true
			}
		}
	}
	return "", "", false
}

// follow asks l's operation on h, as its first example asks it, and
// evaluates l's parameters on that request and its answer; they are
// keyed by where linkTarget puts them ("path.id").
func (d openAPIDoc) follow(t *testing.T, l link, h http.Handler, depth int) (map[string]string, error) {
	t.Helper()
	reqs, err := d.requestsFor(t, l.from, h, depth)
	if err != nil {
		return nil, err
	}
	r := reqs[0]
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != l.status {
		return nil, fmt.Errorf("%s, asked for its link %q to %s, answered %d, not %d: %.200s",
			l.from, l.name, l.to, w.Code, l.status, w.Body.String())
	}
	values := map[string]string{}
	for _, key := range sortedKeys(l.parameters) {
		in, name, ok := d.linkTarget(t, l.to, key)
		if !ok {
			return nil, fmt.Errorf("%s's link %q: %s has no parameter %q", l.from, l.name, l.to, key)
		}
		v, err := runtimeValue(l.parameters[key], r, w)
		if err != nil {
			return nil, fmt.Errorf("%s's link %q, %s: %w", l.from, l.name, key, err)
		}
		values[in+"."+name] = v
	}
	return values, nil
}

// runtimeExpression reads a link parameter's value: a constant (a JSON
// value other than a string that starts with "$"), or one of the runtime
// expressions this check evaluates: $response.body#<JSON pointer>,
// $response.header.<name>, $request.header.<name>. Any other expression
// is an error, so that the document uses none this check cannot follow.
func runtimeExpression(v any) (source, arg string, err error) {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "$") {
		return "constant", fmt.Sprint(v), nil
	}
	for _, prefix := range []string{"$response.body#", "$response.header.", "$request.header."} {
		if arg, ok := strings.CutPrefix(s, prefix); ok && (arg != "" || prefix == "$response.body#") {
			return strings.TrimSuffix(prefix, "."), arg, nil
		}
	}
	return "", "", fmt.Errorf("runtime expression %q is not known to this check", s)
}

// runtimeValue evaluates a link parameter's value on the request r that
// was sent and its answer w.
func runtimeValue(v any, r *http.Request, w *httptest.ResponseRecorder) (string, error) {
	source, arg, err := runtimeExpression(v)
	if err != nil {
		return "", err
	}
	var value string
	switch source {
	case "constant":
		return arg, nil
	case "$response.header":
		value = w.Header().Get(arg)
	case "$request.header":
		value = r.Header.Get(arg)
	case "$response.body#":
		var body any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			return "", fmt.Errorf("the answer is not JSON: %v", err)
		}
		found, err := jsonPointer(body, arg)
		if err != nil {
			return "", err
		}
		switch x := found.(type) {
		case string:
			value = x
		case float64:
			value = strconv.FormatFloat(x, 'f', -1, 64)
		default:
			return "", fmt.Errorf("%s is %s, not a string or a number", arg, describe(found))
		}
	}
	if value == "" {
		return "", fmt.Errorf("%v is empty", v)
	}
	return value, nil
}

// jsonPointer resolves a JSON pointer ("/sandboxID") in decoded JSON.
func jsonPointer(doc any, pointer string) (any, error) {
	if pointer == "" {
		return doc, nil
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", pointer)
	}
	node := doc
	for _, step := range strings.Split(pointer[1:], "/") {
		step = strings.NewReplacer("~1", "/", "~0", "~").Replace(step)
		switch x := node.(type) {
		case map[string]any:
			next, ok := x[step]
			if !ok {
				return nil, fmt.Errorf("JSON pointer %q: no %q", pointer, step)
			}
			node = next
		case []any:
			i, err := strconv.Atoi(step)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("JSON pointer %q: no item %q", pointer, step)
			}
			node = x[i]
		default:
			return nil, fmt.Errorf("JSON pointer %q: %q is in %s", pointer, step, describe(node))
		}
	}
	return node, nil
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
// body against a Response Object; for Server-Sent Events and JSON lines,
// each event or line.
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
	switch mediaType {
	case eventStreamType:
		d.checkEvents(t, where, media, w.Body.String())
		return
	case ndjsonType:
		d.checkLines(t, where, media, w.Body.String())
		return
	case "application/json":
	default:
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

// checkLines checks a stream of JSON lines against a media type's
// x-lines, the schema of each line by its "type": every line, each ended
// by a newline, is one JSON object (a blank line breaks E2B's SDK), of a
// documented type, with the fields its schema gives.
func (d openAPIDoc) checkLines(t *testing.T, where string, media map[string]any, stream string) {
	t.Helper()
	schemas := object(media, "x-lines")
	if len(schemas) == 0 {
		t.Errorf("%s: the document gives no x-lines for %s", where, ndjsonType)
		return
	}
	if !strings.HasSuffix(stream, "\n") {
		t.Errorf("%s: the stream is empty or its last line has no newline: %q", where, stream)
	}
	for i, line := range strings.Split(strings.TrimSuffix(stream, "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil || v == nil {
			t.Errorf("%s: line %d, %q, is not a JSON object", where, i, line)
			continue
		}
		typ, _ := v["type"].(string)
		schema := object(schemas, typ)
		if schema == nil {
			t.Errorf("%s: line %d's type %q is not in the document's x-lines", where, i, typ)
			continue
		}
		for _, e := range d.conform(fmt.Sprintf("%s, line %d (%s)", where, i, typ), schema, any(v)) {
			t.Error(e)
		}
	}
}
