package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// Piston v2 (engineer-man/piston, api/src/api/v2.js): GET
// /api/v2/runtimes and POST /api/v2/execute, with Piston's field names,
// shapes, messages and statuses, on the same pipeline as /execute.
// docs/API.md, "Compatible APIs", documents them for their users.

// pistonName is how Piston's packages (packages/*/metadata.json) name a
// language warmbox serves: the language, its aliases and, for a package
// that provides the language under another name, the runtime.
type pistonName struct {
	language, runtime string
	aliases           []string
}

// pistonNames maps warmbox's language names to Piston's; warmbox's own
// name is an alias too where Piston's differs. A served language not
// listed keeps its warmbox name and has no alias.
var pistonNames = map[string]pistonName{
	"python": {language: "python", aliases: []string{"py", "py3", "python3"}},
	"node":   {language: "javascript", runtime: "node", aliases: []string{"node-javascript", "node-js", "javascript", "js", "node"}},
	"bash":   {language: "bash", aliases: []string{"sh"}},

	"typescript": {language: "typescript", aliases: []string{"ts", "node-ts", "tsc"}},
	"c":          {language: "c", runtime: "gcc", aliases: []string{"gcc"}},
	"cpp":        {language: "c++", runtime: "gcc", aliases: []string{"cpp", "g++"}},
	"d":          {language: "d", runtime: "gcc", aliases: []string{"gdc"}},
	"fortran":    {language: "fortran", runtime: "gcc", aliases: []string{"fortran", "f90"}},
	"go":         {language: "go", aliases: []string{"go", "golang"}},
	"rust":       {language: "rust", aliases: []string{"rs"}},
	"csharp":     {language: "csharp", runtime: "mono", aliases: []string{"mono", "mono-csharp", "mono-c#", "mono-cs", "c#", "cs"}},
	"ruby":       {language: "ruby", aliases: []string{"ruby3", "rb"}},
	"perl":       {language: "perl", aliases: []string{"pl"}},
	"r":          {language: "rscript", aliases: []string{"r"}},
	"sqlite":     {language: "sqlite3", aliases: []string{"sqlite", "sql"}},
	"ocaml":      {language: "ocaml", aliases: []string{"ml"}},
	"elixir":     {language: "elixir", aliases: []string{"exs"}},
}

// pistonRuntime is one entry of GET /api/v2/runtimes.
type pistonRuntime struct {
	Language string   `json:"language"`
	Version  string   `json:"version"` // the interpreter's, as /environments reports it
	Aliases  []string `json:"aliases"`
	Runtime  string   `json:"runtime,omitempty"`

	served dispatch.Language
}

// pistonResult is the answer to POST /api/v2/execute for a program that
// ran, and for a compiled language its "compile" stage of the same
// shape first. When the compiler failed, the program did not run and
// "run" repeats the compile stage, as Piston's clients read run.
type pistonResult struct {
	Compile  *pistonStage `json:"compile,omitempty"`
	Run      pistonStage  `json:"run"`
	Language string       `json:"language"`
	Version  string       `json:"version"`
}

// pistonStage is Piston's result of one stage (job.js, safe_call).
type pistonStage struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// Code is the exit status, null when a signal ended the program.
	Code   *int    `json:"code"`
	Signal *string `json:"signal"`
	// Output is stdout then stderr: warmbox keeps the streams apart, so
	// it cannot interleave them in the order they were written.
	Output string `json:"output"`
	// Memory is the peak resident memory in bytes.
	Memory int64 `json:"memory"`
	// Message and Status say why the stage did not end well (isolate's
	// words and codes, and Piston's OL/EL); both null when it did.
	Message *string `json:"message"`
	Status  *string `json:"status"`
	// CPUTime and WallTime are in milliseconds.
	CPUTime  float64 `json:"cpu_time"`
	WallTime float64 `json:"wall_time"`
}

// pistonError is Piston's error body.
type pistonError struct {
	Message string `json:"message"`
}

func (s *server) pistonRoutes() []route {
	return []route{
		{http.MethodGet, "/api/v2/runtimes", http.HandlerFunc(s.pistonRuntimes), "Piston v2: the served languages as Piston runtimes (language, version, aliases)"},
		{http.MethodPost, "/api/v2/execute", http.HandlerFunc(s.pistonExecute), "Piston v2: run code ({language, version, files, stdin, args, run_timeout}); JSON, also as text/plain"},
	}
}

