package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// Sessions: a sandbox leased to one caller, whose interpreter keeps its
// state from one run to the next (docs/API.md, "Sessions").
//
//	POST   /sessions              open one: {"environment", "idle_ttl"?}
//	GET    /sessions              the caller's open sessions
//	GET    /sessions/:id          one session
//	DELETE /sessions/:id          close it
//	POST   /sessions/:id/execute  run code in it: {"code", "timeout"?, "files"?}

// sessionOpenRequest is the body of POST /sessions.
type sessionOpenRequest struct {
	Environment string `json:"environment"`
	// IdleTTL is whole seconds; absent or null: sessions.idle_ttl.
	IdleTTL json.RawMessage `json:"idle_ttl"`
	// Timeout is the default timeout of the session's runs, whole
	// seconds within the language's bounds as on /execute; absent or
	// null: the language's timeout.
	Timeout json.RawMessage `json:"timeout"`
}

var sessionOpenFields = []string{"environment", "idle_ttl", "timeout"}

// sessionRunRequest is the body of POST /sessions/:id/execute.
type sessionRunRequest struct {
	Code    string            `json:"code"`
	Timeout json.RawMessage   `json:"timeout"`
	Files   map[string]string `json:"files"`
}

var sessionRunFields = []string{"code", "timeout", "files"}

// sessionBody describes an open session.
type sessionBody struct {
	ID          string `json:"id"`
	Environment string `json:"environment"`
	Created     string `json:"created"`
	LastUsed    string `json:"last_used"`
	ExpiresAt   string `json:"expires_at"` // closed then unless used before
	IdleTTL     int64  `json:"idle_ttl"`   // seconds
	Timeout     int64  `json:"timeout"`    // seconds: a run's default timeout
	Runs        int    `json:"runs"`
	Running     bool   `json:"running"`
}

// sessionRunResponse is the answer to a run in a session: /execute's,
// plus what a session adds.
type sessionRunResponse struct {
	executeResponse
	SessionID string `json:"session_id"`
	// Value is the run's value (the last expression's, as the language
	// shows it), null when it has none.
	Value     *string        `json:"value"`
	Exception *exceptionBody `json:"exception"`
	// SessionEnded: the interpreter is gone (it exited, or would not
	// stop at the timeout); the session is closed.
	SessionEnded bool `json:"session_ended"`
}

// exceptionBody is an error the code raised and did not catch; the
// session lives on.
type exceptionBody struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Traceback string `json:"traceback"`
}

func (s *server) sessionRoutes() []route {
	return []route{
		{http.MethodPost, "/sessions", http.HandlerFunc(s.openSession), "open a session: a sandbox whose interpreter keeps its state between runs"},
		{http.MethodGet, "/sessions", http.HandlerFunc(s.listSessions), "the caller's open sessions"},
		{http.MethodGet, "/sessions/:id", http.HandlerFunc(s.getSession), "one open session"},
		{http.MethodDelete, "/sessions/:id", http.HandlerFunc(s.closeSession), "close a session"},
		{http.MethodPost, "/sessions/:id/execute", http.HandlerFunc(s.runInSession), "run code in a session (Server-Sent Events with Accept: text/event-stream)"},
	}
}

// sessionGate runs the checks every session route shares before its own
// work (gate) and answers a failure itself; it returns the caller's
// owner name, ok.
func (s *server) sessionGate(w http.ResponseWriter, r *http.Request, spend bool) (string, bool) {
	if e := s.gate(r, spend); e != nil {
		writeError(w, e)
		return "", false
	}
	return s.owner(r), true
}

// gate is what the session and E2B control routes check before their
// own work, whatever shape their errors take: the drain, the API key,
// and (spend) the client's rate limit.
func (s *server) gate(r *http.Request, spend bool) *apiError {
	if s.draining() {
		return errDraining
	}
	if e := s.authenticate(r); e != nil {
		return e
	}
	if spend {
		if ok, retry := s.opts.Limiter.Allow(policy.ClientKey(s.clientIP(r))); !ok {
			return rateLimited(retry)
		}
	}
	return nil
}

