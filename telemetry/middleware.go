package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Middleware instruments one route: it extracts the caller's trace context
// with the global propagator (W3C and uber-trace-id once [Setup] ran),
// starts a server span named "METHOD /route/template" (never the raw path,
// so span names stay few) with the http.route attribute, and hands the
// span's context to h. Wrap each route once, with its template:
//
//	router.Handler("POST", "/execute", telemetry.Middleware("/execute", h))
func Middleware(route string, h http.Handler) http.Handler {
	tagged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route))
		h.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(tagged, route,
		otelhttp.WithPropagators(globalPropagator{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return method(r.Method) + " " + route
		}),
	)
}

// method bounds a span name's method to the standard ones.
func method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// globalPropagator reads the global propagator at each call, so a handler
// built before [Setup] still speaks every format Setup installs.
type globalPropagator struct{}

func (globalPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	otel.GetTextMapPropagator().Inject(ctx, c)
}

func (globalPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, c)
}

func (globalPropagator) Fields() []string { return otel.GetTextMapPropagator().Fields() }
