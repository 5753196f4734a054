package telemetry

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// traceIDHandler answers with the trace id it sees in its context.
var traceIDHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = w.Write([]byte(trace.SpanContextFromContext(r.Context()).TraceID().String()))
})

func TestMiddlewareSpans(t *testing.T) {
	clearOTelEnv(t)
	if _, err := Setup(context.Background(), DefaultTracingConfig(), "test"); err != nil { // propagators
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	h := Middleware("/sandboxes/:id", traceIDHandler)
	tests := []struct {
		name, method, header, value string
		wantTrace                   string // "" means a new trace
		wantName                    string
	}{
		{name: "new trace", method: http.MethodGet, wantName: "GET /sandboxes/:id"},
		{name: "w3c parent", method: http.MethodPost, header: "traceparent",
			value: "00-" + testTraceID + "-00f067aa0ba902b7-01", wantTrace: testTraceID, wantName: "POST /sandboxes/:id"},
		{name: "jaeger parent", method: http.MethodPost, header: "uber-trace-id",
			value: testTraceID + ":00f067aa0ba902b7:0:1", wantTrace: testTraceID, wantName: "POST /sandboxes/:id"},
		{name: "odd method", method: "BREW", wantName: "_OTHER /sandboxes/:id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.Ended())
			req := httptest.NewRequest(tt.method, "/sandboxes/0123456789abcdef?x=1", nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			ended := rec.Ended()
			if len(ended) != before+1 {
				t.Fatalf("got %d new spans, want 1", len(ended)-before)
			}
			s := ended[len(ended)-1]
			if s.Name() != tt.wantName {
				t.Errorf("span name = %q, want %q (the route template, never the raw path)", s.Name(), tt.wantName)
			}
			if s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span kind = %v, want server", s.SpanKind())
			}
			got := s.SpanContext().TraceID().String()
			if w.Body.String() != got {
				t.Errorf("handler saw trace %s, span has %s", w.Body.String(), got)
			}
			if tt.wantTrace != "" && got != tt.wantTrace {
				t.Errorf("trace id = %s, want the caller's %s", got, tt.wantTrace)
			}
			if tt.wantTrace == "" && got == testTraceID {
				t.Error("a request without a parent joined a foreign trace")
			}
			if !hasAttr(s.Attributes(), attribute.String("http.route", "/sandboxes/:id")) {
				t.Errorf("attributes %v lack http.route", s.Attributes())
			}
		})
	}
}

func TestMiddlewareTracingOffKeepsCallerTrace(t *testing.T) {
	clearOTelEnv(t)
	if _, err := Setup(context.Background(), DefaultTracingConfig(), "test"); err != nil {
		t.Fatal(err)
	}
	h := Middleware("/execute", traceIDHandler)
	req := httptest.NewRequest(http.MethodPost, "/execute", nil)
	req.Header.Set("uber-trace-id", testTraceID+":00f067aa0ba902b7:0:1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if got := w.Body.String(); got != testTraceID {
		t.Errorf("tracing off: handler saw trace %q, want the caller's %s", got, testTraceID)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}

// unwrapOnly wraps a ResponseWriter the way the API's outer middleware
// does: it implements no Flusher, only Unwrap.
type unwrapOnly struct{ http.ResponseWriter }

func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestMiddlewareFlushes: a handler behind Middleware, itself behind a
// writer that only unwraps, flushes with http.ResponseController, and
// the bytes reach the client while the handler still runs (it waits
// until the client has them). Streamed executions depend on it.
func TestMiddlewareFlushes(t *testing.T) {
	clientHas := make(chan struct{})
	h := Middleware("/execute", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("first\n"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
			return
		}
		select {
		case <-clientHas:
		case <-time.After(20 * time.Second):
			t.Error("the client did not get the flushed bytes while the handler ran")
		}
		_, _ = w.Write([]byte("second\n"))
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(unwrapOnly{w}, r)
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(clientHas)
	if rest, err := io.ReadAll(br); string(rest) != "second\n" {
		t.Errorf("then %q, %v", rest, err)
	}
}