// owner names who a session belongs to: the API key's holder when keys
// are set (a digest of the key), else the client's address. It bounds
// sessions per client and scopes GET /sessions.
func (s *server) owner(r *http.Request) string {
	if o := s.opts.Auth.Owner(r.Header.Get("Authorization"), r.Header.Get("X-API-Key")); o != "" {
		return o
	}
	return policy.ClientKey(s.clientIP(r))
}

// POST /sessions
func (s *server) openSession(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.sessionGate(w, r, true)
	if !ok {
		return
	}
	if e := checkContentType(r, false); e != nil {
		writeError(w, e)
		return
	}
	body, e := readBody(w, r, s.maxBody)
	if e != nil {
		writeError(w, e)
		return
	}
	var q sessionOpenRequest
	if e := decodeStrict(body, &q, sessionOpenFields); e != nil {
		writeError(w, e)
		return
	}
	lang, ok := s.svc.Limits(q.Environment)
	if !ok {
		writeError(w, unknownEnvironment(q.Environment, s.served()))
		return
	}
	ttl, e := s.idleTTL(q.IdleTTL)
	if e != nil {
		writeError(w, e)
		return
	}
	var runTimeout time.Duration
	if !isNull(q.Timeout) {
		if runTimeout, e = requestTimeout(q.Timeout, lang.Limits); e != nil {
			writeError(w, e)
			return
		}
	}
	info, err := s.svc.OpenSession(r.Context(), lang.Name, owner, ttl, runTimeout)
	if err != nil {
		s.reject(errorFor(err).reason)
		writeError(w, errorFor(err))
		return
	}
	w.Header().Set("Location", "/sessions/"+info.ID)
	writeJSON(w, http.StatusCreated, s.sessionBodyOf(info))
}

// idleTTL resolves the idle_ttl field: absent or null is the default;
// otherwise whole seconds from 1 to sessions.max_idle_ttl.
func (s *server) idleTTL(raw json.RawMessage) (time.Duration, *apiError) {
	if isNull(raw) {
		return 0, nil
	}
	maxSec := int64(s.svc.SessionConfig().MaxIdleTTL / time.Second)
	secs, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || secs < 1 || secs > maxSec {
		return 0, invalid("idle_ttl", "idle_ttl must be an integer from 1 to %d seconds (default %d)",
			maxSec, int64(s.svc.SessionConfig().IdleTTL/time.Second))
	}
	return time.Duration(secs) * time.Second, nil
}

