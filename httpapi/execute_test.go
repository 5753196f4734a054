package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
)

// originalFields are the original service's /execute fields and types.
var originalFields = map[string]string{
	"execution_id": "string", "status": "string", "output": "string|null", "error": "string|null",
	"execution_time": "number", "environment": "string", "timestamp": "string",
}

var addedFields = map[string]string{
	"stdout": "string", "stderr": "string", "exit_code": "int|null", "signal": "string|null",
	"timed_out": "bool", "oom_killed": "bool", "truncated": "object", "timing": "object",
	"cpu_time_ms": "number", "memory_peak_kb": "int", "trace_id": "string",
}

func TestExecuteOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		res        wire.Result
		wantStatus string
		wantOutput any // string or nil
		wantError  any
		wantExit   any // float64 or nil
		wantSignal any
	}{
		{
			name:       "success merges stdout and stderr",
			res:        wire.Result{Stage: wire.Stage{Stdout: []byte("out\n"), Stderr: []byte("warn\n"), WallMs: 1234.5678}},
			wantStatus: "success", wantOutput: "out\nwarn\n", wantError: nil, wantExit: 0.0, wantSignal: nil,
		},
		{
			name:       "non-zero exit is an error with stderr first",
			res:        wire.Result{Stage: wire.Stage{ExitCode: 1, Stdout: []byte("partial\n"), Stderr: []byte("Traceback\n")}},
			wantStatus: "error", wantOutput: nil, wantError: "Traceback\npartial\n", wantExit: 1.0, wantSignal: nil,
		},
		{
			name:       "signal",
			res:        wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGSEGV"}},
			wantStatus: "error", wantOutput: nil, wantError: "killed by signal SIGSEGV", wantExit: nil, wantSignal: "SIGSEGV",
		},
		{
			name:       "out of memory",
			res:        wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", Stderr: []byte("x")}, OOMKilled: true},
			wantStatus: "error", wantOutput: nil, wantError: "killed: out of memory\nx", wantExit: nil, wantSignal: "SIGKILL",
		},
		{
			name:       "timeout prefixes its message",
			res:        wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stdout: []byte("tick\n")}},
			wantStatus: "timeout", wantOutput: nil, wantError: "execution timed out after 7 seconds\ntick\n", wantExit: nil, wantSignal: "SIGKILL",
		},
		{
			name:       "timeout without output",
			res:        wire.Result{Stage: wire.Stage{ExitCode: -1, Signal: "SIGKILL", TimedOut: true}},
			wantStatus: "timeout", wantOutput: nil, wantError: "execution timed out after 7 seconds", wantExit: nil, wantSignal: "SIGKILL",
		},
		{
			name:       "truncation is marked",
			res:        wire.Result{Stage: wire.Stage{Stdout: []byte("aaaa"), StdoutTruncated: true}},
			wantStatus: "success", wantOutput: "aaaa\n[output truncated]\n", wantError: nil, wantExit: 0.0, wantSignal: nil,
		},
		{
			name:       "invalid UTF-8 replaced",
			res:        wire.Result{Stage: wire.Stage{Stdout: []byte("a\xffb")}},
			wantStatus: "success", wantOutput: "a\uFFFDb", wantError: nil, wantExit: 0.0, wantSignal: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
				return dispatch.Outcome{Result: tt.res, Acquire: 2 * time.Millisecond, Run: 20 * time.Millisecond}, nil
			})
			w := a.post(`{"code":"print(1)","environment":"python","timeout":7}`)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", w.Code, w.Body.String())
			}
			checkHygiene(t, w)
			m := decode(t, w)
			checkTypes(t, "execute", m, originalFields)
			checkTypes(t, "execute", m, addedFields)
			checkTypes(t, "truncated", m["truncated"].(map[string]any), map[string]string{"stdout": "bool", "stderr": "bool"})
			checkTypes(t, "timing", m["timing"].(map[string]any), map[string]string{
				"queue_ms": "number", "acquire_ms": "number", "run_ms": "number", "total_ms": "number",
			})
			for field, want := range map[string]any{
				"status": tt.wantStatus, "output": tt.wantOutput, "error": tt.wantError,
				"exit_code": tt.wantExit, "signal": tt.wantSignal, "environment": "python",
				"timed_out": tt.res.TimedOut, "oom_killed": tt.res.OOMKilled,
			} {
				if m[field] != want {
					t.Errorf("%s = %#v, want %#v", field, m[field], want)
				}
			}
			if m["execution_id"] != w.Header().Get("X-Request-Id") || len(m["execution_id"].(string)) != 36 {
				t.Errorf("execution_id %v, X-Request-Id %q", m["execution_id"], w.Header().Get("X-Request-Id"))
			}
			if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
				t.Errorf("timestamp: %v", err)
			}
			if got := a.rec.executions; !slices.Equal(got, []string{"python/" + tt.wantStatus}) {
				t.Errorf("recorded executions %v", got)
			}
		})
	}
}

