package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// The E2B data plane: the code interpreter's port (/execute, /contexts)
// and envd's /health, addressed by the E2b-Sandbox-Id header.

// e2bData resolves a data-plane request's sandbox (E2b-Sandbox-Id) and
// checks its trafficAccessToken on the code interpreter's port; it
// answers failures itself.
func (s *server) e2bData(w http.ResponseWriter, r *http.Request) (*e2bSandbox, bool) {
	if s.draining() {
		setErrorHeaders(w, errDraining)
		e2bText(w, errDraining.status, errDraining.message)
		return nil, false
	}
	id := r.Header.Get("E2b-Sandbox-Id")
	sb := s.e2bLookup(id)
	if id == "" || sb == nil {
		e2bGone(w, id)
		return nil, false
	}
	token := r.Header.Get("E2b-Traffic-Access-Token")
	if subtle.ConstantTimeCompare([]byte(token), []byte(sb.token)) != 1 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("a valid E2B-Traffic-Access-Token is required (the one create returned)"))
		return nil, false
	}
	return sb, true
}

// e2bText answers the data plane's errors, which the SDK reads as text.
func e2bText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// e2bLanguage maps E2B's language names to warmbox's; "" is python.
func e2bLanguage(name string) (warmbox, e2b string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "python", "python3", "py":
		return "python", "python", true
	case "javascript", "js", "node", "nodejs":
		return "node", "javascript", true
	case "bash", "sh", "shell":
		return "bash", "bash", true
	}
	return "", "", false
}

// e2bLanguageName is E2B's name of a warmbox language.
func e2bLanguageName(language string) string {
	if language == "node" {
		return "javascript"
	}
	return language
}

