package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
)

// statusClientClosed is written when the client went away before its
// answer was ready (nginx's 499); nobody reads it, but logs and metrics
// tell it apart from a server failure.
const statusClientClosed = 499

// apiError is an error response. Message is for the caller; cause is
// logged and never sent.
type apiError struct {
	status     int
	code       string
	message    string
	field      string   // the request field at fault, "" if none
	supported  []string // for unknown_environment: the served languages
	retryable  bool
	retryAfter time.Duration // > 0 sets Retry-After (rounded up to seconds)
	reason     string        // Recorder.Rejected label
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.message + ": " + e.cause.Error()
	}
	return e.code + ": " + e.message
}

// errorBody is the JSON of every error response:
//
//	{"error": {"code": "snake_case", "message": "...", "field": "timeout", "retryable": true}}
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string   `json:"code"`
	Message   string   `json:"message"`
	Field     string   `json:"field,omitempty"`
	Supported []string `json:"supported,omitempty"`
	Retryable bool     `json:"retryable,omitempty"`
}

// Constructors for the errors the API raises itself.

// invalid is a 422 for a well-formed request that breaks a rule.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_request", field: field,
		message: fmt.Sprintf(format, args...), reason: "invalid_request"}
}

// badJSON is a 400 for a body that is not one JSON object.
func badJSON(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_json",
		message: fmt.Sprintf(format, args...), reason: "invalid_request"}
}

func unknownField(name string, accepted []string) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: "unknown_field", field: shorten(name),
		message: fmt.Sprintf("unknown field %s; accepted fields: %s", quote(name), strings.Join(accepted, ", ")),
		reason:  "invalid_request"}
}

func duplicateKey(code, field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: code, field: field,
		message: fmt.Sprintf(format, args...), reason: "invalid_request"}
}

func unknownEnvironment(asked string, served []string) *apiError {
	msg := fmt.Sprintf("environment %s is not served; use one of %s", quote(asked), listOf(served))
	if asked == "" {
		msg = "environment is required; use one of " + listOf(served)
	}
	return &apiError{status: http.StatusUnprocessableEntity, code: "unknown_environment", field: "environment",
		message: msg, supported: served, reason: "invalid_request"}
}

func tooLarge(limit int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
		message: fmt.Sprintf("request body exceeds %d bytes", limit), reason: "too_large"}
}

func unsupportedMedia(code, msg string) *apiError {
	return &apiError{status: http.StatusUnsupportedMediaType, code: code, message: msg, reason: "unsupported_media_type"}
}

var (
	errUnauthorized = &apiError{status: http.StatusUnauthorized, code: "unauthorized",
		message: "a valid API key is required (Authorization: Bearer <key> or X-API-Key)", reason: "unauthorized"}
	errKeyInQuery = &apiError{status: http.StatusBadRequest, code: "key_in_query",
		message: "API keys are not accepted in the query string; send Authorization: Bearer <key> or X-API-Key", reason: "unauthorized"}
	errNotFound = &apiError{status: http.StatusNotFound, code: "not_found",
		message: "no such route; see /docs"}
	errMethodNotAllowed = &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		message: "method not allowed on this route; see the Allow header"}
	errPanic = &apiError{status: http.StatusInternalServerError, code: "internal",
		message: "internal error", reason: "internal"}
	errDraining = &apiError{status: http.StatusServiceUnavailable, code: "shutting_down",
		message: "the server is shutting down; retry on another instance", retryable: true,
		retryAfter: 5 * time.Second, reason: "shutting_down"}
)

// hostNotAllowed is a 421 for a Host header the API does not answer.
func hostNotAllowed(host string, err error) *apiError {
	msg := fmt.Sprintf("this server does not answer for host %s; its operator lists the names it serves in http.allowed_hosts", quote(host))
	if errors.Is(err, policy.ErrNoHost) {
		msg = "a Host header is required"
	}
	return &apiError{status: http.StatusMisdirectedRequest, code: "host_not_allowed", message: msg, cause: err}
}

func rateLimited(retry time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
		message: "rate limit exceeded; retry after the Retry-After delay", retryable: true,
		retryAfter: retry, reason: "rate_limited"}
}

