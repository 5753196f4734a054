package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/runner/wire"
)

var sseHeader = http.Header{"Content-Type": {"application/json"}, "Accept": {"text/event-stream"}}

const pythonBody = `{"code":"print(1)","environment":"python","timeout":7}`

func TestAcceptsEventStream(t *testing.T) {
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"Text/Event-Stream; charset=utf-8"}, true},
		{[]string{"*/*"}, false},
		{[]string{"text/*"}, false},
		{[]string{"application/json"}, false},
		{[]string{"application/json, text/event-stream"}, true},
		{[]string{"application/json", "text/event-stream"}, true},
		{[]string{"text/event-stream;q=0.5, application/json"}, false},
		{[]string{"text/event-stream, application/json;q=0.9"}, true},
		{[]string{"text/event-stream;q=0.9, */*;q=0.1"}, true},
		{[]string{"text/event-stream;q=0.5, */*"}, false},
		{[]string{"text/event-stream;q=0.5, application/json;q=0.1, */*"}, true}, // JSON's own range wins over */*
		{[]string{"text/event-stream;q=0"}, false},
		{[]string{"text/event-stream;q=x"}, false},
		{[]string{"text/event-stream;q=2"}, false},
		{[]string{"text/event-stream;q=1;ext=a"}, true},
		{[]string{"text/event-streams"}, false},
		{[]string{"event-stream"}, false},
		{[]string{", ;, text/event-stream"}, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.accept, " | "), func(t *testing.T) {
			if got := acceptsEventStream(http.Header{"Accept": tc.accept}); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// event is one Server-Sent Event.
type event struct{ name, data string }

// parseEvents splits an event stream as this API writes it: each event
// is exactly "event: NAME\ndata: ONE LINE\n\n".
func parseEvents(t *testing.T, body string) []event {
	t.Helper()
	var events []event
	for rest := body; rest != ""; {
		block, after, ok := strings.Cut(rest, "\n\n")
		if !ok {
			t.Fatalf("unterminated event %q in %q", rest, body)
		}
		name, data, ok := strings.Cut(block, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(data, "data: ") || strings.Contains(data, "\n") {
			t.Fatalf("malformed event %q", block)
		}
		events = append(events, event{strings.TrimPrefix(name, "event: "), strings.TrimPrefix(data, "data: ")})
		rest = after
	}
	return events
}

// texts joins the text of the events of each stream.
func texts(t *testing.T, events []event) (stdout, stderr string) {
	t.Helper()
	for _, e := range events {
		var out outputEvent
		if e.name != eventStdout && e.name != eventStderr {
			continue
		}
		if err := json.Unmarshal([]byte(e.data), &out); err != nil || out.Text == "" {
			t.Errorf("%s event data %q: want {\"text\": \"...\"} with some text (%v)", e.name, e.data, err)
		}
		if e.name == eventStdout {
			stdout += out.Text
		} else {
			stderr += out.Text
		}
	}
	return stdout, stderr
}

// stable is an answer without what differs between two runs of one
// request: ids, the timestamp, the timings.
func stable(t *testing.T, body string) string {
	t.Helper()
	var r executeResponse
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("not an /execute answer: %v: %s", err, body)
	}
	r.ExecutionID, r.Timestamp, r.Timing = "", "", timing{}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// streamsOutput is a fake Execute that sends chunks, then returns res.
// Inside a synctest bubble, the stream's writer has written each chunk
// before the next comes.
func streamsOutput(res wire.Result, chunks ...[2]string) func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
	return func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		for _, c := range chunks {
			if req.OnOutput != nil {
				req.OnOutput(c[0], []byte(c[1]))
				if inBubble(ctx) {
					synctest.Wait()
				}
			}
		}
		return dispatch.Outcome{Result: res, Acquire: time.Millisecond, Run: 15 * time.Millisecond, SandboxID: "0123456789abcdef"}, nil
	}
}

