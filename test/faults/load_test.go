package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// job is one /execute request.
type job struct {
	Lang    string
	Code    string
	Timeout int    // seconds
	Want    string // expected stdout of a 200 success; "" = not checked
	Kind    string // label for tallies; defaults to Lang
}

// short returns the load's short job for a language: prints 1.
func short(lang string) job {
	code := map[string]string{"python": "print(1)", "node": "console.log(1)", "bash": "echo 1"}[lang]
	return job{Lang: lang, Code: code, Timeout: 5, Want: "1\n"}
}

var languages = []string{"python", "node", "bash"}

// killGrace is the dispatcher's grace past a job's timeout before it
// destroys the sandbox itself (dispatch.killGrace).
const killGrace = 2 * time.Second

// slack absorbs a loaded machine in every "did not hang" bound.
const slack = 8 * time.Second

// hangBound is the longest a request may take before it counts as hung:
// the acquire may wait up to the job's timeout, the run may take the
// timeout plus the kill grace, and slack.
func (j job) hangBound() time.Duration {
	t := time.Duration(j.Timeout) * time.Second
	return 2*t + killGrace + slack
}

// answer is what one request got.
type answer struct {
	Job        job
	Sent       time.Time
	Elapsed    time.Duration
	HTTP       int    // 0: no HTTP response
	Code       string // error.code of an error response
	Status     string // status of a 200
	Stdout     string
	RetryAfter string
	Transport  string // no HTTP response: refused | closed | hung | other
	Err        string // transport error text
	Problem    string // why the answer is malformed; "" when well formed
	Raw        []byte
}

func (a answer) String() string {
	switch {
	case a.HTTP == 0:
		return fmt.Sprintf("%s: no response (%s: %s) after %s", a.Job.kind(), a.Transport, a.Err, a.Elapsed.Round(time.Millisecond))
	case a.HTTP == 200:
		return fmt.Sprintf("%s: 200 %s after %s", a.Job.kind(), a.Status, a.Elapsed.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: %d %s (Retry-After %q) after %s", a.Job.kind(), a.HTTP, a.Code, a.RetryAfter, a.Elapsed.Round(time.Millisecond))
}

// outcome is the answer's class for tallies: "200 success", "503
// capacity", "refused"...
func (a answer) outcome() string {
	switch {
	case a.HTTP == 0:
		return a.Transport
	case a.HTTP == 200:
		return "200 " + a.Status
	}
	return strconv.Itoa(a.HTTP) + " " + a.Code
}

func (j job) kind() string {
	if j.Kind != "" {
		return j.Kind
	}
	return j.Lang
}

// retryable503 are the documented 503 codes; each carries Retry-After.
var retryable503 = map[string]bool{"capacity": true, "environment_unavailable": true, "sandbox_lost": true, "shutting_down": true}

// newClient returns an HTTP client for conns concurrent callers. It has
// no timeout of its own: each request carries its hang bound.
func newClient(conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.Proxy = nil // 127.0.0.1 only, never through a proxy
	return &http.Client{Transport: tr}
}

// post sends j to base and classifies the result; it never fails the
// test, so load goroutines can call it.
func post(hc *http.Client, base string, j job) answer {
	a := answer{Job: j, Sent: time.Now()}
	body, _ := json.Marshal(map[string]any{"environment": j.Lang, "code": j.Code, "timeout": j.Timeout})
	ctx, cancel := context.WithTimeout(context.Background(), j.hangBound())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/execute", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err == nil {
		a.Raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	a.Elapsed = time.Since(a.Sent)
	if err != nil {
		a.Err = err.Error()
		switch {
		case ctx.Err() != nil:
			a.Transport = "hung"
			a.Problem = fmt.Sprintf("no answer within %s", j.hangBound())
		case errors.Is(err, syscall.ECONNREFUSED):
			a.Transport = "refused"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
			a.Transport = "closed"
		default:
			a.Transport = "other"
		}
		return a
	}
	a.HTTP = resp.StatusCode
	a.RetryAfter = resp.Header.Get("Retry-After")
	a.Problem = a.check(resp.Header.Get("Content-Type"))
	return a
}

// check returns why an HTTP answer is not a well-formed, documented
// response ("" when it is): JSON, and either a 200 with a status or a
// 503 with a documented code, retryable and a Retry-After.
func (a *answer) check(contentType string) string {
	if !strings.HasPrefix(contentType, "application/json") {
		return fmt.Sprintf("HTTP %d with Content-Type %q: %.200s", a.HTTP, contentType, a.Raw)
	}
	// A 200's "error" is a string (the original API's); an error
	// response's is an object.
	var body struct {
		ExecutionID string          `json:"execution_id"`
		Status      string          `json:"status"`
		Stdout      *string         `json:"stdout"`
		Error       json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(a.Raw, &body); err != nil {
		return fmt.Sprintf("HTTP %d, body is not a JSON object (%v): %.200s", a.HTTP, err, a.Raw)
	}
	var apiErr *struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Retryable bool   `json:"retryable"`
	}
	if a.HTTP != http.StatusOK {
		if err := json.Unmarshal(body.Error, &apiErr); err != nil {
			return fmt.Sprintf("HTTP %d, error is not an object (%v): %.200s", a.HTTP, err, a.Raw)
		}
	}
	switch a.HTTP {
	case http.StatusOK:
		a.Status = body.Status
		if body.Stdout != nil {
			a.Stdout = *body.Stdout
		}
		if body.ExecutionID == "" || (a.Status != "success" && a.Status != "error" && a.Status != "timeout") {
			return fmt.Sprintf("200 without an execution id or a known status: %.300s", a.Raw)
		}
		if a.Status == "success" && a.Job.Want != "" && a.Stdout != a.Job.Want {
			return fmt.Sprintf("200 success with stdout %q, want %q", a.Stdout, a.Job.Want)
		}
		return ""
	case http.StatusServiceUnavailable:
		if apiErr == nil {
			return fmt.Sprintf("503 without an error object: %.300s", a.Raw)
		}
		a.Code = apiErr.Code
		if !retryable503[a.Code] || !apiErr.Retryable || apiErr.Message == "" {
			return fmt.Sprintf("503 with an undocumented or non-retryable error: %.300s", a.Raw)
		}
		if n, err := strconv.Atoi(a.RetryAfter); err != nil || n < 1 {
			return fmt.Sprintf("503 %s with Retry-After %q, want whole seconds >= 1", a.Code, a.RetryAfter)
		}
		return ""
	}
	if apiErr != nil {
		a.Code = apiErr.Code
	}
	return fmt.Sprintf("unexpected HTTP %d: %.300s", a.HTTP, a.Raw)
}

// load is a few clients sending jobs in a loop until stopped.
type load struct {
	base     string
	hc       *http.Client
	next     func(client, n int) job
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
	sent     atomic.Int64

	mu      sync.Mutex
	answers []answer
}

// startLoad starts clients goroutines sending next(client, n) to base,
// pausing pace between requests. It stops at test cleanup at the latest.
func startLoad(t *testing.T, base string, clients int, pace time.Duration, next func(client, n int) job) *load {
	t.Helper()
	l := &load{base: base, hc: newClient(clients), next: next, stop: make(chan struct{})}
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				j := l.next(c, n)
				l.sent.Add(1)
				a := post(l.hc, l.base, j)
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
				select {
				case <-l.stop:
					return
				case <-time.After(pace):
				}
			}
		}()
	}
	t.Cleanup(func() { l.Stop() })
	return l
}