// GET /sessions
func (s *server) listSessions(w http.ResponseWriter, r *http.Request) {
	owner, ok := s.sessionGate(w, r, false)
	if !ok {
		return
	}
	list := s.svc.Sessions(owner)
	out := struct {
		Sessions []sessionBody `json:"sessions"`
	}{Sessions: make([]sessionBody, 0, len(list))}
	for _, info := range list {
		if !s.e2bOwns(info.ID) {
			out.Sessions = append(out.Sessions, s.sessionBodyOf(info))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /sessions/:id
func (s *server) getSession(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.sessionGate(w, r, false); !ok {
		return
	}
	info, err := s.nativeSession(httprouter.ParamsFromContext(r.Context()).ByName("id"))
	if err != nil {
		writeError(w, errorFor(err))
		return
	}
	writeJSON(w, http.StatusOK, s.sessionBodyOf(info))
}

// DELETE /sessions/:id
func (s *server) closeSession(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.sessionGate(w, r, false); !ok {
		return
	}
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	if _, err := s.nativeSession(id); err != nil {
		writeError(w, errorFor(err))
		return
	}
	if err := s.svc.CloseSession(id); err != nil {
		writeError(w, errorFor(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// POST /sessions/:id/execute: the pipeline of /execute, run in the
// session.
func (s *server) runInSession(w http.ResponseWriter, r *http.Request) {
	id := httprouter.ParamsFromContext(r.Context()).ByName("id")
	s.run(w, r, s.sessionDialect(id))
}

// sessionDialect runs a body in session id: its language is the
// session's, its limits the language's, as on /execute.
func (s *server) sessionDialect(id string) dialect {
	return dialect{
		streams: true,
		parse: func(body []byte) (dispatch.Request, *apiError) {
			info, err := s.nativeSession(id)
			if err != nil {
				return dispatch.Request{}, errorFor(err)
			}
			var q sessionRunRequest
			if e := decodeStrict(body, &q, sessionRunFields); e != nil {
				return dispatch.Request{}, e
			}
			lang, ok := s.svc.Limits(info.Language)
			if !ok {
				return dispatch.Request{}, errorFor(dispatch.ErrUnknownLanguage)
			}
			req, e := executeRequest{Code: q.Code, Environment: lang.Name, Timeout: q.Timeout, Files: q.Files}.validate(lang)
			req.Language = lang.Name
			if e == nil && isNull(q.Timeout) && info.RunTimeout > 0 {
				req.Timeout = info.RunTimeout // the session's default
			}
			return req, e
		},
		execute: func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
			return s.svc.RunInSession(ctx, id, req)
		},
		body: func(resp executeResponse, out dispatch.Outcome) any {
			res := out.Result
			body := sessionRunResponse{executeResponse: resp, SessionID: id, Value: res.Value, SessionEnded: res.SessionEnded}
			if x := res.Exception; x != nil {
				body.Exception = &exceptionBody{Name: x.Name, Value: x.Value, Traceback: x.Traceback}
			}
			return body
		},
		fail: writeError,
	}
}

// nativeSession is the open session id, unless it is an E2B context's:
// those are reached only through /e2b, with their sandbox's token.
func (s *server) nativeSession(id string) (dispatch.SessionInfo, error) {
	if s.e2bOwns(id) {
		return dispatch.SessionInfo{}, dispatch.ErrNoSession
	}
	return s.svc.Session(id)
}

func (s *server) sessionBodyOf(info dispatch.SessionInfo) sessionBody {
	timeout := info.RunTimeout
	if l, ok := s.svc.Limits(info.Language); ok && timeout == 0 {
		timeout = l.Limits.Timeout
	}
	return sessionBody{
		ID:          info.ID,
		Environment: info.Language,
		Created:     timestamp(info.Created),
		LastUsed:    timestamp(info.LastUsed),
		ExpiresAt:   timestamp(info.ExpiresAt),
		IdleTTL:     int64(info.IdleTTL / time.Second),
		Timeout:     int64(timeout / time.Second),
		Runs:        info.Runs,
		Running:     info.Running,
	}
}

// sessionError maps the dispatcher's session errors; errorFor calls it.
func sessionError(err error) *apiError {
	switch {
	case errors.Is(err, dispatch.ErrNoSession):
		return &apiError{status: http.StatusNotFound, code: "session_not_found",
			message: "no open session has this id (closed, expired, or ended); open a new one with POST /sessions",
			reason:  "invalid_request", cause: err}
	case errors.Is(err, dispatch.ErrSessionBusy):
		return &apiError{status: http.StatusConflict, code: "session_busy",
			message: "the session is running other code; runs of one session go one at a time", retryable: true,
			retryAfter: time.Second, reason: "invalid_request", cause: err}
	case errors.Is(err, dispatch.ErrSessionsPerClient):
		return &apiError{status: http.StatusTooManyRequests, code: "too_many_sessions",
			message: "this client already has as many open sessions as one may (sessions.max_per_client); close one (DELETE /sessions/{id}, or kill an E2B sandbox: each of its contexts is a session)",
			reason:  "rate_limited", cause: err}
	case errors.Is(err, dispatch.ErrSessionsFull):
		return &apiError{status: http.StatusServiceUnavailable, code: "sessions_full",
			message: "the server has as many open sessions as it allows; retry later", retryable: true,
			retryAfter: 5 * time.Second, reason: "capacity", cause: err}
	case errors.Is(err, dispatch.ErrSessionsOff):
		return &apiError{status: http.StatusUnprocessableEntity, code: "sessions_unavailable", field: "environment",
			message: err.Error() + " (sessions need sessions.max > 0 and a pre-started language)",
			reason:  "invalid_request", cause: err}
	}
	return nil
}
