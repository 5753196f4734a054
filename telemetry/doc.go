// Package telemetry is warmbox's observability plumbing: it owns the
// OpenTelemetry SDK, the Prometheus registry and the JSON logger, so that
// every other package can stay on the OTel API alone and plain interfaces.
//
// [Setup] installs the tracer provider (OTLP over HTTP, batched, parent-based
// ratio sampling) and, always, the W3C tracecontext + baggage + Jaeger
// (uber-trace-id) propagators. With no endpoint configured tracing is off and
// costs nothing: the global provider is a no-op, while incoming trace ids
// still flow through to responses. [Middleware] instruments an HTTP route once,
// naming the span after the route template, never the raw path.
//
// [Metrics] keeps a registry of its own (never the global one). Its methods
// satisfy the observer interfaces that pool, dispatch and httpapi define, and
// a collector turns pool.Stats snapshots into gauges and counters at scrape
// time, so the pool never imports Prometheus. [NewLogger] builds the JSON slog
// logger that stamps trace_id and span_id on records logged with a span's
// context; with [SetupLogExport] it also hands every record to an OTLP log
// exporter (a log store such as VictoriaLogs), each carrying its span's
// ids in the OTLP record's own fields.
//
// The package does not decide what to record or when: domain packages start
// their own spans (otel.Tracer("warmbox/pool")) and call the observer
// methods. It imports pool for pool.Stats and pool.DestroyReason only, and
// nothing else of warmbox.
package telemetry
