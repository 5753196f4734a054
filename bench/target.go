package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Request is one program to run, in the shape of the daemon's
// POST /execute body.
type Request struct {
	Code        string            `json:"code"`
	Environment string            `json:"environment"`
	Timeout     int               `json:"timeout,omitempty"` // seconds
	Stdin       string            `json:"stdin,omitempty"`
	Args        []string          `json:"args,omitempty"`
	Files       map[string]string `json:"files,omitempty"`
}

// Response is the part of an answer the harness reads, in the shape of
// the daemon's POST /execute 200 answer. Every target returns it.
type Response struct {
	ExecutionID  string    `json:"execution_id"`
	Status       string    `json:"status"` // success | error | timeout
	Stdout       string    `json:"stdout"`
	Stderr       string    `json:"stderr"`
	ExitCode     *int      `json:"exit_code"` // nil when a signal ended the program
	Signal       string    `json:"signal"`
	TimedOut     bool      `json:"timed_out"`
	OOMKilled    bool      `json:"oom_killed"`
	Truncated    Truncated `json:"truncated"`
	Timing       *Timing   `json:"timing"` // nil when the target reports none
	CPUTimeMs    float64   `json:"cpu_time_ms"`
	MemoryPeakKB int64     `json:"memory_peak_kb"`
}

// Truncated reports which output streams hit the output cap.
type Truncated struct {
	Stdout bool `json:"stdout"`
	Stderr bool `json:"stderr"`
}

// Timing is the server's own breakdown of one request, in milliseconds.
type Timing struct {
	QueueMs   float64 `json:"queue_ms"`
	AcquireMs float64 `json:"acquire_ms"`
	RunMs     float64 `json:"run_ms"`
	TotalMs   float64 `json:"total_ms"`
}

// Target runs requests: a daemon over HTTP, or a baseline.
type Target interface {
	// Name labels the target in reports ("warm", "cold").
	Name() string
	// Do runs one request. An error means no answer came back; a program
	// that failed is a Response with its status, not an error.
	Do(ctx context.Context, req Request) (Response, error)
}

// Describer is implemented by targets that can say what they are; the
// report shows it next to the name.
type Describer interface {
	Describe() string
}

// ErrRateLimited means the daemon answered 429: it rate-limits the
// harness, so the run cannot measure anything. The run stops at once.
var ErrRateLimited = errors.New("the daemon answered 429 Too Many Requests: it rate-limits this client")

// ErrUnauthorized means the daemon refused the harness's API key (or
// its lack of one). The run stops at once.
var ErrUnauthorized = errors.New("the daemon refused the API key (pass --key or WARMBOX_API_KEY)")

// fatal reports whether err makes every further request pointless.
func fatal(err error) bool { return errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnauthorized) }

// StatusError is an HTTP answer other than 200.
type StatusError struct {
	Status     int
	Code       string // the API's error code, if the body had one
	Message    string
	RetryAfter string
}

func (e *StatusError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// Kind names the error in reports: http_503.
func (e *StatusError) Kind() string { return "http_" + strconv.Itoa(e.Status) }

// Error kinds a report counts besides http_NNN.
const (
	KindTimeout     = "timeout"      // no answer within the per-request timeout
	KindTransport   = "transport"    // the connection failed
	KindWrongOutput = "wrong_output" // an answer that is not the expected one
)

type kindError struct {
	kind string
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }
func (e *kindError) Kind() string  { return e.kind }

// WithKind labels err with the kind a report counts it under, e.g.
// "engine" for a baseline whose container engine failed.
func WithKind(kind string, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: kind, err: err}
}

// ErrorKind names the kind of a failed request. timedOut reports that the
// request's own deadline expired, which makes it a timeout whatever
// error the target returned.
func ErrorKind(err error, timedOut bool) string {
	var k interface{ Kind() string }
	switch {
	case timedOut || errors.Is(err, context.DeadlineExceeded):
		return KindTimeout
	case errors.As(err, &k):
		return k.Kind()
	}
	return KindTransport
}

// Func is a target backed by a function, e.g. the cold baseline that
// cmd/warmbox builds on the engine adapter.
type Func struct {
	name, desc string
	fn         func(context.Context, Request) (Response, error)
}

// NewFunc returns a target named name that runs requests with fn; desc
// says what it does, for the report.
func NewFunc(name, desc string, fn func(context.Context, Request) (Response, error)) *Func {
	return &Func{name: name, desc: desc, fn: fn}
}

// Name implements Target.
func (f *Func) Name() string { return f.name }

// Describe implements Describer.
func (f *Func) Describe() string { return f.desc }

// Do implements Target.
func (f *Func) Do(ctx context.Context, req Request) (Response, error) { return f.fn(ctx, req) }

// checkLoopback refuses any host that is not a loopback address: load
// tests from this harness may only reach the local machine.
func checkLoopback(host string) error {
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address: warmbox bench only sends load to 127.0.0.1, ::1 or localhost", host)
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
