package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// executeResponse is the answer to a program that ran, whatever its
// outcome. The first seven fields are the original service's.
type executeResponse struct {
	ExecutionID   string    `json:"execution_id"`
	Status        string    `json:"status"` // success | error | timeout
	Output        *string   `json:"output"` // stdout+stderr on success, else null
	Error         *string   `json:"error"`  // on error/timeout: why, then stderr+stdout; null on success
	ExecutionTime jsonFloat `json:"execution_time"`
	Environment   string    `json:"environment"`
	Timestamp     string    `json:"timestamp"`

	Stdout       string    `json:"stdout"`
	Stderr       string    `json:"stderr"`
	ExitCode     *int      `json:"exit_code"` // null when a signal ended the program
	Signal       *string   `json:"signal"`
	TimedOut     bool      `json:"timed_out"`
	OOMKilled    bool      `json:"oom_killed"`
	Truncated    truncated `json:"truncated"`
	Timing       timing    `json:"timing"`
	CPUTimeMs    jsonFloat `json:"cpu_time_ms"`
	MemoryPeakKB int64     `json:"memory_peak_kb"`
	TraceID      string    `json:"trace_id"`
	// Compile is a compiled language's compile stage; absent for an
	// interpreted one. When it failed, the program did not run.
	Compile *compileStage `json:"compile,omitempty"`
	// Files are the files return_files selected, in name order; absent
	// when the request asked for none. FilesTruncated: more matched than
	// max_return_files or max_return_bytes allowed.
	Files          []returnedFile `json:"files,omitempty"`
	FilesTruncated bool           `json:"files_truncated,omitempty"`
}

// returnedFile is a file the program wrote, base64-encoded.
type returnedFile struct {
	Name     string `json:"name"`
	Size     int    `json:"size"`
	Encoding string `json:"encoding"` // always base64
	Content  string `json:"content"`
}

// compileStage is how the compiler ended.
type compileStage struct {
	Stdout    string    `json:"stdout"`
	Stderr    string    `json:"stderr"`
	ExitCode  *int      `json:"exit_code"` // null when a signal ended the compiler
	Signal    *string   `json:"signal"`
	TimedOut  bool      `json:"timed_out"`
	Time      jsonFloat `json:"time"` // wall seconds
	CPUTimeMs jsonFloat `json:"cpu_time_ms"`
	Truncated truncated `json:"truncated"`
	// MemoryPeakKB is the compiler's peak resident set size.
	MemoryPeakKB int64 `json:"memory_peak_kb"`
}

// newCompileStage is the answer's view of a compile stage.
func newCompileStage(st *wire.Stage) *compileStage {
	if st == nil {
		return nil
	}
	c := &compileStage{
		Stdout:       strings.ToValidUTF8(string(st.Stdout), "\uFFFD"),
		Stderr:       strings.ToValidUTF8(string(st.Stderr), "\uFFFD"),
		TimedOut:     st.TimedOut,
		Time:         round3(st.WallMs / 1000),
		CPUTimeMs:    round3(st.CPUTimeMs),
		Truncated:    truncated{Stdout: st.StdoutTruncated, Stderr: st.StderrTruncated},
		MemoryPeakKB: st.MemoryPeakKB,
	}
	c.ExitCode, c.Signal = exitOrSignal(st.ExitCode, st.Signal)
	return c
}

type truncated struct {
	Stdout bool `json:"stdout"`
	Stderr bool `json:"stderr"`
}

// timing splits the request's time: queue (arrival to the start of the
// acquire: auth, rate limit, reading and validating the body), acquire
// (waiting for a sandbox), run (the hand-off) and total.
type timing struct {
	QueueMs   jsonFloat `json:"queue_ms"`
	AcquireMs jsonFloat `json:"acquire_ms"`
	RunMs     jsonFloat `json:"run_ms"`
	TotalMs   jsonFloat `json:"total_ms"`
}

