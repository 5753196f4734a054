package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
)

// Service is what the API needs from the dispatcher (implemented by
// *dispatch.Dispatcher[S]).
type Service interface {
	Execute(ctx context.Context, req dispatch.Request) (dispatch.Outcome, error)
	Languages() []dispatch.Info
	Limits(language string) (dispatch.Language, bool)
	Stats() []pool.Stats
	Health() []dispatch.LanguageHealth

	// Sessions (implemented by the dispatcher's session registry).
	OpenSession(ctx context.Context, language, owner string, idleTTL, runTimeout time.Duration) (dispatch.SessionInfo, error)
	RunInSession(ctx context.Context, id string, req dispatch.Request) (dispatch.Outcome, error)
	CloseSession(id string) error
	Session(id string) (dispatch.SessionInfo, error)
	Sessions(owner string) []dispatch.SessionInfo
	SessionConfig() dispatch.SessionConfig
}

// Recorder receives per-request facts for metrics (telemetry implements
// it; nil = none). Acquire waits are recorded by the dispatcher.
type Recorder interface {
	// Execution is called once per program that ran; ctx carries the
	// request's span, for exemplars.
	Execution(language, status string, total time.Duration, ctx context.Context)
	// Rejected is called once per /execute request refused before or
	// instead of running: "unauthorized", "rate_limited",
	// "unsupported_media_type", "too_large", "invalid_request",
	// "capacity", "unavailable", "sandbox_lost", "shutting_down",
	// "canceled" (the client went away), "internal".
	Rejected(reason string)
}

// Options configure the handler. Only Service is required.
type Options struct {
	Service      Service
	Ping         func(ctx context.Context) error // engine reachability; nil = always reachable
	Recorder     Recorder
	Limiter      *policy.Limiter     // nil = no rate limit
	Concurrency  *policy.Concurrency // nil = no per-client cap on executions in flight
	RateLimit    policy.RateLimit    // reported by /stats
	Clients      *policy.ClientResolver
	Auth         policy.Auth
	CORSOrigins  []string     // exact origins, or "*"
	MaxBodyBytes int64        // default 1 MiB
	Metrics      http.Handler // served at GET /metrics; nil = 404
	Version      string
	Logger       *slog.Logger
	// Stopping reports that shutdown began (SIGTERM): /readyz answers
	// 503 while requests are still served, until Draining. nil = never.
	Stopping func() bool
	// Draining reports that the drain began: new /execute requests get
	// 503 shutting_down with Retry-After (and /readyz 503).
	Draining func() bool
	// Middleware wraps each route's handler (telemetry's tracing), given
	// the route template ("/execute"); unmatched requests (404, 405) use
	// the template "unmatched". nil = none.
	Middleware func(route string, h http.Handler) http.Handler
	// Hosts are the Host headers the API answers (against DNS
	// rebinding); any other gets 421 host_not_allowed. nil = any Host.
	Hosts *policy.Hosts
	// TrustTrace reports whether a request's incoming trace context
	// (traceparent, tracestate, baggage, uber-trace-id) is believed:
	// fromProxy, its direct peer is a trusted proxy; keyed, it carries a
	// valid API key (telemetry's TracingConfig.TrustsIncoming). If not,
	// those headers are dropped before Middleware sees them, and the
	// request starts a trace of its own. nil = fromProxy || keyed.
	TrustTrace func(fromProxy, keyed bool) bool
}

// DefaultMaxBodyBytes bounds a request body unless Options say otherwise.
const DefaultMaxBodyBytes = 1 << 20

// pingTimeout bounds the engine check of /health and /readyz.
const pingTimeout = 2 * time.Second

type server struct {
	svc      Service
	opts     Options
	log      *slog.Logger
	clients  *policy.ClientResolver
	maxBody  int64
	stopping func() bool
	draining func() bool
	// openAPIBody is GET /openapi.json, with Options.Version, built once.
	openAPIBody []byte

	e2b e2bRegistry // the E2B sandboxes open

	// Executions by status, for /stats.
	success, failed, timedOut atomic.Uint64
}