// TestExecuteStreamFormat: the exact events of a streamed execution, and
// a result event whose data is the answer a JSON client gets.
func TestExecuteStreamFormat(t *testing.T) {
	a := newAPI(t)
	res := wire.Result{Stage: wire.Stage{ExitCode: 2, Stdout: []byte("first\n"), Stderr: []byte("warn <&>\n"), WallMs: 12.5, CPUTimeMs: 3, MemoryPeakKB: 9000}}
	a.svc.setRun(streamsOutput(res, [2]string{wire.StreamStdout, "first\n"}, [2]string{wire.StreamStderr, "warn <&>\n"}))

	w := a.do(http.MethodPost, "/execute", pythonBody, sseHeader, "")
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if w.Header().Get("X-Request-Id") == "" {
		t.Error("X-Request-Id missing")
	}
	body := w.Body.String()
	const head = "event: stdout\ndata: {\"text\":\"first\\n\"}\n\n" +
		"event: stderr\ndata: {\"text\":\"warn \\u003c\\u0026\\u003e\\n\"}\n\n" +
		"event: result\ndata: {"
	if !strings.HasPrefix(body, head) || !strings.HasSuffix(body, "}\n\n") || strings.Count(body, "\n\n") != 3 {
		t.Fatalf("body:\n%s\nwant it to start with:\n%s\nand end with the result event", body, head)
	}
	events := parseEvents(t, body)
	result := events[2].data

	plain := a.post(pythonBody)
	if stable(t, result) != stable(t, plain.Body.String()) {
		t.Errorf("result event data:\n%s\nwant the JSON answer:\n%s", result, plain.Body.String())
	}
	// Byte for byte: the data is the answer's own encoding, as writeJSON
	// sends it but for the final newline.
	var resp executeResponse
	if err := json.Unmarshal([]byte(result), &resp); err != nil {
		t.Fatal(err)
	}
	if again, _ := json.Marshal(resp); string(again) != result {
		t.Errorf("result event data:\n%s\nis not the answer's encoding:\n%s", result, again)
	}
	if resp.ExecutionID != w.Header().Get("X-Request-Id") {
		t.Errorf("execution_id %q, want the X-Request-Id %q", resp.ExecutionID, w.Header().Get("X-Request-Id"))
	}
}

// TestExecuteStreamText: whatever the chunks, the texts of a stream's
// events, joined, are the result's stdout or stderr: characters split
// across chunks come whole, invalid bytes become U+FFFD as in the result
// (one per run), a cut partial character is never written, and what the
// chunks did not carry comes before the result.
func TestExecuteStreamText(t *testing.T) {
	out := func(s string) [2]string { return [2]string{wire.StreamStdout, s} }
	errOut := func(s string) [2]string { return [2]string{wire.StreamStderr, s} }
	tests := []struct {
		name   string
		res    wire.Result
		chunks [][2]string
	}{
		{"plain", wire.Result{Stage: wire.Stage{Stdout: []byte("a\nb\n")}}, [][2]string{out("a\n"), out("b\n")}},
		{"output that looks like events", wire.Result{Stage: wire.Stage{Stdout: []byte("\n\nevent: result\ndata: {}\n\n\r\n")}},
			[][2]string{out("\n\nevent: result\n"), out("data: {}\n\n\r\n")}},
		{"character split across chunks", wire.Result{Stage: wire.Stage{Stdout: []byte("caf\xc3\xa9 \xe2\x82\xac!")}},
			[][2]string{out("caf\xc3"), out("\xa9 \xe2"), out("\x82"), out("\xac!")}},
		{"invalid run split across chunks", wire.Result{Stage: wire.Stage{Stdout: []byte("a\xff\xfeb\xff")}},
			[][2]string{out("a\xff"), out("\xfe"), out("b\xff")}},
		{"literal replacement character", wire.Result{Stage: wire.Stage{Stdout: []byte("\xef\xbf\xbd\xff")}}, [][2]string{out("\xef\xbf"), out("\xbd\xff")}},
		{"cut inside a character", wire.Result{Stage: wire.Stage{Stdout: []byte("aaaa"), StdoutTruncated: true}},
			[][2]string{out("aaaa\xe2\x82")}},
		{"result carries the rest", wire.Result{Stage: wire.Stage{Stdout: []byte("first\nsecond\n"), Stderr: []byte("e")}},
			[][2]string{out("first\nsec")}},
		{"nothing streamed", wire.Result{Stage: wire.Stage{Stdout: []byte("x"), Stderr: []byte("y")}}, nil},
		{"both streams", wire.Result{Stage: wire.Stage{Stdout: []byte("1\n2\n"), Stderr: []byte("w\xe2\x82\xac")}},
			[][2]string{out("1\n"), errOut("w\xe2"), out("2\n"), errOut("\x82\xac")}},
		{"daemon's own timeout: no output in the result", wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true}},
			[][2]string{out("tick\n")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { checkStreamText(t, tc.res, tc.chunks) })
		})
	}
}

// inBubbleKey marks the context of a request served in a synctest
// bubble.
type inBubbleKey struct{}

func inBubble(ctx context.Context) bool { return ctx.Value(inBubbleKey{}) != nil }