// dialect is one API's spelling of an execution: warmbox's own
// /execute, Piston's and codapi's. Every dialect runs the same pipeline
// (drain check, auth, the per-client caps, content type, a bounded body
// read, then the dispatcher), so each limit, metric and log line is
// defined once; a dialect only parses its body and writes its answers.
type dialect struct {
	// textPlain also accepts a text/plain body holding JSON: the
	// clients of some APIs send one (a CORS "simple request").
	textPlain bool
	// streams answers a request whose Accept header asks for
	// text/event-stream with Server-Sent Events (eventStream): the
	// output as it comes, then the answer warmbox's own /execute gives.
	streams bool
	// parse decodes and validates a body into a request for a served
	// language. On an error after the language is known it still
	// returns the request with Language set, for the log.
	parse func(body []byte) (dispatch.Request, *apiError)
	// execute runs the request; nil is the dispatcher's Execute (a
	// fresh sandbox). A session's run sends it to the session instead.
	execute func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error)
	// body is the answer of the route for a program that ran, as JSON
	// (also the data of a streamed answer's result event); nil is resp,
	// warmbox's own answer, complete.
	body func(resp executeResponse, out dispatch.Outcome) any
	// answer writes the response for a program that ran, for an API
	// whose answer is not JSON with status 200 (nil: body is written);
	// resp is warmbox's own answer for it, complete.
	answer func(w http.ResponseWriter, req dispatch.Request, resp executeResponse)
	// fail writes an error in the API's shape.
	fail func(w http.ResponseWriter, e *apiError)
}

// native is warmbox's own POST /execute.
func (s *server) native() dialect {
	return dialect{
		streams: true,
		parse: func(body []byte) (dispatch.Request, *apiError) {
			q, e := decodeExecute(body)
			if e != nil {
				return dispatch.Request{}, e
			}
			lang, ok := s.svc.Limits(q.Environment)
			if !ok {
				return dispatch.Request{}, unknownEnvironment(q.Environment, s.served())
			}
			req, e := q.validate(lang)
			req.Language = lang.Name
			return req, e
		},
		fail: writeError,
	}
}

// POST /execute.
func (s *server) execute(w http.ResponseWriter, r *http.Request) {
	s.run(w, r, s.native())
}

