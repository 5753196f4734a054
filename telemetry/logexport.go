package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/trace"
)

// LogExportConfig configures shipping the daemon's log records to a log
// store over OTLP/HTTP, beside the JSON lines on stderr (which stay as
// they are). Each record logged with a span's context carries that span's
// trace and span ids as the OTLP record's own fields, so a log store
// that indexes them (VictoriaLogs stores them as trace_id and span_id)
// links a log line to its trace in Jaeger.
type LogExportConfig struct {
	// Endpoint is the OTLP/HTTP base URL of the log store; "/v1/logs" is
	// appended, as for OTEL_EXPORTER_OTLP_ENDPOINT. For VictoriaLogs that
	// is "http://HOST:9428/insert/opentelemetry". Empty: no export.
	Endpoint string `yaml:"otlp_endpoint"`
}

// Standard OpenTelemetry environment variables that [SetupLogExport]
// honours. OTEL_EXPORTER_OTLP_ENDPOINT is deliberately not one of them:
// it usually names a trace collector (Jaeger), which has no logs
// endpoint, so logs are exported only where they are asked to go.
const (
	envLogsEndpoint = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
	envLogsExporter = "OTEL_LOGS_EXPORTER"
)

// instrumentationScope names the logger the records are emitted through.
const instrumentationScope = "github.com/warmbox/warmbox"

// Validate reports an invalid endpoint, naming its yaml key.
func (c LogExportConfig) Validate() error {
	if c.Endpoint == "" {
		return nil
	}
	if err := checkEndpoint(c.Endpoint); err != nil {
		return fmt.Errorf("otlp_endpoint: %w", err)
	}
	return nil
}

// SetupLogExport starts the OTLP log exporter and returns the slog
// handler that feeds it (pass it to [NewLogger]) and the function that
// flushes and stops it. With export off the handler is nil and shutdown
// does nothing. serviceName and version become the resource's
// service.name and service.version, as for traces.
//
// OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (a full URL, used as it is) overrides
// cfg.Endpoint; OTEL_SDK_DISABLED=true or OTEL_LOGS_EXPORTER=none turn
// export off. The SDK's own variables (OTEL_BLRP_*,
// OTEL_EXPORTER_OTLP_HEADERS, ...) apply as usual. A log store that is
// down never slows the daemon: records are batched and dropped when the
// queue is full, and the export errors go to the default slog logger.
func SetupLogExport(ctx context.Context, cfg LogExportConfig, serviceName, version string) (slog.Handler, func(context.Context) error, error) {
	nothing := func(context.Context) error { return nil }
	if err := cfg.Validate(); err != nil {
		return nil, nothing, err
	}
	endpoint, on, err := resolveLogsEndpoint(cfg.Endpoint)
	if err != nil || !on {
		return nil, nothing, err
	}
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, nothing, fmt.Errorf("otlp log exporter: %w", err)
	}
	res, err := newResource(ctx, serviceName, version)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, nothing, err
	}
	lp := sdklog.NewLoggerProvider(
		sdklog.WithProcessor(sdklog.NewBatchProcessor(exp)),
		sdklog.WithResource(res),
	)
	h := exportHandler{otelslog.NewHandler(instrumentationScope, otelslog.WithLoggerProvider(lp))}
	return h, func(ctx context.Context) error {
		if err := lp.Shutdown(ctx); err != nil {
			return fmt.Errorf("log export shutdown: %w", err)
		}
		return nil
	}, nil
}

// resolveLogsEndpoint applies the environment's precedence and returns
// the full export URL and whether export is on.
func resolveLogsEndpoint(cfgEndpoint string) (endpoint string, on bool, err error) {
	if off, err := exportOff(envLogsExporter); off || err != nil {
		return "", false, err
	}
	if v, err := endpointFromEnv(envLogsEndpoint); err != nil {
		return "", false, err
	} else if v != "" {
		return v, true, nil
	}
	if cfgEndpoint == "" {
		return "", false, nil
	}
	return signalURL(cfgEndpoint, "/v1/logs"), true, nil
}

// signalURL appends an OTLP signal's path to a base URL, as the
// specification does for OTEL_EXPORTER_OTLP_ENDPOINT.
func signalURL(base, path string) string {
	u, err := url.Parse(base)
	if err != nil { // Validate has rejected it already
		return base
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String()
}

// exportHandler leaves out trace_id and span_id attributes when the
// record's context carries a span: the OTLP record has the span's ids in
// fields of its own, and a store that maps both to one name would get it
// twice. Without a span they stay, so a line logged with an explicit
// trace id (the execution line when tracing is off) still carries it.
type exportHandler struct{ slog.Handler }

func (h exportHandler) Handle(ctx context.Context, r slog.Record) error {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return h.Handler.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "trace_id" && a.Key != "span_id" {
			out.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h exportHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return exportHandler{h.Handler.WithAttrs(attrs)}
}

func (h exportHandler) WithGroup(name string) slog.Handler {
	return exportHandler{h.Handler.WithGroup(name)}
}

// fanout hands every record at or above its level to each handler; the
// first error wins, but every handler gets the record.
type fanout struct {
	level    slog.Leveler
	handlers []slog.Handler
}

func (f fanout) Enabled(_ context.Context, l slog.Level) bool { return l >= f.level.Level() }

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f.handlers {
		errs = append(errs, h.Handle(ctx, r.Clone()))
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	return f.each(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (f fanout) WithGroup(name string) slog.Handler {
	return f.each(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (f fanout) each(fn func(slog.Handler) slog.Handler) slog.Handler {
	out := fanout{level: f.level, handlers: make([]slog.Handler, len(f.handlers))}
	for i, h := range f.handlers {
		out.handlers[i] = fn(h)
	}
	return out
}
