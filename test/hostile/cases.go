package hostile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Case is one hostile program and what must come of it.
type Case struct {
	ID       string `yaml:"id"`
	Category string `yaml:"category"`
	Title    string `yaml:"title"`
	Language string `yaml:"language"`
	// Timeout is the request's timeout in seconds. The response must
	// arrive within Timeout + wallSlack: a bound that only proves "no
	// hang", never a speed assertion.
	Timeout int               `yaml:"timeout"`
	Stdin   string            `yaml:"stdin"`
	Files   map[string]string `yaml:"files"`
	Args    []string          `yaml:"args"`
	// StdinFill appends that many bytes of "x" to Stdin.
	StdinFill int `yaml:"stdin_fill"`
	// Code is the program. {{MARK}} becomes a marker unique to this run
	// (the harness checks that no host process carries it afterwards);
	// {{PORT}} becomes the daemon's TCP port.
	Code   string `yaml:"code"`
	Expect Expect `yaml:"expect"`
	// Mode is "single" (the default: TestHostile, single-use sandboxes)
	// or "reuse" (TestReuse: one sandbox per language, reset between
	// jobs, so the follow-up runs where the case ran).
	Mode string `yaml:"mode"`
	// Followup runs right after the case in the same language, in
	// whatever sandbox the pool hands out next.
	Followup *Followup `yaml:"followup"`
	// Alongside is a job in the same language, sent while the case runs,
	// that lands in another sandbox: it proves what one sandbox cannot do
	// to its neighbour.
	Alongside *Alongside `yaml:"alongside"`
	// Finding names the entry in docs/SECURITY.md when the expectation
	// records a weakness the real engine showed.
	Finding string `yaml:"finding"`
	// Runsc holds the expectation under gVisor; a case without it is not
	// part of the gVisor sub-suite.
	Runsc *Expect `yaml:"runsc"`
	// Exec holds the expectation under the exec hand-off (docker exec of
	// the runner per job) where it differs from the default hand-off;
	// ExecSame puts the case in the exec sub-suite with Expect.
	Exec     *Expect `yaml:"exec"`
	ExecSame bool    `yaml:"exec_same"`
}

// Followup is a second job that inspects what the case left behind.
type Followup struct {
	Code    string `yaml:"code"`
	Timeout int    `yaml:"timeout"`
	Expect  Expect `yaml:"expect"`
	// SameSandbox, in reuse mode, says whether the follow-up must run in
	// the sandbox the case used (true: it was reset and reused) or in a
	// new one (false: the case got its sandbox discarded).
	SameSandbox *bool `yaml:"same_sandbox"`
}

// Alongside is a job sent DelayMs after the case starts.
type Alongside struct {
	Code    string `yaml:"code"`
	Timeout int    `yaml:"timeout"`
	DelayMs int    `yaml:"delay_ms"`
	Expect  Expect `yaml:"expect"`
}

// Expect is an exact, checkable outcome. Unset fields are not checked,
// except TimedOut, which follows Status, and the HTTP status, which is
// 200 unless given.
type Expect struct {
	HTTP      int    `yaml:"http"`
	ErrorCode string `yaml:"error_code"`
	// Or is the other accepted outcome of a case whose outcome depends
	// on a race the sandbox does not control (e.g. a thread bomb under
	// gVisor, finding F3): the answer must match this expectation or Or.
	Or *Expect `yaml:"or"`

	Status string `yaml:"status"` // success | error | timeout
	// StatusAny lists the accepted outcomes of a case whose outcome is
	// nondeterministic; it replaces status (and the timed_out and exit
	// checks that follow from it).
	StatusAny []string `yaml:"status_any"`
	ExitCode  *int     `yaml:"exit_code"`
	Signal    string   `yaml:"signal"`
	TimedOut  *bool    `yaml:"timed_out"`
	OOMKilled *bool    `yaml:"oom_killed"`
	Truncated *struct {
		Stdout bool `yaml:"stdout"`
		Stderr bool `yaml:"stderr"`
	} `yaml:"truncated"`

	Stdout    *string `yaml:"stdout"`
	Stderr    *string `yaml:"stderr"`
	StdoutLen *int    `yaml:"stdout_len"`
	StderrLen *int    `yaml:"stderr_len"`

	StdoutContains    []string `yaml:"stdout_contains"`
	StdoutNotContains []string `yaml:"stdout_not_contains"`
	StdoutMatches     []string `yaml:"stdout_matches"`
	StderrContains    []string `yaml:"stderr_contains"`
	StderrNotContains []string `yaml:"stderr_not_contains"`
	StderrMatches     []string `yaml:"stderr_matches"`
}

// wallSlack is what a response may take beyond the job's timeout: the
// daemon's own backstop (timeout + 2 s) plus removing the container and
// a busy host. Exceeding it means the request hung.
const wallSlack = 5 * time.Second

// languages are the battery's: the three the hostile daemon's defaults
// enable, and the core attacks in compiled and other languages
// (hostileLanguages enables them too).
var languages = map[string]bool{"python": true, "node": true, "bash": true,
	"c": true, "java": true, "go": true, "ruby": true}