// run is the pipeline every execution route shares: auth, rate limit,
// content type, body, the dialect's parse, then the dispatcher. No
// sandbox is leased before the body is read in full and validated. A
// streamed answer (dialect.streams) differs only in how it is written.
func (s *server) run(w http.ResponseWriter, r *http.Request, d dialect) {
	ctx := r.Context()
	id := requestID(ctx)
	client := s.clientIP(r)
	traceID := ""
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		traceID = sc.TraceID().String()
		w.Header().Set("X-Trace-Id", traceID)
	}
	var events *eventStream // a streamed answer, once the job is handed over
	fail := func(e *apiError, language string) {
		s.reject(e.reason)
		s.logReject(ctx, e, id, client, language)
		if events != nil && events.started {
			events.fail(e) // too late for a status: the stream began
			return
		}
		setErrorHeaders(w, e)
		d.fail(w, e)
	}

	if s.draining() {
		fail(errDraining, "")
		return
	}
	if e := s.authenticate(r); e != nil {
		fail(e, "")
		return
	}
	// The cap on executions in flight first: a request it refuses does
	// not spend the client's rate limit.
	key := policy.ClientKey(client)
	done, ok := s.opts.Concurrency.Acquire(key)
	if !ok {
		fail(tooManyConcurrent(s.opts.Concurrency.Max()), "")
		return
	}
	defer done()
	if ok, retry := s.opts.Limiter.Allow(key); !ok {
		fail(rateLimited(retry), "")
		return
	}
	if e := checkContentType(r, d.textPlain); e != nil {
		fail(e, "")
		return
	}
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		fail(e, "")
		return
	}
	req, e := d.parse(body)
	if e != nil {
		fail(e, req.Language)
		return
	}

	if d.streams && acceptsEventStream(r.Header) {
		events = startEventStream(w)
		defer events.close()
		req.OnOutput = events.output
	}
	// The dispatcher bounds the wait for a sandbox by the job's timeout
	// and the run by timeout plus its kill grace; ctx ends only when the
	// client leaves.
	start := time.Now()
	queue := start.Sub(arrival(ctx))
	execute := d.execute
	if execute == nil {
		execute = s.svc.Execute
	}
	out, err := execute(ctx, req)
	if events != nil {
		events.close() // the handler writes from here on
	}
	if err != nil {
		e := errorFor(err)
		if ctx.Err() != nil { // the client left: whatever failed, that is why
			e = errorFor(ctx.Err())
		}
		fail(e, req.Language)
		return
	}
	total := time.Since(arrival(ctx))
	resp := s.response(id, req, out, timing{
		QueueMs: ms(queue), AcquireMs: ms(out.Acquire), RunMs: ms(out.Run), TotalMs: ms(total),
	})
	resp.TraceID = traceID
	s.count(resp.Status)
	if s.opts.Recorder != nil {
		s.opts.Recorder.Execution(req.Language, resp.Status, total, ctx)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "execution",
		slog.String("execution_id", id),
		slog.String("route", r.URL.Path),
		slog.String("language", req.Language),
		slog.String("status", resp.Status),
		slog.Any("exit_code", resp.ExitCode),
		slog.String("signal", out.Result.Signal),
		slog.Bool("oom_killed", out.Result.OOMKilled),
		slog.Bool("truncated", out.Result.StdoutTruncated || out.Result.StderrTruncated),
		slog.Int("code_bytes", len(req.Code)),
		slog.Int("files", len(req.Files)),
		slog.Float64("queue_ms", float64(resp.Timing.QueueMs)),
		slog.Float64("acquire_ms", float64(resp.Timing.AcquireMs)),
		slog.Float64("run_ms", float64(resp.Timing.RunMs)),
		slog.Float64("total_ms", float64(resp.Timing.TotalMs)),
		slog.Bool("waited", out.Waited),
		slog.String("sandbox", shortID(out.SandboxID)),
		slog.String("client", client),
		slog.String("trace_id", traceID))
	var answer any = resp
	if d.body != nil {
		answer = d.body(resp, out)
	}
	if events != nil {
		events.result(resp, answer)
		return
	}
	if d.answer == nil {
		writeJSON(w, http.StatusOK, answer)
		return
	}
	d.answer(w, req, resp)
}