// e2bDefaultContext returns the sandbox's default context of language,
// opening its session the first time.
func (s *server) e2bDefaultContext(ctx context.Context, sb *e2bSandbox, language string) (*e2bContext, *apiError) {
	sb.mu.Lock()
	if id, ok := sb.defaults[language]; ok {
		c := sb.contexts[id]
		sb.mu.Unlock()
		return c, nil
	}
	sb.mu.Unlock()
	c, e := s.e2bOpenContext(ctx, sb, language)
	if e != nil {
		return nil, e
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if id, ok := sb.defaults[language]; ok { // another request opened it meanwhile
		_ = s.svc.CloseSession(c.session)
		delete(sb.contexts, c.id)
		return sb.contexts[id], nil
	}
	sb.defaults[language] = c.id
	return c, nil
}

// e2bOpenContext opens a session of language for sb as a new context,
// with the sandbox's envVars set in it.
func (s *server) e2bOpenContext(ctx context.Context, sb *e2bSandbox, language string) (*e2bContext, *apiError) {
	info, err := s.svc.OpenSession(ctx, language, sb.owner, s.svc.SessionConfig().MaxIdleTTL, 0)
	if err != nil {
		return nil, errorFor(err)
	}
	c := &e2bContext{id: strings.ToLower(rand.Text()), language: language, session: info.ID}
	if len(sb.envVars) > 0 {
		if _, err := s.e2bCell(ctx, c, envCell(language, sb.envVars)); err != nil {
			_ = s.svc.CloseSession(info.ID)
			return nil, errorFor(err)
		}
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.killed {
		_ = s.svc.CloseSession(info.ID)
		return nil, errorFor(dispatch.ErrNoSession)
	}
	sb.contexts[c.id] = c
	return c, nil
}

// e2bCell runs code in context c with the language's maximum timeout.
func (s *server) e2bCell(ctx context.Context, c *e2bContext, code string) (dispatch.Outcome, error) {
	l, ok := s.svc.Limits(c.language)
	if !ok {
		return dispatch.Outcome{}, dispatch.ErrUnknownLanguage
	}
	return s.svc.RunInSession(ctx, c.session, dispatch.Request{Language: c.language, Code: code, Timeout: l.Limits.MaxTimeout})
}

// e2bContextBody is a context as the SDK reads it.
type e2bContextBody struct {
	ID       string `json:"id"`
	Language string `json:"language"`
	Cwd      string `json:"cwd"`
}

func e2bContextBodyOf(c *e2bContext) e2bContextBody {
	return e2bContextBody{ID: c.id, Language: e2bLanguageName(c.language), Cwd: "/tmp"}
}

// POST /e2b/contexts: {"language"?, "cwd"?}. Every context works in
// /tmp, the sandbox's only writable directory; cwd is not applied.
func (s *server) e2bCreateContext(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.e2bData(w, r)
	if !ok {
		return
	}
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		e2bText(w, e.status, e.message)
		return
	}
	var q struct {
		Language string `json:"language"`
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &q); err != nil {
			e2bText(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
			return
		}
	}
	language, _, ok := e2bLanguage(q.Language)
	if !ok {
		e2bText(w, http.StatusBadRequest, "language "+quote(q.Language)+" is not served; use python, javascript or bash")
		return
	}
	c, e := s.e2bOpenContext(r.Context(), sb, language)
	if e != nil {
		e2bText(w, e.status, e.message)
		return
	}
	writeJSON(w, http.StatusOK, e2bContextBodyOf(c))
}

// GET /e2b/contexts
func (s *server) e2bListContexts(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.e2bData(w, r)
	if !ok {
		return
	}
	sb.mu.Lock()
	out := make([]e2bContextBody, 0, len(sb.contexts))
	for _, c := range sb.contexts {
		out = append(out, e2bContextBodyOf(c))
	}
	sb.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	writeJSON(w, http.StatusOK, out)
}

// e2bContextOf resolves a data-plane request's sandbox and the context
// named in its path; it answers failures itself (c is nil then).
func (s *server) e2bContextOf(w http.ResponseWriter, r *http.Request) (sb *e2bSandbox, c *e2bContext) {
	sb, ok := s.e2bData(w, r)
	if !ok {
		return nil, nil
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	sb.mu.Lock()
	c = sb.contexts[id]
	sb.mu.Unlock()
	if c == nil {
		e2bText(w, http.StatusNotFound, "Context "+id+" not found")
	}
	return sb, c
}

// DELETE /e2b/contexts/:id
func (s *server) e2bRemoveContext(w http.ResponseWriter, r *http.Request) {
	sb, c := s.e2bContextOf(w, r)
	if c == nil {
		return
	}
	sb.mu.Lock()
	delete(sb.contexts, c.id)
	for lang, id := range sb.defaults {
		if id == c.id {
			delete(sb.defaults, lang)
		}
	}
	sb.mu.Unlock()
	_ = s.svc.CloseSession(c.session)
	w.WriteHeader(http.StatusNoContent)
}

// POST /e2b/contexts/:id/restart: a fresh interpreter, same context id.
func (s *server) e2bRestartContext(w http.ResponseWriter, r *http.Request) {
	sb, c := s.e2bContextOf(w, r)
	if c == nil {
		return
	}
	c.run.Lock()
	defer c.run.Unlock()
	if e := s.e2bRestart(r.Context(), sb, c); e != nil {
		e2bText(w, e.status, e.message)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// e2bRestart replaces c's session with a fresh one. c.run is held.
func (s *server) e2bRestart(ctx context.Context, sb *e2bSandbox, c *e2bContext) *apiError {
	_ = s.svc.CloseSession(c.session)
	fresh, e := s.e2bOpenContext(ctx, sb, c.language)
	if e != nil {
		return e
	}
	sb.mu.Lock()
	delete(sb.contexts, fresh.id)
	c.session, c.executions = fresh.session, 0
	sb.mu.Unlock()
	return nil
}

// GET /e2b/health with E2b-Sandbox-Port 49983 (envd): the SDK's
// isRunning.
func (s *server) e2bHealth(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("E2b-Sandbox-Id")
	if s.e2bLookup(id) == nil {
		e2bGone(w, id)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// e2bExecuteRequest is the body of POST /e2b/execute.
type e2bExecuteRequest struct {
	Code      string            `json:"code"`
	ContextID string            `json:"context_id"`
	Language  string            `json:"language"`
	EnvVars   map[string]string `json:"env_vars"`
}

// POST /e2b/execute: the code interpreter's NDJSON stream. Headers go
// out at once (the SDK gives up on them after requestTimeoutMs), then
// number_of_executions, the output as it comes, the result or error, and
// end_of_execution.
func (s *server) e2bExecute(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.e2bData(w, r)
	if !ok {
		return
	}
	client := policy.ClientKey(s.clientIP(r))
	done, ok := s.opts.Concurrency.Acquire(client)
	if !ok {
		e := tooManyConcurrent(s.opts.Concurrency.Max())
		setErrorHeaders(w, e)
		e2bText(w, e.status, e.message)
		return
	}
	defer done()
	if allowed, retry := s.opts.Limiter.Allow(client); !allowed {
		e := rateLimited(retry)
		setErrorHeaders(w, e)
		e2bText(w, e.status, e.message)
		return
	}
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		e2bText(w, e.status, e.message)
		return
	}
	var q e2bExecuteRequest
	if err := json.Unmarshal(body, &q); err != nil {
		e2bText(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
		return
	}
	if q.ContextID != "" && q.Language != "" {
		e2bText(w, http.StatusBadRequest, "give context_id or language, not both")
		return
	}
	var c *e2bContext
	if q.ContextID != "" {
		sb.mu.Lock()
		c = sb.contexts[q.ContextID]
		sb.mu.Unlock()
		if c == nil {
			e2bText(w, http.StatusNotFound, "Context "+q.ContextID+" not found")
			return
		}
	} else {
		language, _, ok := e2bLanguage(q.Language)
		if !ok {
			e2bText(w, http.StatusBadRequest, "language "+quote(q.Language)+" is not served; use python, javascript or bash")
			return
		}
		if c, e = s.e2bDefaultContext(r.Context(), sb, language); e != nil {
			e2bText(w, e.status, e.message)
			return
		}
	}
	l, _ := s.svc.Limits(c.language)
	req, e := executeRequest{Code: q.Code, Environment: c.language}.validate(l)
	if e != nil && !(e.field == "code" && q.Code == "") {
		e2bText(w, http.StatusBadRequest, e.message)
		return
	}
	req.Language, req.Timeout = c.language, l.Limits.MaxTimeout

	c.run.Lock()
	defer c.run.Unlock()
	out := newNDJSON(w)
	if _, err := s.svc.Session(c.session); errors.Is(err, dispatch.ErrNoSession) {
		// Its interpreter ended (it exited, or a run was cut off when its
		// client left): start a fresh one for the context, and say so.
		if e := s.e2bRestart(r.Context(), sb, c); e != nil {
			out.line(map[string]any{"type": "error", "name": "ContextRestartFailed", "value": e.message, "traceback": ""})
			out.line(map[string]any{"type": "end_of_execution"})
			return
		}
		out.line(map[string]any{"type": "stderr", "text": "[warmbox] this context's interpreter had ended and was restarted; its earlier state is gone\n", "timestamp": e2bNow()})
	}
	c.executions++
	out.line(map[string]any{"type": "number_of_executions", "execution_count": c.executions})
	if len(q.EnvVars) > 0 {
		if _, err := s.e2bCell(r.Context(), c, envSaveCell(c.language, q.EnvVars)); err != nil {
			out.fail(err)
			return
		}
		defer s.e2bCell(context.WithoutCancel(r.Context()), c, envRestoreCell(c.language))
	}
	if q.Code == "" {
		out.line(map[string]any{"type": "end_of_execution"})
		return
	}
	var streamed e2bStreams
	req.OnOutput = func(stream string, data []byte) {
		if text := streamed.add(stream, data); text != "" {
			out.line(map[string]any{"type": stream, "text": text, "timestamp": e2bNow()})
		}
	}
	res, err := s.svc.RunInSession(r.Context(), c.session, req)
	if err != nil {
		out.fail(err)
		return
	}
	// What the stream did not carry yet (the last bytes, or all of it
	// when the output frames came late) is in the result.
	for _, tail := range streamed.rest(res.Result.Stdout, res.Result.Stderr) {
		out.line(map[string]any{"type": tail.stream, "text": tail.text, "timestamp": e2bNow()})
	}
	status := res.Result.Status()
	s.count(status)
	total := time.Since(arrival(r.Context()))
	if s.opts.Recorder != nil {
		s.opts.Recorder.Execution(c.language, status, total, r.Context())
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "execution",
		slog.String("execution_id", requestID(r.Context())),
		slog.String("route", r.URL.Path),
		slog.String("language", c.language),
		slog.String("status", status),
		slog.String("session", c.session),
		slog.Int("exit_code", res.Result.ExitCode),
		slog.Float64("run_ms", float64(ms(res.Run))),
		slog.Float64("total_ms", float64(ms(total))),
		slog.String("client", client))
	if v := res.Result.Value; v != nil {
		out.line(map[string]any{"type": "result", "text": *v, "is_main_result": true, "extra": map[string]any{}})
	}
	switch x := res.Result.Exception; {
	case x != nil:
		out.line(map[string]any{"type": "error", "name": x.Name, "value": x.Value, "traceback": x.Traceback})
	case res.Result.TimedOut:
		out.line(map[string]any{"type": "error", "name": "TimeoutError", "value": "execution timed out after " + l.Limits.MaxTimeout.String(), "traceback": ""})
	case res.Result.SessionEnded:
		out.line(map[string]any{"type": "error", "name": "UnexpectedEndOfExecution", "value": "the interpreter exited", "traceback": ""})
	}
	out.line(map[string]any{"type": "end_of_execution"})
}

func e2bNow() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// ndjson writes one JSON object a line, flushed at once; the first line
// starts the 200 response (sent at once by newNDJSON).
type ndjson struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	n := &ndjson{w: w, rc: http.NewResponseController(w)}
	_ = n.rc.Flush()
	return n
}

func (n *ndjson) line(v any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, _ := json.Marshal(v)
	_, _ = n.w.Write(append(b, '\n'))
	_ = n.rc.Flush()
}

// fail ends the stream with an error line for a run that could not
// finish, then end_of_execution.
func (n *ndjson) fail(err error) {
	e := errorFor(err)
	n.line(map[string]any{"type": "error", "name": "ExecutionFailed", "value": e.message, "traceback": ""})
	n.line(map[string]any{"type": "end_of_execution"})
}

// e2bStreams keeps what a run's stdout and stderr sent so far, so that
// lines carry whole characters and the result's tail is sent once.
type e2bStreams struct {
	mu   sync.Mutex
	sent [2][]byte // stdout, stderr: the bytes sent as text
	held [2][]byte // an incomplete character, held for the next chunk
}

func streamIndex(stream string) int {
	if stream == "stderr" {
		return 1
	}
	return 0
}

// add takes a chunk of stream and returns the text to send now: whole
// characters only (invalid bytes become U+FFFD, as in the result).
func (e *e2bStreams) add(stream string, data []byte) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := streamIndex(stream)
	b := append(e.held[i], data...)
	n := wholeCharacters(b)
	e.held[i] = append([]byte(nil), b[n:]...)
	e.sent[i] = append(e.sent[i], b[:n]...)
	return strings.ToValidUTF8(string(b[:n]), "\uFFFD")
}

// streamTail is the text of one stream still to send.
type streamTail struct{ stream, text string }

// rest returns, per stream, the text of the result past what was sent.
func (e *e2bStreams) rest(stdout, stderr []byte) []streamTail {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []streamTail
	for i, full := range [2][]byte{stdout, stderr} {
		if tail, ok := bytes.CutPrefix(full, e.sent[i]); ok && len(tail) > 0 {
			out = append(out, streamTail{[2]string{"stdout", "stderr"}[i], strings.ToValidUTF8(string(tail), "\uFFFD")})
		}
	}
	return out
}