// LoadCases reads and validates the case file.
func LoadCases(path string) ([]Case, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var cases []Case
	if err := dec.Decode(&cases); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i, c := range cases {
		where := fmt.Sprintf("%s: case %d (%s)", path, i, c.ID)
		switch {
		case c.ID == "" || seen[c.ID]:
			return nil, fmt.Errorf("%s: id missing or duplicate", where)
		case c.Category == "" || c.Title == "":
			return nil, fmt.Errorf("%s: category and title are required", where)
		case !languages[c.Language]:
			return nil, fmt.Errorf("%s: language %q", where, c.Language)
		case c.Timeout < 1 || c.Timeout > 600:
			return nil, fmt.Errorf("%s: timeout %d must be 1 to 600", where, c.Timeout)
		case strings.TrimSpace(c.Code) == "":
			return nil, fmt.Errorf("%s: code is required", where)
		case c.Mode != "" && c.Mode != "single" && c.Mode != "reuse":
			return nil, fmt.Errorf("%s: mode %q must be single or reuse", where, c.Mode)
		case c.Mode == "reuse" && (c.Followup == nil || c.Followup.SameSandbox == nil):
			return nil, fmt.Errorf("%s: a reuse case needs a follow-up with same_sandbox", where)
		}
		if cases[i].Mode == "" {
			cases[i].Mode = "single"
		}
		seen[c.ID] = true
		var along *Expect
		if c.Alongside != nil {
			along = &c.Alongside.Expect
		}
		if c.Exec != nil && c.ExecSame {
			return nil, fmt.Errorf("%s: exec and exec_same exclude each other", where)
		}
		for _, e := range []*Expect{&cases[i].Expect, c.Runsc, c.Exec, followupExpect(c.Followup), along} {
			if e == nil {
				continue
			}
			if err := e.validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return cases, nil
}

func followupExpect(f *Followup) *Expect {
	if f == nil {
		return nil
	}
	return &f.Expect
}

func (e *Expect) validate() error {
	if e.HTTP == 0 {
		e.HTTP = 200
	}
	if e.HTTP == 200 && len(e.StatusAny) > 0 {
		if e.Status != "" {
			return fmt.Errorf("expect: status and status_any exclude each other")
		}
		for _, st := range e.StatusAny {
			if st != "success" && st != "error" && st != "timeout" {
				return fmt.Errorf("expect.status_any %q must be success, error or timeout", st)
			}
		}
	} else if e.HTTP == 200 {
		switch e.Status {
		case "success", "error", "timeout":
		default:
			return fmt.Errorf("expect.status %q must be success, error or timeout", e.Status)
		}
		if e.ExitCode == nil && e.Signal == "" && e.Status != "timeout" {
			return fmt.Errorf("expect: give exit_code or signal")
		}
	} else if e.ErrorCode == "" {
		return fmt.Errorf("expect: a non-200 answer needs error_code")
	}
	for _, re := range append(append([]string{}, e.StdoutMatches...), e.StderrMatches...) {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("expect: regexp %q: %w", re, err)
		}
	}
	return nil
}

// Job is a case made ready to send: markers and ports substituted.
type Job struct {
	Body   map[string]any
	Marker string
}

// Prepare builds the request body. The marker is unique to this run, so
// a process left over from an earlier run is never mistaken for this one.
func (c Case) Prepare(port string) Job {
	marker := "wbh" + strings.ToLower(strings.ReplaceAll(c.ID, "-", "")) + randomHex(4)
	sub := strings.NewReplacer("{{MARK}}", marker, "{{PORT}}", port)
	body := map[string]any{
		"environment": c.Language,
		"code":        sub.Replace(c.Code),
		"timeout":     c.Timeout,
	}
	stdin := c.Stdin + strings.Repeat("x", c.StdinFill)
	if stdin != "" {
		body["stdin"] = stdin
	}
	if len(c.Files) > 0 {
		files := map[string]string{}
		for k, v := range c.Files {
			files[k] = sub.Replace(v)
		}
		body["files"] = files
	}
	if len(c.Args) > 0 {
		body["args"] = c.Args
	}
	return Job{Body: body, Marker: marker}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Answer is what came back for one request.
type Answer struct {
	HTTP        int
	ContentType string
	Raw         []byte
	Wall        time.Duration
}

// compileTime is how long the answer's compile stage took, if it had one.
func (a Answer) compileTime() time.Duration {
	var body struct {
		Compile *struct {
			Time float64 `json:"time"`
		} `json:"compile"`
	}
	if json.Unmarshal(a.Raw, &body) != nil || body.Compile == nil {
		return 0
	}
	return time.Duration(body.Compile.Time * float64(time.Second))
}

// Check compares an answer with the expectation and returns every
// mismatch; timeout is the job's timeout in seconds.
func (e Expect) Check(a Answer, timeout int) []string {
	if e.Or != nil {
		alt := *e.Or
		e.Or = nil
		bad := e.Check(a, timeout)
		if len(bad) == 0 {
			return nil
		}
		if altBad := alt.Check(a, timeout); len(altBad) > 0 {
			return append(bad, append([]string{"nor the other accepted outcome:"}, altBad...)...)
		}
		return nil
	}
	var bad []string
	badf := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	// U1: the answer came in time and is strict JSON. A compiled
	// language's compile stage has a timeout of its own before the
	// program's: the time it took is added.
	if limit := time.Duration(timeout)*time.Second + wallSlack + a.compileTime(); a.Wall > limit {
		badf("answered after %s, more than timeout + %s = %s (a hang)", a.Wall.Round(time.Millisecond), wallSlack, limit)
	}
	if !strings.HasPrefix(a.ContentType, "application/json") {
		badf("Content-Type %q, want application/json", a.ContentType)
	}
	if !utf8.Valid(a.Raw) || !json.Valid(a.Raw) {
		return append(bad, fmt.Sprintf("body is not valid UTF-8 JSON: %.300q", a.Raw))
	}
	if a.HTTP != e.HTTP {
		return append(bad, fmt.Sprintf("HTTP %d, want %d: %.500s", a.HTTP, e.HTTP, a.Raw))
	}
	if a.HTTP != 200 {
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(a.Raw, &body)
		if body.Error.Code != e.ErrorCode {
			badf("error.code %q, want %q: %.300s", body.Error.Code, e.ErrorCode, a.Raw)
		}
		return bad
	}

	var r struct {
		Status    string  `json:"status"`
		ExitCode  *int    `json:"exit_code"`
		Signal    *string `json:"signal"`
		TimedOut  bool    `json:"timed_out"`
		OOMKilled bool    `json:"oom_killed"`
		Truncated struct {
			Stdout bool `json:"stdout"`
			Stderr bool `json:"stderr"`
		} `json:"truncated"`
		Stdout string `json:"stdout"`
		Stderr string `json:"stderr"`
	}
	if err := json.Unmarshal(a.Raw, &r); err != nil {
		return append(bad, fmt.Sprintf("response does not fit the schema: %v", err))
	}
	if len(e.StatusAny) > 0 {
		if !slices.Contains(e.StatusAny, r.Status) || r.TimedOut != (r.Status == "timeout") {
			badf("status %q (timed_out %v), want one of %v", r.Status, r.TimedOut, e.StatusAny)
		}
	} else {
		if r.Status != e.Status {
			badf("status %q, want %q", r.Status, e.Status)
		}
		wantTimedOut := e.Status == "timeout"
		if e.TimedOut != nil {
			wantTimedOut = *e.TimedOut
		}
		if r.TimedOut != wantTimedOut {
			badf("timed_out %v, want %v", r.TimedOut, wantTimedOut)
		}
	}
	if e.ExitCode != nil && (r.ExitCode == nil || *r.ExitCode != *e.ExitCode) {
		badf("exit_code %s, want %d", intOrNull(r.ExitCode), *e.ExitCode)
	}
	if e.Signal != "" && (r.Signal == nil || *r.Signal != e.Signal) {
		badf("signal %s, want %s", strOrNull(r.Signal), e.Signal)
	}
	if e.OOMKilled != nil && r.OOMKilled != *e.OOMKilled {
		badf("oom_killed %v, want %v", r.OOMKilled, *e.OOMKilled)
	}
	if e.Truncated != nil && (r.Truncated.Stdout != e.Truncated.Stdout || r.Truncated.Stderr != e.Truncated.Stderr) {
		badf("truncated {stdout: %v, stderr: %v}, want {stdout: %v, stderr: %v}",
			r.Truncated.Stdout, r.Truncated.Stderr, e.Truncated.Stdout, e.Truncated.Stderr)
	}
	stream := func(name, got string, exact *string, length *int, contains, notContains, matches []string) {
		if exact != nil && got != *exact {
			badf("%s = %s, want %s", name, clip(got), clip(*exact))
		}
		if length != nil && len(got) != *length {
			badf("len(%s) = %d bytes, want %d", name, len(got), *length)
		}
		for _, s := range contains {
			if !strings.Contains(got, s) {
				badf("%s lacks %q: %s", name, s, clip(got))
			}
		}
		for _, s := range notContains {
			if strings.Contains(got, s) {
				badf("%s contains %q: %s", name, s, clip(got))
			}
		}
		for _, re := range matches {
			if !regexp.MustCompile(re).MatchString(got) {
				badf("%s does not match /%s/: %s", name, re, clip(got))
			}
		}
	}
	stream("stdout", r.Stdout, e.Stdout, e.StdoutLen, e.StdoutContains, e.StdoutNotContains, e.StdoutMatches)
	stream("stderr", r.Stderr, e.Stderr, e.StderrLen, e.StderrContains, e.StderrNotContains, e.StderrMatches)
	return bad
}

// clip quotes s, shortened for a failure message.
func clip(s string) string {
	const limit = 600
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:limit], len(s))
}

func intOrNull(p *int) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func strOrNull(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}