// response builds the answer for a program that ran.
func (s *server) response(id string, req dispatch.Request, out dispatch.Outcome, t timing) executeResponse {
	res := out.Result
	stdout := strings.ToValidUTF8(string(res.Stdout), "\uFFFD")
	stderr := strings.ToValidUTF8(string(res.Stderr), "\uFFFD")
	resp := executeResponse{
		ExecutionID:  id,
		Environment:  req.Language,
		Timestamp:    timestamp(time.Now()),
		Stdout:       stdout,
		Stderr:       stderr,
		TimedOut:     res.TimedOut,
		OOMKilled:    res.OOMKilled,
		Truncated:    truncated{Stdout: res.StdoutTruncated, Stderr: res.StderrTruncated},
		Timing:       t,
		CPUTimeMs:    round3(res.CPUTimeMs),
		MemoryPeakKB: res.MemoryPeakKB,
	}
	wall := res.WallMs
	if wall <= 0 {
		wall = float64(out.Run) / float64(time.Millisecond)
	}
	resp.ExecutionTime = round3(wall / 1000)
	resp.Compile = newCompileStage(res.Compile)
	resp.FilesTruncated = res.FilesTruncated
	for _, f := range res.Files {
		resp.Files = append(resp.Files, returnedFile{Name: f.Name, Size: len(f.Content), Encoding: "base64",
			Content: base64.StdEncoding.EncodeToString(f.Content)})
	}
	if c := resp.Compile; c != nil && !res.Compile.OK() {
		// The program never started: no exit code, no signal of its own.
		resp.Status, resp.ExecutionTime = res.Status(), 0
		why := "compilation failed"
		switch {
		case c.TimedOut:
			why = fmt.Sprintf("compilation timed out after %g seconds", s.compileTimeout(req.Language))
		case c.Signal != nil:
			why = "compilation failed: the compiler was killed by signal " + *c.Signal
		case c.ExitCode != nil:
			why = fmt.Sprintf("compilation failed (exit status %d)", *c.ExitCode)
		}
		text := merge(c.Stderr, c.Truncated.Stderr, c.Stdout, c.Truncated.Stdout)
		if text != "" {
			why += "\n" + text
		}
		resp.Error = &why
		return resp
	}
	resp.ExitCode, resp.Signal = exitOrSignal(res.ExitCode, res.Signal)

	resp.Status = res.Status()
	if resp.Status == "success" {
		text := merge(stdout, res.StdoutTruncated, stderr, res.StderrTruncated)
		resp.Output = &text
		return resp
	}
	var why string
	switch {
	case res.TimedOut:
		why = fmt.Sprintf("execution timed out after %d seconds", int64(req.Timeout/time.Second))
	case res.OOMKilled:
		why = "killed: out of memory"
	case res.Signal != "":
		why = "killed by signal " + res.Signal
	}
	text := merge(stderr, res.StderrTruncated, stdout, res.StdoutTruncated)
	switch {
	case why != "" && text != "":
		text = why + "\n" + text
	case why != "":
		text = why
	}
	resp.Error = &text
	return resp
}

// exitOrSignal is how a process ended, as the answer says it: the signal
// that ended it, or else its exit status; the other is null.
func exitOrSignal(code int, signal string) (*int, *string) {
	if signal != "" {
		return nil, &signal
	}
	return &code, nil
}

// compileTimeout is a language's compile stage timeout, in seconds.
func (s *server) compileTimeout(language string) float64 {
	l, _ := s.svc.Limits(language)
	return l.Limits.CompileTimeout.Seconds()
}

// merge joins two streams into the original's single text, marking a
// stream that was cut at the output limit.
func merge(a string, aCut bool, b string, bCut bool) string {
	const mark = "\n[output truncated]\n"
	var sb strings.Builder
	sb.WriteString(a)
	if aCut {
		sb.WriteString(mark)
	}
	sb.WriteString(b)
	if bCut {
		sb.WriteString(mark)
	}
	return sb.String()
}

func (s *server) count(status string) {
	switch status {
	case "success":
		s.success.Add(1)
	case "timeout":
		s.timedOut.Add(1)
	default:
		s.failed.Add(1)
	}
}

// logReject logs a refused request: server-side failures with their
// cause, client mistakes briefly, floods (429, 401) at debug level.
func (s *server) logReject(ctx context.Context, e *apiError, id, client, language string) {
	level := slog.LevelInfo
	switch {
	case e.status >= 500:
		level = slog.LevelWarn
		if e.status == http.StatusInternalServerError {
			level = slog.LevelError
		}
	case e.status == http.StatusTooManyRequests, e.status == http.StatusUnauthorized:
		level = slog.LevelDebug
	}
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("execution_id", id),
		slog.Int("status", e.status),
		slog.String("code", e.code),
		slog.String("client", client),
	}
	if language != "" {
		attrs = append(attrs, slog.String("language", language))
	}
	if e.cause != nil && !errors.Is(e.cause, context.Canceled) {
		attrs = append(attrs, slog.String("err", e.cause.Error()))
	}
	s.log.LogAttrs(ctx, level, "execution refused", attrs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