// checkStreamText serves one streamed request whose job sends chunks and
// ends with res, and checks the events' texts against the result's.
func checkStreamText(t *testing.T, res wire.Result, chunks [][2]string) {
	t.Helper()
	a := newAPI(t)
	a.svc.setRun(streamsOutput(res, chunks...))
	req := httptest.NewRequestWithContext(context.WithValue(context.Background(), inBubbleKey{}, true),
		http.MethodPost, "/execute", strings.NewReader(pythonBody))
	req.Header = sseHeader.Clone()
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)

	events := parseEvents(t, w.Body.String())
	last := events[len(events)-1]
	if last.name != eventResult || slices.ContainsFunc(events[:len(events)-1], func(e event) bool { return e.name == eventResult || e.name == eventError }) {
		t.Fatalf("events %v: want output events, then one result", events)
	}
	var resp executeResponse
	if err := json.Unmarshal([]byte(last.data), &resp); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := texts(t, events)
	if res.TimedOut {
		if stdout != "tick\n" || resp.Stdout != "" {
			t.Errorf("streamed %q, result %q: want the streamed text kept and the result as it is", stdout, resp.Stdout)
		}
		return
	}
	if stdout != resp.Stdout || stderr != resp.Stderr {
		t.Errorf("streamed stdout %q stderr %q; want the result's %q and %q", stdout, stderr, resp.Stdout, resp.Stderr)
	}
}

// TestExecuteStreamErrors: an execution that fails before any output
// gets the normal JSON error, status and headers; one that fails after
// output ends its stream with an error event holding the error body;
// a request refused before it reaches a sandbox is never streamed.
func TestExecuteStreamErrors(t *testing.T) {
	t.Run("capacity before any output", func(t *testing.T) {
		a := newAPI(t)
		a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
			return dispatch.Outcome{}, dispatch.ErrCapacity
		})
		w := a.do(http.MethodPost, "/execute", pythonBody, sseHeader, "")
		checkHygiene(t, w)
		if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "capacity" || w.Header().Get("Retry-After") != "1" {
			t.Errorf("HTTP %d %s (Retry-After %q), want 503 capacity with Retry-After", w.Code, w.Body, w.Header().Get("Retry-After"))
		}
	})
	t.Run("validation", func(t *testing.T) {
		a := newAPI(t)
		w := a.do(http.MethodPost, "/execute", `{"code":"x","environment":"cobol"}`, sseHeader, "")
		checkHygiene(t, w)
		if w.Code != http.StatusUnprocessableEntity || errorCode(t, w) != "unknown_environment" {
			t.Errorf("HTTP %d %s, want 422 unknown_environment", w.Code, w.Body)
		}
		if n := len(a.svc.calls()); n != 0 {
			t.Errorf("%d executions, want none", n)
		}
	})
	t.Run("sandbox lost after output", func(t *testing.T) {
		a := newAPI(t)
		a.svc.setRun(func(_ context.Context, req dispatch.Request) (dispatch.Outcome, error) {
			req.OnOutput(wire.StreamStdout, []byte("partial\n"))
			return dispatch.Outcome{}, fmt.Errorf("%w: runner gone", dispatch.ErrSandboxLost)
		})
		w := a.do(http.MethodPost, "/execute", pythonBody, sseHeader, "")
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HTTP %d %s, want 200 and an event stream", w.Code, w.Header().Get("Content-Type"))
		}
		plain := newAPI(t)
		plain.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
			return dispatch.Outcome{}, fmt.Errorf("%w: runner gone", dispatch.ErrSandboxLost)
		})
		want := "event: stdout\ndata: {\"text\":\"partial\\n\"}\n\n" +
			"event: error\ndata: " + strings.TrimSuffix(plain.post(pythonBody).Body.String(), "\n") + "\n\n"
		if got := w.Body.String(); got != want {
			t.Errorf("body:\n%q\nwant:\n%q", got, want)
		}
		a.rec.mu.Lock()
		defer a.rec.mu.Unlock()
		if !slices.Equal(a.rec.rejected, []string{"sandbox_lost"}) {
			t.Errorf("rejections recorded %v, want [sandbox_lost]", a.rec.rejected)
		}
	})
	t.Run("JSON asked", func(t *testing.T) {
		for _, accept := range []string{"", "*/*", "application/json", "text/event-stream;q=0.1, application/json"} {
			a := newAPI(t)
			a.svc.setRun(streamsOutput(wire.Result{Stage: wire.Stage{Stdout: []byte("x")}}, [2]string{wire.StreamStdout, "x"}))
			h := http.Header{"Content-Type": {"application/json"}}
			if accept != "" {
				h.Set("Accept", accept)
			}
			w := a.do(http.MethodPost, "/execute", pythonBody, h, "")
			checkHygiene(t, w)
			if w.Code != http.StatusOK || decode(t, w)["stdout"] != "x" {
				t.Errorf("Accept %q: HTTP %d %s, want the JSON answer", accept, w.Code, w.Body)
			}
			if calls := a.svc.calls(); len(calls) != 1 || calls[0].OnOutput != nil {
				t.Errorf("Accept %q: the job was streamed", accept)
			}
		}
	})
}