func TestExecuteTimeDecimals(t *testing.T) {
	a := newAPI(t)
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{WallMs: 1234.5678}}}, nil
	})
	w := a.post(`{"code":"x","environment":"python"}`)
	if !strings.Contains(w.Body.String(), `"execution_time":1.235`) {
		t.Errorf("execution_time not 1.235: %s", w.Body.String())
	}
	a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{WallMs: 2000}}}, nil
	})
	w = a.post(`{"code":"x","environment":"python"}`)
	if !strings.Contains(w.Body.String(), `"execution_time":2.0`) {
		t.Errorf("execution_time not written as a float: %s", w.Body.String())
	}
}

func TestExecuteRequestReachesService(t *testing.T) {
	a := newAPI(t)
	w := a.post(`{"code":"import sys","environment":"python","timeout":5,"stdin":"in",` +
		`"args":["-v","x"],"files":{"lib/b.py":"B","a.py":"A"}}`)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body.String())
	}
	calls := a.svc.calls()
	if len(calls) != 1 {
		t.Fatalf("%d Execute calls, want 1", len(calls))
	}
	got := calls[0]
	if got.Language != "python" || got.Code != "import sys" || got.Timeout != 5*time.Second ||
		string(got.Stdin) != "in" || !slices.Equal(got.Args, []string{"-v", "x"}) {
		t.Errorf("request = %+v", got)
	}
	if len(got.Files) != 2 || got.Files[0].Name != "a.py" || got.Files[1].Name != "lib/b.py" || string(got.Files[1].Content) != "B" {
		t.Errorf("files = %+v, want sorted a.py, lib/b.py", got.Files)
	}
	// The API imposes no deadline of its own: the dispatcher bounds the
	// acquire by the job's timeout and the run by timeout + kill grace.
	if d := a.svc.deadline[0]; d != -1 {
		t.Errorf("Execute ctx has a deadline %v away, want none (the dispatcher bounds it)", d)
	}

	a.post(`{"code":"x","environment":"bash"}`)
	if got := a.svc.calls()[1]; got.Timeout != 30*time.Second || got.Stdin != nil {
		t.Errorf("defaults: timeout %v stdin %v, want 30s and nil", got.Timeout, got.Stdin)
	}
	a.post(`{"code":"x","environment":"bash","timeout":null}`)
	if got := a.svc.calls()[2]; got.Timeout != 30*time.Second {
		t.Errorf("timeout null: %v, want the default 30s", got.Timeout)
	}
}

func TestExecuteServiceErrors(t *testing.T) {
	tests := []struct {
		name          string
		err           error
		want          int
		wantCode      string
		wantRetry     string // Retry-After, "" = none
		wantRetryable bool
		wantReason    string
	}{
		{"capacity", fmt.Errorf("pool \"python\": %w: %w", dispatch.ErrCapacity, context.DeadlineExceeded), 503, "capacity", "1", true, "capacity"},
		{"unavailable", fmt.Errorf("%w: python: image missing", dispatch.ErrUnavailable), 503, "environment_unavailable", "10", true, "unavailable"},
		{"sandbox lost", fmt.Errorf("%w: exec attach: EOF", dispatch.ErrSandboxLost), 503, "sandbox_lost", "1", true, "sandbox_lost"},
		{"shutting down", fmt.Errorf("pool: %w", dispatch.ErrShuttingDown), 503, "shutting_down", "5", true, "shutting_down"},
		{"rejected", fmt.Errorf("%w: file name too long", dispatch.ErrRejected), 422, "invalid_request", "", false, "invalid_request"},
		{"unknown language", fmt.Errorf("%w: %q", dispatch.ErrUnknownLanguage, "x"), 422, "unknown_environment", "", false, "invalid_request"},
		{"run cut by the request deadline", fmt.Errorf("hand-off: %w", context.DeadlineExceeded), 503, "capacity", "1", true, "capacity"},
		{"anything else", errors.New("docker: /var/run/docker.sock: secret detail"), 500, "internal", "", false, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			a.svc.setRun(func(context.Context, dispatch.Request) (dispatch.Outcome, error) {
				return dispatch.Outcome{}, tt.err
			})
			w := a.post(`{"code":"x","environment":"python"}`)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body.String())
			}
			checkHygiene(t, w)
			if code := errorCode(t, w); code != tt.wantCode {
				t.Errorf("code %q, want %q", code, tt.wantCode)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After %q, want %q", got, tt.wantRetry)
			}
			e := decode(t, w)["error"].(map[string]any)
			if got, _ := e["retryable"].(bool); got != tt.wantRetryable {
				t.Errorf("retryable %v, want %v", e["retryable"], tt.wantRetryable)
			}
			if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "docker.sock") {
				t.Errorf("internal detail leaked: %s", w.Body.String())
			}
			if !slices.Equal(a.rec.rejected, []string{tt.wantReason}) {
				t.Errorf("rejected %v, want [%s]", a.rec.rejected, tt.wantReason)
			}
		})
	}
}

