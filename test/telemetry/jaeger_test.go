package telemetry_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Jaeger's query API (the v1 JSON of /api/traces), the parts we read.
type jTrace struct {
	TraceID   string              `json:"traceID"`
	Spans     []jSpan             `json:"spans"`
	Processes map[string]jProcess `json:"processes"`
}

type jProcess struct {
	ServiceName string `json:"serviceName"`
}

type jSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []jRef `json:"references"`
	Tags          []jTag `json:"tags"`
	ProcessID     string `json:"processID"`
}

type jRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jTag struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

type jAnswer struct {
	Data   []jTrace `json:"data"`
	Errors []struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"errors"`
}

// Jaeger prints ids without leading zeros in places; compare them padded.
func traceKey(id string) string { return fmt.Sprintf("%032s", strings.ToLower(id)) }
func spanKey(id string) string  { return fmt.Sprintf("%016s", strings.ToLower(id)) }

func (s jSpan) tag(key string) (jTag, bool) {
	for _, t := range s.Tags {
		if t.Key == key {
			return t, true
		}
	}
	return jTag{}, false
}

// str, boolean and integer return a tag's value of that type, or an
// error naming what the span carried.
func (s jSpan) str(key string) (string, error) {
	t, ok := s.tag(key)
	if !ok {
		return "", fmt.Errorf("%s has no tag %s (tags %v)", s.OperationName, key, s.Tags)
	}
	v, ok := t.Value.(string)
	if !ok || t.Type != "string" {
		return "", fmt.Errorf("%s: tag %s = %v (%s), want a string", s.OperationName, key, t.Value, t.Type)
	}
	return v, nil
}

func (s jSpan) boolean(key string) (bool, error) {
	t, ok := s.tag(key)
	if !ok {
		return false, fmt.Errorf("%s has no tag %s (tags %v)", s.OperationName, key, s.Tags)
	}
	v, ok := t.Value.(bool)
	if !ok || t.Type != "bool" {
		return false, fmt.Errorf("%s: tag %s = %v (%s), want a bool", s.OperationName, key, t.Value, t.Type)
	}
	return v, nil
}

func (s jSpan) integer(key string) (int64, error) {
	t, ok := s.tag(key)
	if !ok {
		return 0, fmt.Errorf("%s has no tag %s (tags %v)", s.OperationName, key, s.Tags)
	}
	v, ok := t.Value.(float64)
	if !ok || t.Type != "int64" {
		return 0, fmt.Errorf("%s: tag %s = %v (%s), want an int64", s.OperationName, key, t.Value, t.Type)
	}
	return int64(v), nil
}

// parent returns the CHILD_OF reference within the span's trace.
func (s jSpan) parent() (jRef, bool) {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" && traceKey(r.TraceID) == traceKey(s.TraceID) {
			return r, true
		}
	}
	return jRef{}, false
}

// links returns the span's OTel links: every reference but its parent.
func (s jSpan) links() []jRef {
	p, hasParent := s.parent()
	var out []jRef
	for _, r := range s.References {
		if hasParent && r == p {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (tr jTrace) ops(name string) []jSpan {
	var out []jSpan
	for _, s := range tr.Spans {
		if s.OperationName == name {
			out = append(out, s)
		}
	}
	return out
}

func (tr jTrace) span(id string) (jSpan, bool) {
	for _, s := range tr.Spans {
		if spanKey(s.SpanID) == spanKey(id) {
			return s, true
		}
	}
	return jSpan{}, false
}

func (tr jTrace) summary() string {
	var b strings.Builder
	for _, s := range tr.Spans {
		fmt.Fprintf(&b, "\n  %s %s refs=%v", s.SpanID, s.OperationName, s.References)
	}
	return b.String()
}

// fetchTrace polls /api/traces/<id> until the trace holds a span of every
// operation in want (spans of one trace may arrive in several batches).
func fetchTrace(t *testing.T, b *budget, id string, want ...string) (jTrace, bool) {
	t.Helper()
	var tr jTrace
	var raw []byte
	msg := b.eventually(func() string {
		var ans jAnswer
		var err error
		raw, err = getJSON(jaegerQuery+"/api/traces/"+id, &ans)
		if err != nil {
			return err.Error()
		}
		if len(ans.Data) != 1 {
			return fmt.Sprintf("%d traces in the answer", len(ans.Data))
		}
		tr = ans.Data[0]
		for _, op := range want {
			if len(tr.ops(op)) == 0 {
				return "no " + op + " span yet"
			}
		}
		return ""
	})
	if msg != "" {
		t.Errorf("trace %s not in Jaeger with spans %v within %s: %s\nJaeger answered: %s", id, want, b, msg, clip(raw))
		return tr, false
	}
	return tr, true
}

// search polls /api/traces?service=... until check accepts the traces.
func search(t *testing.T, b *budget, what string, params []string, check func([]jTrace) string) []jTrace {
	t.Helper()
	var ans jAnswer
	var raw []byte
	u := query(jaegerQuery+"/api/traces", params...)
	msg := b.eventually(func() string {
		ans = jAnswer{}
		var err error
		if raw, err = getJSON(u, &ans); err != nil {
			return err.Error()
		}
		return check(ans.Data)
	})
	if msg != "" {
		t.Errorf("%s: %s (within %s)\nGET %s\nJaeger answered: %s", what, msg, b, u, clip(raw))
	}
	return ans.Data
}

// checkJaeger asserts every execution's trace and the background traces
// linked from it.
func checkJaeger(t *testing.T, service string, begin time.Time, execs []*execution) {
	start := strconv.FormatInt(begin.Add(-time.Minute).UnixMicro(), 10)
	end := func() string { return strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10) }
	b := newBudget(exportWait)

	// The search by service finds exactly the requests' traces.
	want := map[string]bool{}
	for _, e := range execs {
		want[traceKey(e.traceID)] = true
	}
	search(t, b, "search by service and operation", []string{"service", service, "operation", "POST /execute",
		"start", start, "end", end(), "limit", "100"}, func(trs []jTrace) string {
		got := map[string]bool{}
		for _, tr := range trs {
			got[traceKey(tr.TraceID)] = true
		}
		for id := range want {
			if !got[id] {
				return fmt.Sprintf("trace %s missing from %d found", id, len(got))
			}
		}
		if len(got) != len(want) {
			return fmt.Sprintf("%d POST /execute traces of %s, want %d", len(got), service, len(want))
		}
		return ""
	})

	for _, e := range execs {
		t.Run(e.name, func(t *testing.T) {
			if e.traceID == "" {
				t.Fatal("no trace id in the response")
			}
			tr, ok := fetchTrace(t, b, e.traceID, "POST /execute", "pool.acquire", "sandbox.handoff")
			if !ok {
				return
			}
			if msg := requestTree(e, service, tr); msg != "" {
				t.Errorf("%s\ntrace %s:%s", msg, e.traceID, tr.summary())
				return
			}
			acquire, handoff := tr.ops("pool.acquire")[0], tr.ops("sandbox.handoff")[0]
			sandbox, _ := acquire.str("warmbox.sandbox.id")
			checkCreate(t, b, e, service, acquire, handoff, sandbox)
			search(t, b, "sandbox.destroy of "+sandbox, []string{"service", service, "operation", "sandbox.destroy",
				"tags", fmt.Sprintf(`{"warmbox.sandbox.id":%q}`, sandbox), "start", start, "end", end(), "limit", "10"},
				func(trs []jTrace) string { return destroyed(trs, e.language, sandbox) })
		})
	}
}

// requestTree checks a request's trace: the server span, its two
// children and their attributes against the response. It returns what is
// wrong, or "".
func requestTree(e *execution, service string, tr jTrace) string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	check := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	for _, s := range tr.Spans {
		if p := tr.Processes[s.ProcessID]; p.ServiceName != service {
			bad("span %s %s of service %q, want %q", s.SpanID, s.OperationName, p.ServiceName, service)
		}
	}
	servers, acquires, handoffs := tr.ops("POST /execute"), tr.ops("pool.acquire"), tr.ops("sandbox.handoff")
	if len(servers) != 1 || len(acquires) != 1 || len(handoffs) != 1 {
		return fmt.Sprintf("%d POST /execute, %d pool.acquire, %d sandbox.handoff spans, want one each",
			len(servers), len(acquires), len(handoffs))
	}
	server, acquire, handoff := servers[0], acquires[0], handoffs[0]

	// The server span: a root, or the caller's span's child.
	p, hasParent := server.parent()
	switch {
	case e.parentSpan == "" && hasParent:
		bad("POST /execute has parent %v, want a root span", p)
	case e.parentSpan != "" && !hasParent:
		bad("POST /execute has no parent, want the caller's span %s (references %v)", e.parentSpan, server.References)
	case e.parentSpan != "" && (spanKey(p.SpanID) != spanKey(e.parentSpan) || traceKey(p.TraceID) != traceKey(e.parentTrace)):
		bad("POST /execute parent %s:%s, want the caller's %s:%s", p.TraceID, p.SpanID, e.parentTrace, e.parentSpan)
	}
	for k, want := range map[string]string{"span.kind": "server", "http.route": "/execute", "http.request.method": "POST"} {
		if got, err := server.str(k); err != nil {
			check(err)
		} else if got != want {
			bad("POST /execute: %s = %q, want %q", k, got, want)
		}
	}
	if got, err := server.integer("http.response.status_code"); err != nil {
		check(err)
	} else if got != 200 {
		bad("POST /execute: http.response.status_code = %d, want 200", got)
	}

	// Both children hang off the server span.
	for _, s := range []jSpan{acquire, handoff} {
		if p, ok := s.parent(); !ok || spanKey(p.SpanID) != spanKey(server.SpanID) {
			bad("%s: parent %v, want POST /execute (%s)", s.OperationName, p, server.SpanID)
		}
		if got, err := s.str("warmbox.language"); err != nil {
			check(err)
		} else if got != e.language {
			bad("%s: warmbox.language = %q, want %q", s.OperationName, got, e.language)
		}
		if _, ok := s.tag("error"); ok {
			bad("%s is marked as an error (tags %v); the program's outcome is not the span's", s.OperationName, s.Tags)
		}
	}

	_, err := acquire.boolean("warmbox.pool.waited")
	check(err)
	if _, ok := acquire.tag("warmbox.pool.wait_ms"); !ok {
		bad("pool.acquire has no tag warmbox.pool.wait_ms (tags %v)", acquire.Tags)
	}
	sandbox, err := acquire.str("warmbox.sandbox.id")
	check(err)

	if got, err := handoff.str("warmbox.handoff"); err != nil {
		check(err)
	} else if got != "exec" && got != "prestart" {
		bad("sandbox.handoff: warmbox.handoff = %q, want exec or prestart", got)
	}
	if got, err := handoff.str("warmbox.sandbox"); err != nil {
		check(err)
	} else if got == "" || !strings.HasPrefix(sandbox, got) {
		bad("sandbox.handoff: warmbox.sandbox = %q, want the short form of pool.acquire's %q", got, sandbox)
	}
	if got, err := handoff.integer("warmbox.exit_code"); err != nil {
		check(err)
	} else if code, ok := e.body["exit_code"].(float64); ok && got != int64(code) {
		bad("sandbox.handoff: warmbox.exit_code = %d, the response says %v", got, code)
	} else if !ok && got >= 0 {
		// A signal ended the program: the response's exit_code is null.
		bad("sandbox.handoff: warmbox.exit_code = %d, want < 0 when the response has none (signal %v)", got, e.body["signal"])
	} else if e.exitCode != nil && got != int64(*e.exitCode) {
		bad("sandbox.handoff: warmbox.exit_code = %d, want %d", got, *e.exitCode)
	}
	if got, err := handoff.boolean("warmbox.timed_out"); err != nil {
		check(err)
	} else if got != e.body["timed_out"] || got != e.timedOut {
		bad("sandbox.handoff: warmbox.timed_out = %v, the response says %v", got, e.body["timed_out"])
	}
	trunc, _ := e.body["truncated"].(map[string]any)
	if got, err := handoff.boolean("warmbox.truncated"); err != nil {
		check(err)
	} else if want := trunc["stdout"] == true || trunc["stderr"] == true; got != want {
		bad("sandbox.handoff: warmbox.truncated = %v, the response says %v", got, e.body["truncated"])
	}
	return strings.Join(errs, "\n")
}

// checkCreate follows the links of pool.acquire and sandbox.handoff to the
// sandbox's sandbox.create, which must be the root of a trace of its own.
func checkCreate(t *testing.T, b *budget, e *execution, service string, acquire, handoff jSpan, sandbox string) {
	t.Helper()
	hl, al := handoff.links(), acquire.links()
	if len(hl) != 1 {
		t.Errorf("sandbox.handoff has %d links, want 1 to its sandbox.create (references %v)", len(hl), handoff.References)
		return
	}
	link := hl[0]
	if len(al) != 1 || al[0].TraceID != link.TraceID || al[0].SpanID != link.SpanID {
		t.Errorf("pool.acquire links %v, want the same sandbox.create as sandbox.handoff's %v", al, link)
	}
	if traceKey(link.TraceID) == traceKey(e.traceID) {
		t.Errorf("sandbox.create %v is in the request's trace, want a trace of its own", link)
		return
	}
	tr, ok := fetchTrace(t, b, link.TraceID, "sandbox.create")
	if !ok {
		return
	}
	create, ok := tr.span(link.SpanID)
	switch {
	case !ok:
		t.Errorf("link target %s is not in trace %s:%s", link.SpanID, link.TraceID, tr.summary())
	case create.OperationName != "sandbox.create":
		t.Errorf("link target is %q, want sandbox.create", create.OperationName)
	case len(create.References) != 0:
		t.Errorf("sandbox.create has references %v, want a root span", create.References)
	case tr.Processes[create.ProcessID].ServiceName != service:
		t.Errorf("sandbox.create of service %q, want %q", tr.Processes[create.ProcessID].ServiceName, service)
	}
	if got, err := create.str("warmbox.sandbox.id"); err != nil {
		t.Error(err)
	} else if got != sandbox {
		t.Errorf("sandbox.create: warmbox.sandbox.id = %q, want %q (pool.acquire's)", got, sandbox)
	}
	if got, err := create.str("warmbox.language"); err != nil {
		t.Error(err)
	} else if got != e.language {
		t.Errorf("sandbox.create: warmbox.language = %q, want %q", got, e.language)
	}
	if _, ok := create.tag("error"); ok {
		t.Errorf("sandbox.create is marked as an error: %v", create.Tags)
	}
}

// destroyed reports why trs holds no sandbox.destroy root span of the
// sandbox with reason "used", or "".
func destroyed(trs []jTrace, language, sandbox string) string {
	var seen []string
	for _, tr := range trs {
		for _, s := range tr.ops("sandbox.destroy") {
			id, _ := s.str("warmbox.sandbox.id")
			reason, _ := s.str("warmbox.destroy.reason")
			lang, _ := s.str("warmbox.language")
			seen = append(seen, fmt.Sprintf("%s/%s/%s refs=%v", id, reason, lang, s.References))
			if id == sandbox && reason == "used" && lang == language && len(s.References) == 0 {
				return ""
			}
		}
	}
	b, _ := json.Marshal(seen)
	return fmt.Sprintf("no root sandbox.destroy of %s with reason used and language %s; seen %s", sandbox, language, b)
}