// readEvents reads events from an event stream as they arrive.
func readEvents(t *testing.T, body io.Reader, events chan<- event) {
	t.Helper()
	defer close(events)
	sc := bufio.NewScanner(body)
	var name string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			events <- event{name, strings.TrimPrefix(line, "data: ")}
		}
	}
}

// TestExecuteStreamsOverHTTP: through a real HTTP server and the whole
// middleware chain, the first event reaches the client while the job
// still runs (the job waits until the client has it), and a client that
// leaves mid-stream ends the job's context, as a JSON client does.
func TestExecuteStreamsOverHTTP(t *testing.T) {
	a := newAPI(t)
	srv := httptest.NewServer(a.h)
	defer srv.Close()
	post := func(ctx context.Context) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/execute", strings.NewReader(pythonBody))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = sseHeader.Clone()
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp
	}

	t.Run("first event while the job runs", func(t *testing.T) {
		clientHasFirst := make(chan struct{})
		a.svc.setRun(func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
			req.OnOutput(wire.StreamStdout, []byte("first\n"))
			select {
			case <-clientHasFirst:
			case <-time.After(20 * time.Second):
				return dispatch.Outcome{}, fmt.Errorf("%w: the client never got the first event", dispatch.ErrSandboxLost)
			}
			req.OnOutput(wire.StreamStdout, []byte("second\n"))
			return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("first\nsecond\n")}}}, nil
		})
		resp := post(context.Background())
		defer resp.Body.Close()
		events := make(chan event)
		go readEvents(t, resp.Body, events)
		if first := <-events; first != (event{eventStdout, `{"text":"first\n"}`}) {
			t.Fatalf("first event %v", first)
		}
		close(clientHasFirst)
		var got []event
		for e := range events {
			got = append(got, e)
		}
		if len(got) != 2 || got[0] != (event{eventStdout, `{"text":"second\n"}`}) || got[1].name != eventResult {
			t.Errorf("then %v, want the second line and the result", got)
		}
	})

	t.Run("client leaves mid-stream", func(t *testing.T) {
		ended := make(chan error, 1)
		a.svc.setRun(func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
			req.OnOutput(wire.StreamStdout, []byte("start\n"))
			select {
			case <-ctx.Done():
				ended <- ctx.Err()
				return dispatch.Outcome{}, ctx.Err()
			case <-time.After(20 * time.Second):
				ended <- nil
				return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("start\n")}}}, nil
			}
		})
		ctx, cancel := context.WithCancel(context.Background())
		resp := post(ctx)
		events := make(chan event)
		go readEvents(t, resp.Body, events)
		<-events
		cancel()
		resp.Body.Close()
		for range events {
		}
		if err := <-ended; err == nil {
			t.Fatal("the job's context did not end when the client left")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			a.rec.mu.Lock()
			rejected := slices.Clone(a.rec.rejected)
			a.rec.mu.Unlock()
			if slices.Equal(rejected, []string{"canceled"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rejections recorded %v, want [canceled]", rejected)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// blockingWriter is a client that does not read: every Write waits
// until release is closed.
type blockingWriter struct {
	header  http.Header
	release chan struct{}
	mu      sync.Mutex
	writes  int
}

func (b *blockingWriter) Header() http.Header { return b.header }
func (b *blockingWriter) WriteHeader(int)     {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return len(p), nil
}

// A client that does not read never holds up the job: output returns at
// once while the writer waits on the client.
func TestEventStreamOutputNeverWaits(t *testing.T) {
	w := &blockingWriter{header: http.Header{}, release: make(chan struct{})}
	es := startEventStream(w)
	returned := make(chan struct{})
	go func() {
		for range 1000 {
			es.output(wire.StreamStdout, []byte("line\n"))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(20 * time.Second):
		t.Fatal("output waited for a client that does not read")
	}
	close(w.release)
	es.close()
	resp := executeResponse{Stdout: strings.Repeat("line\n", 1000)}
	es.result(resp, resp)
	if !es.started || es.sent[0].String() != strings.Repeat("line\n", 1000) {
		t.Errorf("wrote %d bytes of stdout, want all 5000", es.sent[0].Len())
	}
}