func TestExecuteClientGone(t *testing.T) {
	a := newAPI(t)
	a.svc.setRun(func(ctx context.Context, _ dispatch.Request) (dispatch.Outcome, error) {
		<-ctx.Done()
		return dispatch.Outcome{}, fmt.Errorf("hand-off: %w", ctx.Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	req := httpRequest(t, ctx, `{"code":"x","environment":"python"}`)
	done := make(chan int)
	go func() {
		w := newRecorder()
		a.h.ServeHTTP(w, req)
		done <- w.Code
	}()
	cancel()
	if code := <-done; code != statusClientClosed {
		t.Fatalf("status %d, want %d", code, statusClientClosed)
	}
	if !slices.Equal(a.rec.rejected, []string{"canceled"}) {
		t.Errorf("rejected %v, want [canceled]", a.rec.rejected)
	}
}

func TestExecuteDraining(t *testing.T) {
	a := newAPI(t, func(o *Options) { o.Draining = func() bool { return true } })
	w := a.post(`{"code":"x","environment":"python"}`)
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "shutting_down" || w.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d %s Retry-After %q, want 503 shutting_down with Retry-After", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	if n := len(a.svc.calls()); n != 0 {
		t.Errorf("%d Execute calls while draining, want 0", n)
	}
}

// TestStoppingServes: in the shutdown delay the daemon is not ready but
// still runs what load balancers send before they notice.
func TestStoppingServes(t *testing.T) {
	a := newAPI(t, func(o *Options) { o.Stopping = func() bool { return true } })
	w := a.get("/readyz")
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "shutting down") {
		t.Errorf("/readyz = %d %s, want 503 shutting down", w.Code, w.Body.String())
	}
	if w := a.post(`{"code":"x","environment":"python"}`); w.Code != http.StatusOK {
		t.Errorf("/execute = %d %s, want 200 until the drain", w.Code, w.Body.String())
	}
}

func TestExecuteTraceID(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	a := newAPI(t, func(o *Options) {
		o.Middleware = func(_ string, h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeHTTP(w, r.WithContext(trace.ContextWithSpanContext(r.Context(), sc)))
			})
		}
	})
	w := a.post(`{"code":"x","environment":"python"}`)
	const want = "4bf92f3577b34da6a3ce929d0e0e4736"
	if got := decode(t, w)["trace_id"]; got != want {
		t.Errorf("trace_id %v, want %s", got, want)
	}
	if got := w.Header().Get("X-Trace-Id"); got != want {
		t.Errorf("X-Trace-Id %q, want %s", got, want)
	}
	b := newAPI(t)
	w = b.post(`{"code":"x","environment":"python"}`)
	if got := decode(t, w)["trace_id"]; got != "" {
		t.Errorf("no span: trace_id %v, want empty", got)
	}
	if w.Header().Get("X-Trace-Id") != "" {
		t.Error("no span: X-Trace-Id set")
	}
}

// TestExecuteConcurrencyCap: with rate_limit.concurrent, a client's
// executions past the cap get 429 too_many_concurrent with Retry-After
// and never reach the service; other clients and later requests are
// served; refusals spend no rate-limit token.
func TestExecuteConcurrencyCap(t *testing.T) {
	limiter := policy.NewLimiter(policy.RateLimit{Requests: 3, Window: time.Hour})
	a := newAPI(t, func(o *Options) {
		o.Concurrency = policy.NewConcurrency(2)
		o.Limiter = limiter
	})
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	a.svc.setRun(func(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error) {
		started <- struct{}{}
		<-release
		return dispatch.Outcome{Result: wire.Result{Stage: wire.Stage{Stdout: []byte("ok\n")}}}, nil
	})
	body := `{"code":"x","environment":"python"}`
	const alice, bob = "192.0.2.1:1000", "192.0.2.2:1000"
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 2 {
		wg.Go(func() { codes <- a.do(http.MethodPost, "/execute", body, jsonHeader, alice).Code })
	}
	<-started
	<-started
	w := a.do(http.MethodPost, "/execute", body, jsonHeader, alice)
	if w.Code != http.StatusTooManyRequests || errorCode(t, w) != "too_many_concurrent" || w.Header().Get("Retry-After") != "1" {
		t.Errorf("alice's third at once: %d %s Retry-After %q, want 429 too_many_concurrent, Retry-After 1", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "2 executions") {
		t.Errorf("the message does not name the cap: %s", w.Body.String())
	}
	// Bob is another client: admitted while alice is at her cap.
	wg.Go(func() { codes <- a.do(http.MethodPost, "/execute", body, jsonHeader, bob).Code })
	<-started
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("an admitted execution answered %d", c)
		}
	}
	// Two tokens spent by alice's admitted executions, none by the
	// refusal: the third request of the hour still passes.
	if w := a.do(http.MethodPost, "/execute", body, jsonHeader, alice); w.Code != http.StatusOK {
		t.Errorf("alice after hers ended: %d %s, want 200 (the refusal spent no token)", w.Code, w.Body.String())
	}
	if n := len(a.svc.calls()); n != 4 {
		t.Errorf("%d calls reached the service, want 4 (2 + bob + 1; never the refused one)", n)
	}
}