// New builds the API's handler. Every response is JSON (except
// /metrics, the /playground page and a streamed /execute) and carries
// Content-Type, X-Content-Type-Options: nosniff, Cache-Control: no-store
// and X-Request-Id.
func New(opts Options) http.Handler {
	s := &server{svc: opts.Service, opts: opts, log: opts.Logger, clients: opts.Clients,
		maxBody: opts.MaxBodyBytes, stopping: opts.Stopping, draining: opts.Draining,
		openAPIBody: openAPIBody(opts.Version)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.draining == nil {
		s.draining = func() bool { return false }
	}
	if s.stopping == nil {
		s.stopping = func() bool { return false }
	}
	wrap := opts.Middleware
	if wrap == nil {
		wrap = func(_ string, h http.Handler) http.Handler { return h }
	}

	r := httprouter.New()
	// A path that is not exactly a route is a 404, never a redirect.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.HandleOPTIONS = true
	for _, rt := range s.routes() {
		r.Handler(rt.method, rt.path, wrap(rt.path, rt.handler))
	}
	r.NotFound = wrap("unmatched", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errNotFound)
	}))
	r.MethodNotAllowed = wrap("unmatched", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, errMethodNotAllowed) // the router has set Allow
	}))
	r.GlobalOPTIONS = http.HandlerFunc(s.options)
	return s.base(s.checkHost(s.traceTrust(s.cors(r))))
}

type route struct {
	method, path string
	handler      http.Handler
	doc          string
}

// routes lists every route; /docs serves this list.
func (s *server) routes() []route {
	rs := []route{
		{http.MethodGet, "/", http.HandlerFunc(s.root), "service name, version and status"},
		{http.MethodGet, "/docs", http.HandlerFunc(s.docs), "this route list"},
		{http.MethodGet, "/health", http.HandlerFunc(s.health), "engine and per-language health; 503 while the engine is unreachable (details with the API key, or from loopback when no keys are set)"},
		{http.MethodGet, "/healthz", http.HandlerFunc(s.healthz), "liveness: 200 while the process serves"},
		{http.MethodGet, "/readyz", http.HandlerFunc(s.readyz), "readiness: 200 when every language can take jobs"},
		{http.MethodGet, "/environments", http.HandlerFunc(s.environments), "served languages, images, versions and limits"},
		{http.MethodGet, "/stats", s.authenticated(http.HandlerFunc(s.stats)), "pools, executions, rate and resource limits"},
		{http.MethodPost, "/execute", http.HandlerFunc(s.execute), "run code in a sandbox"},
		{http.MethodGet, "/playground", http.HandlerFunc(s.playground), "a page to type code into and run it (HTML)"},
		{http.MethodGet, "/openapi.json", http.HandlerFunc(s.openAPI), "this API as an OpenAPI 3.1 document"},
	}
	rs = append(rs, s.sessionRoutes()...)
	rs = append(rs, s.e2bRoutes()...)
	rs = append(rs, s.pistonRoutes()...)
	rs = append(rs, s.codapiRoutes()...)
	if s.opts.Metrics != nil {
		// Keyed like /stats: metrics_listen serves them unauthenticated
		// on an internal port instead.
		rs = append(rs, route{http.MethodGet, "/metrics", s.authenticated(s.opts.Metrics), "Prometheus metrics (needs the API key when keys are set)"})
	}
	return rs
}

// authenticated guards a read-only route with the API keys.
func (s *server) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := s.authenticate(r); e != nil {
			writeError(w, e)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// authenticate checks the request's key; nil when auth is off or the key
// is valid.
func (s *server) authenticate(r *http.Request) *apiError {
	if !s.opts.Auth.Enabled() {
		return nil
	}
	switch err := s.opts.Auth.Check(r.Header.Get("Authorization"), r.Header.Get("X-API-Key"), r.URL.Query()); err {
	case nil:
		return nil
	case policy.ErrKeyInQuery:
		return errKeyInQuery
	default:
		return errUnauthorized
	}
}

// keyed reports whether r carries a valid API key (false when auth is
// off: every caller is then anonymous).
func (s *server) keyed(r *http.Request) bool {
	return s.opts.Auth.Enabled() && s.authenticate(r) == nil
}

// clientIP is the request's client address, trusted proxies considered.
func (s *server) clientIP(r *http.Request) string {
	return s.clients.ClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
}

func (s *server) reject(reason string) {
	if s.opts.Recorder != nil && reason != "" {
		s.opts.Recorder.Rejected(reason)
	}
}
