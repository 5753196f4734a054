package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a JSON logger writing to w at level ("debug", "info",
// "warn" or "error"; empty means info). A record logged with a context that
// carries a valid span (logger.InfoContext(ctx, ...)) gets trace_id and
// span_id attributes, so a log line leads to its trace. Under
// logger.WithGroup the two ids land inside the group. export, if not nil
// (see [SetupLogExport]), gets every record at level too.
func NewLogger(w io.Writer, level string, export slog.Handler) (*slog.Logger, error) {
	var lv slog.Level
	if strings.TrimSpace(level) != "" {
		if err := lv.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
			return nil, fmt.Errorf("log level: want debug, info, warn or error, got %q", level)
		}
	}
	var h slog.Handler = traceHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})}
	if export != nil {
		h = fanout{level: lv, handlers: []slog.Handler{h, export}}
	}
	return slog.New(h), nil
}

// traceHandler adds the ids of the span in a record's context, unless the
// record carries them already (a caller that logs trace_id itself would
// otherwise get the key twice in one JSON object).
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		hasTrace, hasSpan := false, false
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "trace_id":
				hasTrace = true
			case "span_id":
				hasSpan = true
			}
			return true
		})
		if !hasTrace || !hasSpan {
			r = r.Clone()
		}
		if !hasTrace {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
		}
		if !hasSpan {
			r.AddAttrs(slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