// GET /api/v2/runtimes
func (s *server) pistonRuntimes(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.pistonRuntimeList())
}

// POST /api/v2/execute
func (s *server) pistonExecute(w http.ResponseWriter, r *http.Request) {
	s.run(w, r, s.piston())
}

// pistonRuntimeList is every served language, named as Piston names it.
func (s *server) pistonRuntimeList() []pistonRuntime {
	infos := s.svc.Languages()
	out := make([]pistonRuntime, 0, len(infos))
	for _, in := range infos {
		n, ok := pistonNames[in.Name]
		if !ok {
			n = pistonName{language: in.Name}
		}
		aliases := n.aliases
		if aliases == nil {
			aliases = []string{}
		}
		out = append(out, pistonRuntime{Language: n.language, Version: in.Version, Aliases: aliases,
			Runtime: n.runtime, served: in.Language})
	}
	return out
}

// findPistonRuntime resolves a language name or alias and a version
// selector as Piston does (runtime.js): the name exactly, the selector
// as a semver range.
func (s *server) findPistonRuntime(language, version string) (pistonRuntime, bool) {
	for _, rt := range s.pistonRuntimeList() {
		if (rt.Language == language || slices.Contains(rt.Aliases, language)) && versionMatches(rt.Version, version) {
			return rt, true
		}
	}
	return pistonRuntime{}, false
}

// piston is the Piston v2 dialect. Its clients send JSON as text/plain
// (piston-client sets no Content-Type); see docs/API.md for why that is
// safe. One dialect serves one request: parse records the runtime that
// answer names.
func (s *server) piston() dialect {
	var rt pistonRuntime
	return dialect{
		textPlain: true,
		parse: func(body []byte) (dispatch.Request, *apiError) {
			var (
				req dispatch.Request
				e   *apiError
			)
			rt, req, e = s.parsePiston(body)
			return req, asBadRequest(e)
		},
		answer: func(w http.ResponseWriter, _ dispatch.Request, resp executeResponse) {
			writeJSON(w, http.StatusOK, pistonAnswer(resp, rt))
		},
		fail: func(w http.ResponseWriter, e *apiError) {
			writeJSON(w, asBadRequest(e).status, pistonError{Message: e.message})
		},
	}
}

// pistonFile is one element of files[], content still encoded.
type pistonFile struct {
	name, content, encoding string
}

// parsePiston checks a body in Piston's order (v2.js, get_job), with
// Piston's messages, then builds the job through executeRequest.validate
// so that every limit is enforced as on /execute.
func (s *server) parsePiston(body []byte) (pistonRuntime, dispatch.Request, *apiError) {
	var none dispatch.Request
	fields, e := decodeObject(body, "")
	if e != nil {
		return pistonRuntime{}, none, e
	}
	language, ok := jsonString(fields["language"])
	if !ok || language == "" {
		return pistonRuntime{}, none, invalid("language", "language is required as a string")
	}
	version, ok := jsonString(fields["version"])
	if !ok || version == "" {
		msg := "version is required as a string"
		if _, known := s.findPistonRuntime(language, "*"); !known {
			// piston-client sends no version for a language that
			// /api/v2/runtimes does not list: say what is really wrong.
			msg += fmt.Sprintf(", and language %s matches no runtime (see GET /api/v2/runtimes)", quote(language))
		}
		return pistonRuntime{}, none, invalid("version", "%s", msg)
	}
	files, e := decodePistonFiles(fields["files"])
	if e != nil {
		return pistonRuntime{}, none, e
	}
	rt, ok := s.findPistonRuntime(language, version)
	if !ok {
		return pistonRuntime{}, none, &apiError{status: http.StatusBadRequest, code: "unknown_environment", field: "language",
			message: fmt.Sprintf("%s-%s runtime is unknown", shorten(language), shorten(version)), reason: "invalid_request"}
	}
	lang := rt.served
	named := dispatch.Request{Language: lang.Name}
	// The program is the first utf8 file, as Piston runs it.
	entry := slices.IndexFunc(files, func(f pistonFile) bool { return f.encoding == "utf8" })
	if entry < 0 {
		return rt, named, invalid("files", "files must include at least one utf8 encoded file")
	}
	timeout, lowered, e := pistonLimits(fields, lang)
	if e != nil {
		return rt, named, e
	}
	stdin := ""
	if raw := fields["stdin"]; !isNull(raw) {
		if stdin, ok = jsonString(raw); !ok {
			return rt, named, invalid("stdin", "stdin must be a string")
		}
	}
	args, e := pistonArgs(fields["args"])
	if e != nil {
		return rt, named, e
	}
	q, e := pistonProgram(files, entry, lang)
	if e != nil {
		return rt, named, e
	}
	q.Stdin, q.Args = stdin, args
	req, e := q.validate(lang)
	req.Language = lang.Name
	if e != nil {
		return rt, req, e
	}
	req.Timeout, req.Lowered = timeout, lowered
	// Piston ends stdin with a newline when it lacks one (job.js).
	if !strings.HasSuffix(stdin, "\n") {
		stdin += "\n"
	}
	req.Stdin = []byte(stdin)
	return rt, req, nil
}

