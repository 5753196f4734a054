package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// executeRequest is the body of POST /execute. Absent fields and null
// take their defaults; a timeout of null means "the default".
type executeRequest struct {
	Code        string `json:"code"`
	Environment string `json:"environment"`
	// Timeout is an integer number of seconds, parsed by validate so that
	// every wrong value ("5", 1.5, 1e309, true) gets the same message with
	// the language's range.
	Timeout json.RawMessage `json:"timeout"`
	Stdin   string          `json:"stdin"`
	Args    []string        `json:"args"`
	Files   fileMap         `json:"files"`
	// ReturnFiles are patterns of files the program writes that come
	// back in the answer, base64-encoded.
	ReturnFiles []string `json:"return_files"`
	// Limits lowers the language's limits for this run; never raises.
	Limits *requestLimits `json:"limits"`
}

// requestFields are the accepted keys, spelled exactly.
var requestFields = []string{"code", "environment", "timeout", "stdin", "args", "files", "return_files", "limits"}

// requestLimits are the limits a request may lower (policy.Lowered);
// absent or 0 keeps the language's.
type requestLimits struct {
	MemoryMB    int64 `json:"memory_mb"`
	CPUTime     int64 `json:"cpu_time"` // seconds
	Processes   int64 `json:"processes"`
	OutputBytes int   `json:"output_bytes"`
	// The compile stage's, for a compiled language only.
	CompileTimeout  int64 `json:"compile_timeout"` // seconds
	CompileMemoryMB int64 `json:"compile_memory_mb"`
	CompileCPUTime  int64 `json:"compile_cpu_time"` // seconds
}

// UnmarshalJSON refuses unknown keys, as the request itself does.
func (l *requestLimits) UnmarshalJSON(b []byte) error {
	type plain requestLimits
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v plain
	if err := dec.Decode(&v); err != nil {
		return &fieldError{"limits", "limits must be an object with any of memory_mb, cpu_time (seconds), processes, output_bytes, compile_timeout (seconds), compile_memory_mb and compile_cpu_time (seconds), each a whole number"}
	}
	*l = requestLimits(v)
	return nil
}

// fileMap is a request's extra files by name. JSON gives them as an
// object of name to UTF-8 text, or as an array of {"name", "content",
// "encoding"} where encoding is "utf8" (the default) or "base64", for
// binary files. A name given twice is refused either way.
type fileMap map[string]string

// fieldError is a value that does not decode (files, limits), for the answer.
type fieldError struct{ field, message string }

func (e *fieldError) Error() string { return e.message }