// mixed is the default load: short jobs round-robin over the languages.
func mixed(client, n int) job { return short(languages[(client+n)%len(languages)]) }

// over is a load of short jobs round-robin over langs.
func over(langs ...string) func(client, n int) job {
	return func(client, n int) job { return short(langs[(client+n)%len(langs)]) }
}

// Stop ends the load; each client finishes its request in flight (every
// request is bounded by its hang bound). It returns every answer.
func (l *load) Stop() []answer {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.hc.CloseIdleConnections()
	return l.Answers()
}

// Answers returns a copy of the answers so far.
func (l *load) Answers() []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]answer(nil), l.answers...)
}

// Sent is the number of requests sent so far.
func (l *load) Sent() int { return int(l.sent.Load()) }

// checkLoad fails the test unless every request sent was answered and
// every answer is well formed; allowNoResponse says which requests may
// end without an HTTP response (a refused or closed connection).
func checkLoad(t *testing.T, l *load, allowNoResponse func(a answer) bool) []answer {
	t.Helper()
	answers := l.Stop()
	if sent := l.Sent(); sent != len(answers) {
		t.Errorf("sent %d requests, %d answered", sent, len(answers))
	}
	bad := 0
	for _, a := range answers {
		problem := a.Problem
		if problem == "" && a.HTTP == 0 && (allowNoResponse == nil || !allowNoResponse(a)) {
			problem = "no HTTP response"
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("load: %s: %s", a, problem)
			}
		}
	}
	if bad > 10 {
		t.Errorf("load: %d bad answers in all", bad)
	}
	t.Logf("load: %d sent, %d answered: %s; slowest %s", l.Sent(), len(answers), tally(answers), slowest(answers))
	return answers
}

// tally counts answers by outcome, e.g. "200 success: 40, 503 capacity: 2".
func tally(as []answer) string {
	n := map[string]int{}
	for _, a := range as {
		n[a.outcome()]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func slowest(as []answer) time.Duration {
	var m time.Duration
	for _, a := range as {
		m = max(m, a.Elapsed)
	}
	return m.Round(time.Millisecond)
}

// between returns the answers to requests sent in [from, to).
func between(as []answer, from, to time.Time) []answer {
	var out []answer
	for _, a := range as {
		if !a.Sent.Before(from) && a.Sent.Before(to) {
			out = append(out, a)
		}
	}
	return out
}

func filter(as []answer, keep func(answer) bool) []answer {
	var out []answer
	for _, a := range as {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

// config is the fault tests' daemon configuration: no rate limit, small
// pools.
const config = `
rate_limit: {requests: 0}
pool: {min_idle: 2, max_size: 6}
`

func itoa(n int) string { return strconv.Itoa(n) }

// served reports what a healthy daemon answers: 200 success, or 503
// capacity (on a busy machine a create can outlast a 5 s acquire budget:
// that is load, not the fault under test).
func served(a answer) bool {
	return a.Problem == "" && (a.HTTP == 200 && a.Status == "success" || a.HTTP == 503 && a.Code == "capacity")
}

// allServed fails the test unless every answer is served and at least
// one is a success.
func allServed(t *testing.T, what string, as []answer) {
	t.Helper()
	ok := 0
	for _, a := range as {
		if !served(a) {
			t.Errorf("%s: %s, want 200 success (or 503 capacity)", what, a)
		}
		if a.HTTP == 200 {
			ok++
		}
	}
	if ok == 0 {
		t.Errorf("%s: no request succeeded (%s)", what, tally(as))
	}
}