// decodePistonFiles reads files[]: objects with a content string, an
// optional name and an optional encoding (utf8, base64 or hex; Piston
// takes any other as utf8, warmbox refuses it).
func decodePistonFiles(raw json.RawMessage) ([]pistonFile, *apiError) {
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalid("files", "files is required as an array")
	}
	files := make([]pistonFile, 0, len(items))
	for i, item := range items {
		if len(item) == 0 || item[0] != '{' {
			return nil, invalid("files", "files[%d] must be an object with a content string", i)
		}
		obj, e := decodeObject(item, "")
		if e != nil {
			return nil, e
		}
		f := pistonFile{encoding: "utf8"}
		var ok bool
		if f.content, ok = jsonString(obj["content"]); !ok {
			return nil, invalid("files", "files[%d].content is required as a string", i)
		}
		if raw := obj["name"]; !isNull(raw) {
			if f.name, ok = jsonString(raw); !ok {
				return nil, invalid("files", "files[%d].name must be a string", i)
			}
		}
		if raw := obj["encoding"]; !isNull(raw) {
			enc, ok := jsonString(raw)
			switch {
			case !ok || (enc != "" && enc != "utf8" && enc != "base64" && enc != "hex"):
				return nil, invalid("files", "files[%d].encoding must be utf8, base64 or hex", i)
			case enc != "":
				f.encoding = enc
			}
		}
		files = append(files, f)
	}
	return files, nil
}

// pistonProgram decodes the files into /execute's request: the entry's
// content is the code (its name is not kept: the language's entry file
// holds it), the others keep their names, or Piston's "file<i>.code".
func pistonProgram(files []pistonFile, entry int, lang dispatch.Language) (executeRequest, *apiError) {
	q := executeRequest{Code: files[entry].content}
	if q.Code == "" {
		return q, invalid("files", "files[%d].content, the program, must not be empty", entry)
	}
	if e := tooManyFiles(len(files), lang.Limits); e != nil {
		return q, e
	}
	names := make(map[string]bool, len(files))
	for i, f := range files {
		name := f.name
		if name == "" {
			name = "file" + strconv.Itoa(i) + ".code"
		}
		if names[name] {
			return q, duplicateKey("duplicate_file_name", "files", "files[%d].name %s is given more than once", i, quote(name))
		}
		names[name] = true
		if i == entry {
			// Its name is not kept, but a bad one is still a bad request.
			if f.name != "" {
				if err := wire.ValidateFileName(f.name); err != nil {
					return q, invalid("files", "%s", err.Error())
				}
			}
			continue
		}
		content, err := decodeContent(f.content, f.encoding)
		if err != nil {
			return q, invalid("files", "files[%d].content is not valid %s", i, f.encoding)
		}
		if q.Files == nil {
			q.Files = make(map[string]string, len(files)-1)
		}
		q.Files[name] = string(content)
	}
	return q, nil
}

// tooManyFiles words the file-count limit for the APIs whose files
// include the program; executeRequest.validate enforces the same limit
// on the others.
func tooManyFiles(n int, lim policy.Limits) *apiError {
	if n > lim.MaxFiles+1 {
		return invalid("files", "at most %d files are accepted (the program and %d more), got %d", lim.MaxFiles+1, lim.MaxFiles, n)
	}
	return nil
}