func (m *fileMap) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*m = nil
		return nil
	case len(b) > 0 && b[0] == '{':
		var plain map[string]string
		if err := json.Unmarshal(b, &plain); err != nil {
			return &fieldError{"files", "files must map file names to strings (or be an array of {name, content, encoding})"}
		}
		*m = plain
		return nil
	case len(b) == 0 || b[0] != '[':
		return &fieldError{"files", "files must be an object mapping file names to contents, or an array of {name, content, encoding}"}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err != nil {
		return &fieldError{"files", "files must be an array of {name, content, encoding}"}
	}
	out := make(fileMap, len(list))
	for i, raw := range list {
		field := fmt.Sprintf("files[%d]", i)
		var f struct {
			Name     *string `json:"name"`
			Content  *string `json:"content"`
			Encoding string  `json:"encoding"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return &fieldError{field, field + " must be an object with name, content and encoding (utf8 or base64), all strings"}
		}
		if f.Name == nil || f.Content == nil {
			return &fieldError{field, field + " needs a name and a content"}
		}
		content := *f.Content
		switch f.Encoding {
		case "", "utf8":
		case "base64":
			decoded, err := base64.StdEncoding.DecodeString(content)
			if err != nil {
				return &fieldError{field + ".content", field + ".content is not valid base64 (standard alphabet, padded)"}
			}
			content = string(decoded)
		default:
			return &fieldError{field + ".encoding", fmt.Sprintf("%s.encoding must be utf8 or base64, got %s", field, quote(f.Encoding))}
		}
		if _, dup := out[*f.Name]; dup {
			return &fieldError{"files", fmt.Sprintf("file name %s is given more than once", quote(*f.Name))}
		}
		out[*f.Name] = content
	}
	*m = out
	return nil
}

// checkContentType accepts application/json, with no charset or utf-8,
// and no Content-Encoding: a browser can send text/plain or a form
// cross-origin without a preflight, JSON it cannot. textPlain also
// accepts text/plain, for the compatible APIs whose clients send their
// JSON that way (see docs/API.md, "Compatible APIs", for why that is
// safe there).
func checkContentType(r *http.Request, textPlain bool) *apiError {
	if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return unsupportedMedia("unsupported_encoding", "Content-Encoding is not supported; send the body uncompressed")
	}
	want := "Content-Type must be application/json"
	if textPlain {
		want = "Content-Type must be application/json or text/plain"
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !(textPlain && mt == "text/plain")) {
		return unsupportedMedia("unsupported_media_type", want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return unsupportedMedia("unsupported_media_type", "Content-Type charset must be utf-8")
	}
	return nil
}

// readBody reads the whole body, at most limit bytes. A declared length
// over the limit is refused before anything is read (so a client waiting
// on "Expect: 100-continue" never gets the go-ahead).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, &apiError{status: http.StatusBadRequest, code: "invalid_body",
			message: "could not read the request body", reason: "invalid_request", cause: err}
	}
	return body, nil
}

// decodeExecute parses a body of POST /execute: exactly one JSON object,
// known keys only (spelled exactly: encoding/json would also take "Code"
// or "CODE"), each at most once, with values of the right types. Invalid
// UTF-8 inside strings is replaced with U+FFFD by the decoder; what is
// validated is what runs.
func decodeExecute(body []byte) (executeRequest, *apiError) {
	var req executeRequest
	return req, decodeStrict(body, &req, requestFields)
}

// decodeStrict decodes body into v, a struct whose JSON fields are
// exactly fields, as decodeExecute describes.
func decodeStrict(body []byte, v any, fields []string) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return badJSON("request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, fields)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badJSON("unexpected data after the JSON object")
	}
	return checkKeys(body, fields)
}

// decodeError turns a json.Decoder error into a response; fields are the
// accepted keys, named when an unknown one was refused.
func decodeError(err error, fields []string) *apiError {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return badJSON("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badJSON("malformed JSON: unexpected end of the body")
	case errors.As(err, &typ) && typ.Field == "":
		return badJSON("request body must be a JSON object")
	case errors.As(err, &typ):
		field := shorten(typ.Field)
		return invalid(field, "%s must be %s, got a JSON %s", field, expectedType(typ.Field), shorten(typ.Value))
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		return invalid(fe.field, "%s", fe.message)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return unknownField(name, fields)
	}
	return badJSON("malformed JSON")
}

// expectedType describes a field's type for messages.
func expectedType(field string) string {
	switch {
	case field == "args":
		return "an array of strings"
	case strings.HasPrefix(field, "args"):
		return "a string"
	case field == "return_files":
		return "an array of strings"
	case strings.HasPrefix(field, "return_files"):
		return "a string"
	case field == "files":
		return "an object mapping file names to contents"
	case strings.HasPrefix(field, "files"):
		return "a string"
	}
	return "a string"
}

// checkKeys walks the top-level object of a body that already decoded:
// it rejects keys that differ from a field only in case (the decoder
// matched them case-insensitively) and keys or file names given twice
// (the decoder kept the last; a proxy or log may have seen the first).
func checkKeys(body []byte, fields []string) *apiError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return badJSON("request body must be a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badJSON("malformed JSON")
		}
		key, _ := tok.(string)
		if !slices.Contains(fields, key) {
			return unknownField(key, fields)
		}
		if seen[key] {
			return duplicateKey("duplicate_key", key, "field %s is given more than once", key)
		}
		seen[key] = true
		if key == "files" {
			if e := checkFileKeys(dec); e != nil {
				return e
			}
			continue
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return badJSON("malformed JSON")
		}
	}
	return nil
}

// checkFileKeys reads the files value (an object or null) and rejects a
// file name given twice.
func checkFileKeys(dec *json.Decoder) *apiError {
	tok, err := dec.Token()
	if err != nil {
		return badJSON("malformed JSON")
	}
	if tok == json.Delim('[') { // the array form: fileMap checks its names
		for dec.More() {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return badJSON("malformed JSON")
			}
		}
		if _, err := dec.Token(); err != nil { // the closing bracket
			return badJSON("malformed JSON")
		}
		return nil
	}
	if tok != json.Delim('{') {
		return nil // null; anything else failed to decode already
	}
	names := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badJSON("malformed JSON")
		}
		name, _ := tok.(string)
		if names[name] {
			return duplicateKey("duplicate_file_name", "files", "file name %s is given more than once", quote(name))
		}
		names[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return badJSON("malformed JSON")
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return badJSON("malformed JSON")
	}
	return nil
}

// validate checks a decoded request against its language and builds the
// dispatcher's request. Nothing is leased before it passes.
func (q executeRequest) validate(l dispatch.Language) (dispatch.Request, *apiError) {
	lim := l.Limits
	if q.Code == "" {
		return dispatch.Request{}, invalid("code", "code must not be empty")
	}
	total := len(q.Code)
	for _, c := range q.Files {
		total += len(c)
	}
	if total > lim.CodeBytes {
		if len(q.Files) == 0 {
			return dispatch.Request{}, invalid("code", "code is %d bytes; the limit is %d bytes", total, lim.CodeBytes)
		}
		return dispatch.Request{}, invalid("code", "code and files are %d bytes together; the limit is %d bytes", total, lim.CodeBytes)
	}
	timeout, e := requestTimeout(q.Timeout, lim)
	if e != nil {
		return dispatch.Request{}, e
	}
	if len(q.Stdin) > lim.StdinBytes {
		return dispatch.Request{}, invalid("stdin", "stdin is %d bytes; the limit is %d bytes", len(q.Stdin), lim.StdinBytes)
	}
	if len(q.Args) > lim.MaxArgs {
		return dispatch.Request{}, invalid("args", "at most %d args are accepted, got %d", lim.MaxArgs, len(q.Args))
	}
	for i, a := range q.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return dispatch.Request{}, invalid(fmt.Sprintf("args[%d]", i), "args[%d] must not contain NUL", i)
		}
	}
	if len(q.Files) > lim.MaxFiles {
		return dispatch.Request{}, invalid("files", "at most %d files are accepted, got %d", lim.MaxFiles, len(q.Files))
	}
	names := make([]string, 0, len(q.Files))
	for name := range q.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	files := make([]wire.File, 0, len(names))
	for _, name := range names {
		if err := wire.ValidateFileName(name); err != nil {
			return dispatch.Request{}, invalid("files", "%s", err.Error())
		}
		if name == l.File {
			return dispatch.Request{}, invalid("files", "file name %s is the entry file, which holds code; choose another name", quote(name))
		}
		files = append(files, wire.File{Name: name, Content: []byte(q.Files[name])})
	}
	// The runner's own checks (a file that is also a directory, ...),
	// run here so that a job it would refuse never leases a sandbox.
	job := wire.Job{
		Files:   append([]wire.File{{Name: l.File}}, files...),
		Command: []string{"interpreter"},
		Entry:   l.File,
		Args:    q.Args,
		Limits:  wire.Limits{TimeoutMs: timeout.Milliseconds()},
	}
	if err := job.Validate(); err != nil {
		return dispatch.Request{}, invalid("files", "%s", err.Error())
	}
	if len(q.ReturnFiles) > wire.MaxReturnPatterns {
		return dispatch.Request{}, invalid("return_files", "at most %d return_files patterns are accepted, got %d", wire.MaxReturnPatterns, len(q.ReturnFiles))
	}
	for i, p := range q.ReturnFiles {
		if err := wire.ValidateReturnPattern(p); err != nil {
			return dispatch.Request{}, invalid(fmt.Sprintf("return_files[%d]", i), "%s", err.Error())
		}
	}
	var lowered policy.Lowered
	if ql := q.Limits; ql != nil {
		lowered = policy.Lowered{MemoryMB: ql.MemoryMB, CPUTime: seconds(ql.CPUTime),
			Processes: ql.Processes, OutputBytes: ql.OutputBytes,
			CompileTimeout: seconds(ql.CompileTimeout), CompileMemoryMB: ql.CompileMemoryMB, CompileCPUTime: seconds(ql.CompileCPUTime)}
		if len(l.Compile) == 0 {
			for _, c := range []struct {
				field string
				v     int64
			}{{"compile_timeout", ql.CompileTimeout}, {"compile_memory_mb", ql.CompileMemoryMB}, {"compile_cpu_time", ql.CompileCPUTime}} {
				if c.v != 0 {
					return dispatch.Request{}, invalid("limits."+c.field, "limits.%s: %s has no compile stage", c.field, l.Name)
				}
			}
		}
		if field, err := lim.CheckLowered(lowered); err != nil {
			return dispatch.Request{}, invalid("limits."+field, "%s", err.Error())
		}
	}
	req := dispatch.Request{
		Lowered:     lowered,
		Language:    l.Name,
		Code:        q.Code,
		Files:       files,
		Args:        q.Args,
		Timeout:     timeout,
		ReturnFiles: q.ReturnFiles,
	}
	if q.Stdin != "" {
		req.Stdin = []byte(q.Stdin)
	}
	return req, nil
}

// requestTimeout resolves the timeout field: absent or null is the
// language's default; otherwise a JSON integer from 1 to the maximum,
// with no silent clamping. (0 is an error here, not "the default" as in
// policy.Limits.RequestTimeout.)
func requestTimeout(raw json.RawMessage, lim policy.Limits) (time.Duration, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		d, err := lim.RequestTimeout(0)
		if err != nil {
			return 0, invalid("timeout", "%s", err.Error())
		}
		return d, nil
	}
	maxSec := int64(lim.MaxTimeout / time.Second)
	secs, err := strconv.ParseInt(string(raw), 10, 64) // a JSON string, float or bool fails here
	if err != nil || secs < 1 || secs > maxSec {       // checked in seconds first: no overflow
		return 0, invalid("timeout", "timeout must be an integer from 1 to %d seconds (default %d)",
			maxSec, int64(lim.Timeout/time.Second))
	}
	d, err := lim.RequestTimeout(time.Duration(secs) * time.Second)
	if err != nil {
		return 0, invalid("timeout", "%s", err.Error())
	}
	return d, nil
}

// seconds is a request's whole number of seconds as a duration; a number
// no limit accepts (negative, or too large to be a duration) becomes -1,
// which CheckLowered refuses with the field's range.
func seconds(n int64) time.Duration {
	if n < 0 || n > int64(math.MaxInt64/time.Second) {
		return -1
	}
	return time.Duration(n) * time.Second
}
