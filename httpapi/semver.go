package httpapi

import (
	"strconv"
	"strings"
)

// versionMatches reports whether version (as /environments reports it,
// "3.11.2") satisfies selector, a node-semver range as Piston reads the
// version field: "*" or "x"; a version, whole or partial, with x or * in
// place of numbers ("3.11.2", "=v3.11.2", "3", "3.11.x"); comparators
// (">=3.9", "< 4"); tilde ("~3.11") and caret ("^3.9") ranges; hyphen
// ranges ("3.9 - 3.12"); several of these separated by spaces (all must
// hold), and alternatives separated by "||". A selector naming a
// pre-release matches nothing. A version that does not start with
// numbers matches only "*", "x" or itself.
func versionMatches(version, selector string) bool {
	v, n := parsePartial(version, true)
	if n < 1 {
		s := strings.TrimSpace(selector)
		return s == version || s == "*" || s == "x" || s == "X"
	}
	for _, alt := range strings.Split(selector, "||") {
		if cs, ok := parseRange(strings.Fields(alt)); ok && satisfiesAll(v, cs) {
			return true
		}
	}
	return false
}

// semver is a version's major, minor and patch numbers.
type semver [3]int

func (a semver) compare(b semver) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// next is the first version past a with its first n numbers fixed:
// next(3.11.2, 2) = 3.12.0, next(3.11.2, 1) = 4.0.0.
func (a semver) next(n int) semver {
	var b semver
	copy(b[:n], a[:n])
	b[n-1]++
	return b
}

// comparator is one bound: op is <, <=, >, >= or =.
type comparator struct {
	op string
	v  semver
}

func (c comparator) holds(v semver) bool {
	d := v.compare(c.v)
	switch c.op {
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	}
	return d == 0
}

func satisfiesAll(v semver, cs []comparator) bool {
	for _, c := range cs {
		if !c.holds(v) {
			return false
		}
	}
	return true
}

// never is a bound no version meets.
var never = comparator{"<", semver{}}

// parseRange reads one alternative of a range, split into words.
func parseRange(words []string) ([]comparator, bool) {
	var cs []comparator
	for i := 0; i < len(words); i++ {
		w := words[i]
		if i+2 < len(words) && words[i+1] == "-" { // a hyphen range
			lo, nLo := parsePartial(w, false)
			hi, nHi := parsePartial(words[i+2], false)
			if nLo < 0 || nHi < 0 {
				return nil, false
			}
			if nLo > 0 {
				cs = append(cs, comparator{">=", lo})
			}
			switch {
			case nHi == 3:
				cs = append(cs, comparator{"<=", hi})
			case nHi > 0:
				cs = append(cs, comparator{"<", hi.next(nHi)})
			}
			i += 2
			continue
		}
		if strings.Trim(w, "<>=~^") == "" && i+1 < len(words) { // "> 3.9"
			w += words[i+1]
			i++
		}
		c, ok := parseComparator(w)
		if !ok {
			return nil, false
		}
		cs = append(cs, c...)
	}
	return cs, true
}

// parseComparator reads one operator and partial version as bounds.
func parseComparator(w string) ([]comparator, bool) {
	op := ""
	for _, p := range []string{">=", "<=", ">", "<", "=", "~", "^"} {
		if strings.HasPrefix(w, p) {
			op, w = p, w[len(p):]
			break
		}
	}
	v, n := parsePartial(w, false)
	switch {
	case n < 0:
		return nil, false
	case n == 0: // a wildcard: any version, or none past or before it
		if op == ">" || op == "<" {
			return []comparator{never}, true
		}
		return nil, true
	}
	switch op {
	case "", "=":
		if n == 3 {
			return []comparator{{"=", v}}, true
		}
		return []comparator{{">=", v}, {"<", v.next(n)}}, true
	case ">":
		if n == 3 {
			return []comparator{{">", v}}, true
		}
		return []comparator{{">=", v.next(n)}}, true
	case "<=":
		if n == 3 {
			return []comparator{{"<=", v}}, true
		}
		return []comparator{{"<", v.next(n)}}, true
	case ">=", "<":
		return []comparator{{op, v}}, true
	case "~":
		return []comparator{{">=", v}, {"<", v.next(min(n, 2))}}, true
	}
	// ^: the leftmost non-zero number given stays fixed.
	fixed := 1
	switch {
	case v[0] > 0 || n == 1:
	case v[1] > 0 || n == 2:
		fixed = 2
	default:
		fixed = 3
	}
	return []comparator{{">=", v}, {"<", v.next(fixed)}}, true
}

// parsePartial reads "3", "3.11", "v3.11.x", "*": the numbers given, the
// others 0, and how many were given before the first wildcard or the
// end (0 for "*"), or -1 when s is not one. lenient reads a version as
// the daemon reports it, ignoring what follows its numbers ("5.2.15(1)").
func parsePartial(s string, lenient bool) (semver, int) {
	var v semver
	s = strings.TrimPrefix(strings.TrimPrefix(s, "="), "v")
	if s == "" {
		return v, -1
	}
	n := 0
	for i, p := range strings.SplitN(s, ".", 3) {
		rest := false
		if lenient {
			end := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' })
			if end == 0 {
				return v, n
			}
			if end > 0 {
				p, rest = p[:end], true
			}
		}
		if !lenient && (p == "x" || p == "X" || p == "*") {
			return v, n
		}
		num, err := strconv.Atoi(p)
		if err != nil || num < 0 || strings.HasPrefix(p, "+") {
			return v, -1
		}
		v[i], n = num, i+1
		if rest {
			break
		}
	}
	return v, n
}
