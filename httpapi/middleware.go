package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CORS answers, for allowed origins.
const (
	corsMethods = "GET, POST, OPTIONS"
	corsHeaders = "Content-Type, Authorization, X-API-Key, traceparent, tracestate, uber-trace-id"
	corsExpose  = "Retry-After, X-Request-Id, X-Trace-Id"
	corsMaxAge  = 10 * time.Minute
)

type ctxKey int

const (
	arrivalKey ctxKey = iota
	requestIDKey
)

// arrival is when the request reached the API (the time base of
// timing.queue_ms).
func arrival(ctx context.Context) time.Time {
	if t, ok := ctx.Value(arrivalKey).(time.Time); ok {
		return t
	}
	return time.Now()
}

// requestID is the request's id, also its execution_id.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// base is the outermost layer: it stamps the response hygiene headers and
// a request id, records the arrival time, and turns a panic into a 500
// JSON answer (logged with its stack).
func (s *server) base(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		id := uuid.NewString()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Request-Id", id)
		ctx := context.WithValue(context.WithValue(r.Context(), arrivalKey, now), requestIDKey, id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(ctx, slog.LevelError, "panic serving request",
				slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if sw.wrote {
				// Too late for a clean answer: cut the connection so the
				// client sees a failure rather than a truncated success.
				panic(http.ErrAbortHandler)
			}
			writeError(sw, errPanic)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// statusWriter remembers whether the response has started.
type statusWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx informational answers do not start the response
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// checkHost refuses a request whose Host header the API does not answer
// (Options.Hosts), before anything else reads it: a page that rebound
// its own name to this server's address gets 421, never an answer.
func (s *server) checkHost(next http.Handler) http.Handler {
	if s.opts.Hosts == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.opts.Hosts.Check(r.Host); err != nil {
			writeError(w, hostNotAllowed(r.Host, err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// traceHeaders are the incoming trace context of the propagators
// telemetry installs (W3C trace context and baggage, Jaeger); Jaeger's
// baggage headers start with traceBaggagePrefix.
var traceHeaders = []string{"Traceparent", "Tracestate", "Baggage", "Uber-Trace-Id"}

const traceBaggagePrefix = "Uberctx-"

// traceTrust drops the incoming trace context of a caller that is not
// trusted with it (Options.TrustTrace), so its request starts a trace of
// its own: an anonymous caller can neither force sampling nor choose the
// trace id it gets back.
func (s *server) traceTrust(next http.Handler) http.Handler {
	trust := s.opts.TrustTrace
	if trust == nil {
		trust = func(fromProxy, keyed bool) bool { return fromProxy || keyed }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasTraceContext(r.Header) && !trust(s.clients.FromTrustedProxy(r.RemoteAddr), s.keyed(r)) {
			r = r.Clone(r.Context())
			for k := range r.Header {
				if isTraceHeader(k) {
					delete(r.Header, k)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func hasTraceContext(h http.Header) bool {
	for k := range h {
		if isTraceHeader(k) {
			return true
		}
	}
	return false
}

// isTraceHeader reports whether k (canonical) carries trace context.
func isTraceHeader(k string) bool {
	return slices.Contains(traceHeaders, k) || strings.HasPrefix(k, traceBaggagePrefix)
}

// cors marks responses to allowed origins. Preflights are answered by
// options, for routes that exist. A disallowed origin gets no CORS
// header, so the browser blocks its reads.
func (s *server) cors(next http.Handler) http.Handler {
	origins := s.opts.CORSOrigins
	if len(origins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if !anyOrigin {
			h.Add("Vary", "Origin")
		}
		if origin := r.Header.Get("Origin"); origin != "" && (anyOrigin || slices.Contains(origins, origin)) {
			if anyOrigin {
				h.Set("Access-Control-Allow-Origin", "*")
			} else {
				h.Set("Access-Control-Allow-Origin", origin)
			}
			h.Set("Access-Control-Expose-Headers", corsExpose)
		}
		next.ServeHTTP(w, r)
	})
}

// options answers OPTIONS on an existing route (the router has set
// Allow): a CORS preflight from an allowed origin gets the CORS grants,
// everything else just 204.
func (s *server) options(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge/time.Second)))
	}
	w.WriteHeader(http.StatusNoContent)
}
