package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warmbox/warmbox/dispatch"
)

// codapi (nalgeon/codapi, internal/server/router.go and
// internal/engine/engine.go): POST /v1/exec, which the @antonz/codapi
// widget calls, with codapi's shapes and statuses, on the same pipeline
// as /execute; and /v1/health, which later widgets probe with HEAD
// before they run code. docs/API.md, "Compatible APIs", documents them.

// codapiSandboxes maps codapi's sandbox names to warmbox's languages.
// A served language is also a sandbox under its own name.
var codapiSandboxes = map[string]string{
	"python":     "python",
	"javascript": "node",
	"node":       "node",
	"bash":       "bash",
	"sh":         "bash",
}

// codapiCommand is the one command warmbox serves: run the program.
const codapiCommand = "run"

// codapiExecution is codapi's answer, for a program that ran and for
// every error alike (engine.Execution).
type codapiExecution struct {
	ID string `json:"id"`
	// OK is true when the program exited with 0.
	OK bool `json:"ok"`
	// Duration is the program's wall time in milliseconds.
	Duration int64  `json:"duration"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

func (s *server) codapiRoutes() []route {
	return []route{
		{http.MethodPost, "/v1/exec", http.HandlerFunc(s.codapiExec), "codapi: run code ({sandbox, version, command: \"run\", files: {\"\": code}})"},
		{http.MethodGet, "/v1/health", http.HandlerFunc(s.codapiHealth), "codapi: 200 while executions are accepted, 503 once draining"},
		{http.MethodHead, "/v1/health", http.HandlerFunc(s.codapiHealth), "codapi: the same without a body (the widget's probe)"},
	}
}

// POST /v1/exec
func (s *server) codapiExec(w http.ResponseWriter, r *http.Request) {
	s.run(w, r, s.codapi(requestID(r.Context())))
}

// GET and HEAD /v1/health: codapi's own server has no such route; the
// widget only looks at whether the answer is a 2xx.
func (s *server) codapiHealth(w http.ResponseWriter, _ *http.Request) {
	if s.draining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting_down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// codapi is the codapi dialect for the request with execution id
// execID. Errors carry the id "-" until the body is read, then codapi's
// "<sandbox>_<command>_<id>" ("<sandbox>.<version>_..." with a
// version), which the answer carries too.
func (s *server) codapi(execID string) dialect {
	id := "-"
	return dialect{
		parse: func(body []byte) (dispatch.Request, *apiError) {
			q, e := decodeCodapi(body)
			if e != nil {
				return dispatch.Request{}, asBadRequest(e)
			}
			id = q.id(execID)
			req, e := s.parseCodapi(q)
			return req, asBadRequest(e)
		},
		answer: func(w http.ResponseWriter, _ dispatch.Request, resp executeResponse) {
			writeJSON(w, http.StatusOK, codapiAnswer(id, resp))
		},
		fail: func(w http.ResponseWriter, e *apiError) {
			writeJSON(w, asBadRequest(e).status, codapiExecution{ID: id, Stderr: e.message})
		},
	}
}

// codapiRequest is the body of POST /v1/exec (engine.Request).
type codapiRequest struct {
	sandbox, version, command string
	files                     map[string]string
}

// id is codapi's execution id for the request (engine.Request's
// GenerateID), ending with warmbox's execution id instead of random
// letters, so that it leads to the log line.
func (q codapiRequest) id(execID string) string {
	if q.version != "" {
		return fmt.Sprintf("%s.%s_%s_%s", shorten(q.sandbox), shorten(q.version), shorten(q.command), execID)
	}
	return fmt.Sprintf("%s_%s_%s", shorten(q.sandbox), shorten(q.command), execID)
}

// decodeCodapi reads the body's fields: sandbox, version and command
// are strings, files an object of strings; absent or null is empty.
func decodeCodapi(body []byte) (codapiRequest, *apiError) {
	var q codapiRequest
	fields, e := decodeObject(body, "files")
	if e != nil {
		return q, e
	}
	for _, f := range []struct {
		name string
		to   *string
	}{{"sandbox", &q.sandbox}, {"version", &q.version}, {"command", &q.command}} {
		if raw := fields[f.name]; !isNull(raw) {
			var ok bool
			if *f.to, ok = jsonString(raw); !ok {
				return q, invalid(f.name, "%s must be a string", f.name)
			}
		}
	}
	if raw := fields["files"]; !isNull(raw) {
		obj, e := decodeObject(raw, "")
		if e != nil || raw[0] != '{' {
			return q, invalid("files", "files must be an object mapping file names to contents")
		}
		q.files = make(map[string]string, len(obj))
		for name, content := range obj {
			var ok bool
			if q.files[name], ok = jsonString(content); !ok {
				return q, invalid("files", "files[%s] must be a string", quote(name))
			}
		}
	}
	return q, nil
}

// parseCodapi checks a request in codapi's order (sandbox.Validate):
// the sandbox and the command (404 when unknown), then the program; the
// version must match the language's unless it is "" or "latest". The job
// is built by executeRequest.validate, so every limit is enforced as on
// /execute. codapi has no stdin, args or timeout: the language's default
// timeout applies.
func (s *server) parseCodapi(q codapiRequest) (dispatch.Request, *apiError) {
	var none dispatch.Request
	name, ok := codapiSandboxes[q.sandbox]
	if !ok {
		name = q.sandbox
	}
	lang, ok := s.svc.Limits(name)
	if !ok {
		return none, &apiError{status: http.StatusNotFound, code: "unknown_environment", field: "sandbox",
			message: fmt.Sprintf("unknown sandbox %s; served: %s", quote(q.sandbox), listOf(s.codapiSandboxNames())),
			reason:  "invalid_request"}
	}
	named := dispatch.Request{Language: lang.Name}
	if q.command != codapiCommand {
		return named, &apiError{status: http.StatusNotFound, code: "unknown_command", field: "command",
			message: fmt.Sprintf("unknown command %s; the only command is %q", quote(q.command), codapiCommand),
			reason:  "invalid_request"}
	}
	if q.version != "" && q.version != "latest" {
		if v := s.version(lang.Name); !versionMatches(v, q.version) {
			return named, &apiError{status: http.StatusNotFound, code: "unknown_version", field: "version",
				message: fmt.Sprintf("unknown version %s of sandbox %s; served: %s", quote(q.version), quote(q.sandbox), quote(v)),
				reason:  "invalid_request"}
		}
	}

	// The program is files[""], or the file named as the language's
	// entry file (codapi's docs/api.md allows either).
	code, hasEmpty := q.files[""]
	byName, hasNamed := q.files[lang.File]
	switch {
	case hasEmpty && hasNamed:
		return named, invalid("files", "files holds the program twice, under \"\" and %s; keep one", quote(lang.File))
	case hasNamed:
		code = byName
	case !hasEmpty && len(q.files) > 0:
		return named, invalid("files", "files must hold the program under \"\" (or %s)", quote(lang.File))
	}
	if strings.TrimSpace(code) == "" {
		return named, invalid("files", "empty request: the program (files[\"\"]) is empty")
	}
	if e := tooManyFiles(len(q.files), lang.Limits); e != nil {
		return named, e
	}
	x := executeRequest{Code: code}
	for fname, content := range q.files {
		if fname == "" || fname == lang.File {
			continue
		}
		if x.Files == nil {
			x.Files = make(map[string]string, len(q.files)-1)
		}
		x.Files[fname] = content
	}
	req, e := x.validate(lang)
	req.Language = lang.Name
	return req, e
}

// version is a served language's interpreter version, "" if unknown.
func (s *server) version(language string) string {
	for _, in := range s.svc.Languages() {
		if in.Name == language {
			return in.Version
		}
	}
	return ""
}

// codapiSandboxNames lists the sandbox names that reach a served
// language, sorted.
func (s *server) codapiSandboxNames() []string {
	var names []string
	for sandbox, lang := range codapiSandboxes {
		if _, ok := s.svc.Limits(lang); ok {
			names = append(names, sandbox)
		}
	}
	for _, in := range s.svc.Languages() {
		if !slices.Contains(names, in.Name) {
			names = append(names, in.Name)
		}
	}
	slices.Sort(names)
	return names
}

// codapiAnswer is codapi's answer for a program that ran. Like codapi
// (engine/exec.go, engine/docker.go), each stream is trimmed of
// surrounding white space; a program that failed has ok false, an empty
// stdout, and in stderr its output, then why it failed: "(exit status
// 1)", or only "code execution timeout" after a timeout. Unlike codapi,
// the failure joins stdout and stderr with a newline, names a signal or
// the OOM killer, and marks a stream cut at the output limit.
func codapiAnswer(id string, resp executeResponse) codapiExecution {
	out := codapiExecution{
		ID:       id,
		OK:       resp.Status == "success",
		Duration: int64(math.Round(float64(resp.ExecutionTime) * 1000)),
	}
	stdout := codapiStream(resp.Stdout, resp.Truncated.Stdout)
	stderr := codapiStream(resp.Stderr, resp.Truncated.Stderr)
	if out.OK {
		out.Stdout, out.Stderr = stdout, stderr
		return out
	}
	var why string
	switch {
	case resp.TimedOut:
		out.Stderr = "code execution timeout"
		return out
	case resp.OOMKilled:
		why = "killed: out of memory"
	case resp.Signal != nil:
		why = "killed by signal " + *resp.Signal
	case resp.ExitCode != nil:
		why = "exit status " + strconv.Itoa(*resp.ExitCode)
	}
	text := stdout
	if stderr != "" {
		if text != "" {
			text += "\n"
		}
		text += stderr
	}
	if text == "" {
		out.Stderr = why
	} else {
		out.Stderr = text + " (" + why + ")"
	}
	return out
}

// codapiStream trims a stream as codapi does and marks a cut one.
func codapiStream(s string, cut bool) string {
	s = strings.TrimSpace(s)
	if cut {
		s += "\n[output truncated]"
	}
	return s
}