// decodeContent decodes a file's content. Base64 may be padded or not,
// standard or URL-safe, and wrapped in whitespace, as Node's Buffer
// takes it; hex must be whole bytes.
func decodeContent(content, encoding string) ([]byte, error) {
	switch encoding {
	case "base64":
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
				return -1
			}
			return r
		}, content)
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			var b []byte
			if b, err = enc.DecodeString(clean); err == nil {
				return b, nil
			}
		}
		return nil, err
	case "hex":
		return hex.DecodeString(content)
	}
	return []byte(content), nil
}

// pistonArgs reads args: absent or null, or an array of strings.
func pistonArgs(raw json.RawMessage) ([]string, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalid("args", "args must be an array of strings")
	}
	args := make([]string, 0, len(items))
	for i, item := range items {
		a, ok := jsonString(item)
		if !ok {
			return nil, invalid(fmt.Sprintf("args[%d]", i), "args[%d] must be a string", i)
		}
		args = append(args, a)
	}
	return args, nil
}

// pistonLimits checks Piston's six optional limits as v2.js does (absent,
// null and 0 mean "not given"; each must be a number, at most the
// configured limit and not negative) and returns the run's timeout and
// the limits the request lowered. Each is a lowering of the language's
// own, applied as on /execute (policy.Lowered):
//
//   - run_timeout (ms) is the program's wall-clock limit, at most the
//     language's max_timeout; under a second is allowed (the runner
//     counts milliseconds; a fraction is rounded up). Not given: the
//     language's default timeout.
//   - run_memory_limit and compile_memory_limit (bytes) are the
//     program's and the compiler's memory, at most the language's
//     memory_mb and compile_memory_mb, rounded up to whole MiB, at least
//     16 MiB. A negative one is "no limit of the request's own", as
//     piston-client's default -1 means against Piston's default
//     configuration: the language's limit holds.
//   - run_cpu_time and compile_cpu_time (ms) become whole seconds of
//     RLIMIT_CPU, rounded up; the run's is at most max_timeout, the
//     compiler's at most its compile_cpu_time (else compile_timeout).
//   - compile_timeout (ms) is the compile stage's wall-clock limit, at
//     most the language's compile_timeout.
//
// The compile limits are checked for every language, as Piston does,
// and apply only to one with a compile stage.
func pistonLimits(fields map[string]json.RawMessage, lang dispatch.Language) (time.Duration, policy.Lowered, *apiError) {
	lim := lang.Limits
	var low policy.Lowered
	timeout := lim.Timeout
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) }
	type unit int
	const (
		millis  unit = iota // a wall-clock limit, kept to the millisecond
		seconds             // a CPU time, rounded up to RLIMIT_CPU's seconds
		bytes               // a memory limit, rounded up to MiB
	)
	// In v2.js's order: memory, timeout, CPU time; compile, then run.
	checks := []struct {
		name     string
		limit    float64 // the configured limit, in the field's unit
		unit     unit
		duration *time.Duration
		mb       *int64
	}{
		{"compile_memory_limit", float64(lim.CompilerMemoryMB() << 20), bytes, nil, &low.CompileMemoryMB},
		{"run_memory_limit", float64(lim.MemoryMB << 20), bytes, nil, &low.MemoryMB},
		{"compile_timeout", ms(lim.CompileTimeout), millis, &low.CompileTimeout, nil},
		{"run_timeout", ms(lim.MaxTimeout), millis, &timeout, nil},
		{"compile_cpu_time", ms(lim.CompilerCPUTime()), seconds, &low.CompileCPUTime, nil},
		{"run_cpu_time", ms(lim.MaxTimeout), seconds, &low.CPUTime, nil},
	}
	for _, c := range checks {
		v, given, e := pistonNumber(fields, c.name)
		switch {
		case e != nil:
			return 0, policy.Lowered{}, e
		case !given || c.unit == bytes && v < 0:
			continue
		case v > c.limit:
			return 0, policy.Lowered{}, invalid(c.name, "%s cannot exceed the configured limit of %.0f", c.name, c.limit)
		case v < 0:
			return 0, policy.Lowered{}, invalid(c.name, "%s must be non-negative", c.name)
		case c.unit == bytes && v < policy.MinLoweredMemoryMB<<20:
			return 0, policy.Lowered{}, invalid(c.name, "%s must be at least %d (%d MiB): below it no program starts",
				c.name, policy.MinLoweredMemoryMB<<20, policy.MinLoweredMemoryMB)
		case c.unit == bytes:
			*c.mb = int64(math.Ceil(v / (1 << 20)))
		case c.unit == millis:
			*c.duration = time.Duration(math.Ceil(v)) * time.Millisecond
		default:
			*c.duration = time.Duration(math.Ceil(v/1000)) * time.Second
		}
	}
	if len(lang.Compile) == 0 {
		low.CompileTimeout, low.CompileCPUTime, low.CompileMemoryMB = 0, 0, 0
	}
	return timeout, low, nil
}