func tooManyConcurrent(max int) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "too_many_concurrent",
		message:   fmt.Sprintf("this client already has %d executions running, the most allowed at once; retry when one ends", max),
		retryable: true, retryAfter: time.Second, reason: "too_many_concurrent"}
}

// errorFor maps an error from the Service to its response. It is the only
// place where a dispatch error becomes an HTTP status.
func errorFor(err error) *apiError {
	var ae *apiError
	if se := sessionError(err); se != nil {
		return se
	}
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, dispatch.ErrShuttingDown):
		e := *errDraining
		e.cause = err
		return &e
	case errors.Is(err, dispatch.ErrCapacity):
		return &apiError{status: http.StatusServiceUnavailable, code: "capacity",
			message: "no sandbox became free in time; retry shortly", retryable: true,
			retryAfter: time.Second, reason: "capacity", cause: err}
	case errors.Is(err, dispatch.ErrUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: "environment_unavailable",
			message: "this environment cannot start sandboxes right now; see /health", retryable: true,
			retryAfter: 10 * time.Second, reason: "unavailable", cause: err}
	case errors.Is(err, dispatch.ErrSandboxLost):
		return &apiError{status: http.StatusServiceUnavailable, code: "sandbox_lost",
			message: "the sandbox failed during the job; retrying is safe", retryable: true,
			retryAfter: time.Second, reason: "sandbox_lost", cause: err}
	case errors.Is(err, dispatch.ErrRejected):
		// The runner's refusal is a message meant for the caller.
		return &apiError{status: http.StatusUnprocessableEntity, code: "invalid_request",
			message: err.Error(), reason: "invalid_request", cause: err}
	case errors.Is(err, dispatch.ErrUnknownLanguage):
		return &apiError{status: http.StatusUnprocessableEntity, code: "unknown_environment", field: "environment",
			message: "environment is not served; see /environments", reason: "invalid_request", cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		// The request's own deadline (acquire budget + run) ran out: the
		// queue was too long for this job to finish in time.
		return &apiError{status: http.StatusServiceUnavailable, code: "capacity",
			message:   "the job could not finish within its time budget because sandboxes were busy; retry shortly",
			retryable: true, retryAfter: time.Second, reason: "capacity", cause: err}
	case errors.Is(err, context.Canceled):
		return &apiError{status: statusClientClosed, code: "client_closed_request",
			message: "the client went away", reason: "canceled", cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal",
		message: "internal error; the server log has the details", reason: "internal", cause: err}
}

// writeError sends e as the response, in warmbox's own error shape.
func writeError(w http.ResponseWriter, e *apiError) {
	setErrorHeaders(w, e)
	writeJSON(w, e.status, errorBodyOf(e))
}

// errorBodyOf is e in warmbox's own error shape.
func errorBodyOf(e *apiError) errorBody {
	return errorBody{Error: errorDetail{
		Code: e.code, Message: e.message, Field: e.field, Supported: e.supported, Retryable: e.retryable,
	}}
}

// setErrorHeaders sets the headers an error carries in every dialect:
// WWW-Authenticate on a 401, Retry-After when a retry can succeed.
func setErrorHeaders(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="warmbox"`)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(e.retryAfter), 10))
	}
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// internalErrorBody answers when a response of ours cannot be encoded.
const internalErrorBody = `{"error":{"code":"internal","message":"internal error"}}`

// writeJSON sends v with status. Marshalling our own response types
// cannot fail; if it ever does, the client gets a bare 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(internalErrorBody)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// quote quotes user input for a message, shortened so that a hostile
// value cannot blow it up.
func quote(s string) string {
	return strconv.Quote(shorten(s))
}

// shorten cuts s to at most 64 bytes (on a rune boundary where possible).
func shorten(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > limit-4 && cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

func listOf(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// marshalBody is v as one line of JSON, as writeJSON sends it (without
// the final newline), or internalErrorBody if it cannot be encoded.
func marshalBody(v any) []byte {
	body, err := json.Marshal(v)
	if err != nil {
		return []byte(internalErrorBody)
	}
	return body
}
