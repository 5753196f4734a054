package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Case is one request and the judge of its answer.
type Case struct {
	// Label names the program, e.g. "python/cpu".
	Label   string
	Request Request
	// Want is the exact stdout a right answer prints; nil accepts any
	// stdout (a user's own program).
	Want *string
}

// Check judges an answer: nil when it is right, else an error whose kind
// (see ErrorKind) is wrong_output for built-in programs, and
// program_error or program_timeout for a user's program that failed.
func (c Case) Check(r Response) error {
	exit := "killed"
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	}
	if c.Want == nil {
		switch r.Status {
		case "success":
			return nil
		case "timeout":
			return WithKind("program_timeout", fmt.Errorf("%s: the program timed out", c.Label))
		}
		return WithKind("program_error", fmt.Errorf("%s: status %q, exit %s, stderr %q", c.Label, r.Status, exit, clip(r.Stderr)))
	}
	if r.Status != "success" || r.Stdout != *c.Want || r.Truncated.Stdout {
		return WithKind(KindWrongOutput, fmt.Errorf("%s: status %q, exit %s, stdout %q (want %q), stderr %q",
			c.Label, r.Status, exit, clip(r.Stdout), clip(*c.Want), clip(r.Stderr)))
	}
	return nil
}

func clip(s string) string {
	const limit = 120
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// Scenario is what one phase of a run sends: a fixed program, or a
// weighted draw from several.
type Scenario struct {
	// Name labels the scenario in reports: "python/hello", "mix".
	Name string
	// Languages the scenario uses.
	Languages []string
	cases     []Case
	weights   []int // parallel to cases; cumulative draw
	total     int
}

// pick draws a case; a single-case scenario always returns it.
func (s Scenario) pick(r *rand.Rand) Case {
	if len(s.cases) == 1 {
		return s.cases[0]
	}
	n := r.IntN(s.total)
	for i, w := range s.weights {
		if n < w {
			return s.cases[i]
		}
		n -= w
	}
	return s.cases[len(s.cases)-1]
}

// Builtin returns the scenario of one built-in program kind in one
// language, e.g. Builtin("hello", "python").
func Builtin(kind, lang string) (Scenario, error) {
	c, err := builtinCase(kind, lang)
	if err != nil {
		return Scenario{}, err
	}
	return Scenario{Name: c.Label, Languages: []string{lang}, cases: []Case{c}, weights: []int{1}, total: 1}, nil
}

func builtinCase(kind, lang string) (Case, error) {
	p, err := builtin(kind, lang)
	if err != nil {
		return Case{}, err
	}
	want := p.want
	return Case{
		Label:   lang + "/" + kind,
		Request: Request{Code: p.code, Environment: lang, Stdin: p.stdin, Files: p.files},
		Want:    &want,
	}, nil
}

// DefaultMix weighs the built-in kinds in the mix: mostly small programs,
// as interactive use is.
var DefaultMix = map[string]int{"hello": 4, "cpu": 1, "output": 1, "stdin": 2, "multifile": 2}

// Mix returns a scenario that draws each request's program kind by
// weight and its language uniformly from langs.
func Mix(langs []string, weights map[string]int) (Scenario, error) {
	if len(langs) == 0 {
		return Scenario{}, errors.New("mix: no language")
	}
	s := Scenario{Name: "mix", Languages: slices.Clone(langs)}
	kinds := make([]string, 0, len(weights))
	for k := range weights {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		w := weights[k]
		if w < 0 {
			return Scenario{}, fmt.Errorf("mix: weight of %s must not be negative", k)
		}
		if w == 0 {
			continue
		}
		for _, l := range langs {
			c, err := builtinCase(k, l)
			if err != nil {
				return Scenario{}, fmt.Errorf("mix: %w", err)
			}
			s.cases = append(s.cases, c)
			s.weights = append(s.weights, w)
			s.total += w
		}
	}
	if s.total == 0 {
		return Scenario{}, errors.New("mix: every weight is zero")
	}
	return s, nil
}

// ParseMix reads weights written as "hello=4,cpu=1"; kinds not named
// weigh 0.
func ParseMix(spec string) (map[string]int, error) {
	out := map[string]int{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("mix: %q: want kind=weight", part)
		}
		k = strings.TrimSpace(k)
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("mix: unknown kind %q (kinds: %s)", k, strings.Join(Kinds, ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("mix: weight of %s must be a whole number >= 0, got %q", k, v)
		}
		out[k] = n
	}
	if len(out) == 0 {
		return nil, errors.New("mix: no weights given")
	}
	return out, nil
}

// File returns a scenario that runs a user's program, named name, in
// lang. Any answer with status success is right.
func File(name, lang, code string) Scenario {
	c := Case{Label: lang + "/file:" + name, Request: Request{Code: code, Environment: lang}}
	return Scenario{Name: c.Label, Languages: []string{lang}, cases: []Case{c}, weights: []int{1}, total: 1}
}
