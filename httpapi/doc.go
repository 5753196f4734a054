// Package httpapi is warmbox's HTTP API: routing, request decoding and
// validation, authentication, rate limiting, CORS, and the JSON shapes of
// every answer. It keeps the original service's routes and fields
// (GET /, /health, /environments, /stats and POST /execute) and adds
// /healthz, /readyz, /docs, /metrics and /openapi.json (openapi.go: the
// whole API as an OpenAPI 3.1 document, which openapi_test.go holds to
// the code). It also serves two compatible APIs for their existing
// clients, in their own shapes: Piston v2 (/api/v2/runtimes,
// /api/v2/execute: piston.go) and codapi (/v1/exec, /v1/health:
// codapi.go).
//
// POST /execute goes through auth, the per-client rate limit, the
// content type, a size-limited body read, strict decoding (unknown,
// case-variant and repeated keys are refused) and validation against the
// language's limits, in that order, before the [Service] is called: no
// sandbox is leased for a request that was not read in full and found
// valid. Asked with Accept: text/event-stream, it answers with
// Server-Sent Events: the output as the program produces it, then the
// same answer (sse.go). The compatible APIs' execution routes run the
// same pipeline (a dialect each: how to parse a body, answer and fail). Every error
// of warmbox's own routes is {"error": {"code", "message", ...}}, and
// one function maps the dispatcher's errors to statuses.
//
// Before routing, every request's Host header is checked (421
// host_not_allowed, against DNS rebinding), and the incoming trace
// context of a caller not trusted with it is dropped, so that tracing
// starts a new root trace. /health and /readyz give details (engine
// errors, pool sizes) only to keyed callers, or to loopback ones when no
// keys are set; /metrics on the API's port needs the key like /stats.
//
// The package talks to the dispatcher through the small [Service]
// interface and to metrics through [Recorder]; it never touches Docker,
// and the policy rules themselves (limits, rate limiting, trusted
// proxies, API keys) live in package policy. Tracing is applied from
// outside, per route, through Options.Middleware.
package httpapi