// pistonNumber reads one optional numeric field; given is false when it
// is absent, null or 0 (Piston skips a falsy value).
func pistonNumber(fields map[string]json.RawMessage, name string) (v float64, given bool, e *apiError) {
	raw := fields[name]
	if isNull(raw) {
		return 0, false, nil
	}
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false, invalid(name, "If specified, %s must be a number", name)
	}
	// A JSON number always parses; out of range it is ±Inf, which the
	// limit checks refuse.
	v, _ = strconv.ParseFloat(string(raw), 64)
	return v, v != 0, nil
}

// pistonAnswer is Piston's answer for a program that ran (or whose
// compiler failed).
func pistonAnswer(resp executeResponse, rt pistonRuntime) pistonResult {
	out := pistonResult{Language: rt.Language, Version: rt.Version}
	if c := resp.Compile; c != nil {
		st := pistonStageOf(c.Stdout, c.Stderr, c.Truncated, c.ExitCode, c.Signal, c.TimedOut, false,
			c.MemoryPeakKB, float64(c.CPUTimeMs), float64(c.Time))
		out.Compile = &st
		if resp.ExitCode == nil && resp.Signal == nil {
			out.Run = st
			return out
		}
	}
	out.Run = pistonStageOf(resp.Stdout, resp.Stderr, resp.Truncated, resp.ExitCode, resp.Signal,
		resp.TimedOut, resp.OOMKilled, resp.MemoryPeakKB, float64(resp.CPUTimeMs), float64(resp.ExecutionTime))
	return out
}

// pistonStageOf is one stage in Piston's words. Status and message
// follow Piston's order: output over its cap first (OL, EL), then
// isolate's TO (wall clock), SG (a signal, also the OOM killer's) and RE
// (a non-zero exit). Piston kills a program whose output overflows and
// reports SIGKILL; warmbox cuts the stream and lets the program run on,
// so code and signal are then the program's own.
func pistonStageOf(stdout, stderr string, cut truncated, code *int, signal *string, timedOut, oom bool,
	memoryKB int64, cpuMs, wallSeconds float64) pistonStage {
	st := pistonStage{
		Stdout:   stdout,
		Stderr:   stderr,
		Code:     code,
		Signal:   signal,
		Output:   stdout + stderr,
		Memory:   memoryKB * 1024,
		CPUTime:  cpuMs,
		WallTime: math.Round(wallSeconds * 1000),
	}
	var status, message string
	switch {
	case cut.Stdout:
		status, message = "OL", "stdout length exceeded"
	case cut.Stderr:
		status, message = "EL", "stderr length exceeded"
	case timedOut:
		status, message = "TO", "Time limit exceeded (wall clock)"
	case signal != nil:
		status, message = "SG", "Caught fatal signal "+signalNumber(*signal)
		if oom {
			message += " (out of memory)"
		}
	case code != nil && *code != 0:
		status, message = "RE", "Exited with error status "+strconv.Itoa(*code)
	default:
		return st
	}
	st.Status, st.Message = &status, &message
	return st
}

// signalNumber is a signal's number as isolate reports it ("9" for
// SIGKILL), or its name when unknown.
func signalNumber(name string) string {
	if n := unix.SignalNum(name); n != 0 {
		return strconv.Itoa(int(n))
	}
	return name
}
