package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	collectorlogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

// logRecords returns every record a logs receiver got, with its
// resource's service.name, and every request path.
func logRecords(r *otlpReceiver[*collectorlogs.ExportLogsServiceRequest]) (records []*logspb.LogRecord, services, paths []string) {
	reqs, paths := r.received()
	for _, req := range reqs {
		for _, rl := range req.GetResourceLogs() {
			svc := ""
			for _, kv := range rl.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, sl := range rl.GetScopeLogs() {
				for _, rec := range sl.GetLogRecords() {
					services = append(services, svc)
					records = append(records, rec)
				}
			}
		}
	}
	return records, services, paths
}

func attrs(rec *logspb.LogRecord) map[string]string {
	m := map[string]string{}
	for _, kv := range rec.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = strings.Trim(v.String(), " ")
		}
	}
	return m
}

// TestLogExport logs through the daemon's logger with export on: each
// record at the level reaches the receiver with the service name, the
// span's ids in the record's own fields (and not again as attributes),
// and the same line still goes to stderr with trace_id.
func TestLogExport(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		cfgURL   string // "<url>" is the receiver
		wantPath string
		wantSvc  string
	}{
		{name: "config endpoint", cfgURL: "<url>/insert/opentelemetry", wantPath: "/insert/opentelemetry/v1/logs", wantSvc: "warmbox-test"},
		{name: "env logs endpoint overrides config", cfgURL: "http://127.0.0.1:9", env: map[string]string{envLogsEndpoint: "<url>/custom/logs"},
			wantPath: "/custom/logs", wantSvc: "warmbox-test"},
		{name: "env service name", cfgURL: "<url>", env: map[string]string{envServiceName: "renamed"}, wantPath: "/v1/logs", wantSvc: "renamed"},
		// The generic endpoint names the trace collector: it must not turn log export on.
		{name: "generic endpoint is not for logs", env: map[string]string{envEndpoint: "<url>"}},
		{name: "sdk disabled", cfgURL: "<url>", env: map[string]string{envSDKDisabled: "true"}},
		{name: "exporter none", cfgURL: "<url>", env: map[string]string{envLogsExporter: "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			rcv := newOTLPReceiver(t, func() *collectorlogs.ExportLogsServiceRequest { return &collectorlogs.ExportLogsServiceRequest{} },
				&collectorlogs.ExportLogsServiceResponse{})
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "<url>", rcv.srv.URL))
			}
			cfg := LogExportConfig{Endpoint: strings.ReplaceAll(tt.cfgURL, "<url>", rcv.srv.URL)}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			export, shutdown, err := SetupLogExport(ctx, cfg, "warmbox-test", "v9")
			if err != nil {
				t.Fatalf("SetupLogExport: %v", err)
			}
			if tt.wantPath == "" {
				if export != nil {
					t.Fatal("export is on, want off")
				}
				return
			}
			if export == nil {
				t.Fatal("export is off, want on")
			}
			var stderr bytes.Buffer
			log, err := NewLogger(&stderr, "info", export)
			if err != nil {
				t.Fatal(err)
			}
			sc := trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: mustTraceID(t, testTraceID), SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
			})
			spanCtx := trace.ContextWithSpanContext(ctx, sc)
			log.InfoContext(spanCtx, "execution", "language", "python", "trace_id", testTraceID)
			log.Debug("below the level")
			log.With("component", "pool").Warn("no span", "trace_id", "explicit")
			if err := shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}

			records, services, paths := logRecords(rcv)
			for _, p := range paths {
				if p != tt.wantPath {
					t.Errorf("exported to %q, want %q", p, tt.wantPath)
				}
			}
			if len(records) != 2 {
				t.Fatalf("received %d records, want 2 (debug is below the level)", len(records))
			}
			exec, warn := records[0], records[1]
			if services[0] != tt.wantSvc {
				t.Errorf("service.name %q, want %q", services[0], tt.wantSvc)
			}
			if got := exec.GetBody().GetStringValue(); got != "execution" {
				t.Errorf("body %q, want execution", got)
			}
			if got := hex.EncodeToString(exec.GetTraceId()); got != testTraceID {
				t.Errorf("record trace id %q, want %s", got, testTraceID)
			}
			if got := hex.EncodeToString(exec.GetSpanId()); got != "0102030405060708" {
				t.Errorf("record span id %q, want 0102030405060708", got)
			}
			a := attrs(exec)
			if a["language"] != "python" {
				t.Errorf("attributes %v: want language=python", a)
			}
			if _, dup := a["trace_id"]; dup {
				t.Errorf("attributes %v repeat trace_id, which the record carries", a)
			}
			if exec.GetSeverityNumber() != logspb.SeverityNumber_SEVERITY_NUMBER_INFO {
				t.Errorf("severity %v, want INFO", exec.GetSeverityNumber())
			}
			if len(warn.GetTraceId()) != 0 {
				t.Errorf("a record without a span has trace id %x", warn.GetTraceId())
			}
			if a := attrs(warn); a["trace_id"] != "explicit" || a["component"] != "pool" {
				t.Errorf("span-less record attributes %v: want trace_id=explicit and component=pool kept", a)
			}

			// stderr is unchanged: JSON with trace_id, once.
			first := strings.SplitN(stderr.String(), "\n", 2)[0]
			var line map[string]any
			if err := json.Unmarshal([]byte(first), &line); err != nil || line["trace_id"] != testTraceID || line["msg"] != "execution" {
				t.Errorf("stderr line %q: want the execution record with trace_id (%v)", first, err)
			}
			if strings.Count(first, `"trace_id"`) != 1 {
				t.Errorf("stderr line repeats trace_id: %s", first)
			}
		})
	}
}

func mustTraceID(t *testing.T, s string) trace.TraceID {
	t.Helper()
	id, err := trace.TraceIDFromHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestLogExportConfig: a bad endpoint in the config or the environment is
// refused with the key that names it.
func TestLogExportConfig(t *testing.T) {
	clearOTelEnv(t)
	for _, tt := range []struct {
		cfg  string
		env  map[string]string
		want string
	}{
		{cfg: "ftp://store", want: "otlp_endpoint: must be an http:// or https:// URL"},
		{cfg: "http://", want: "otlp_endpoint: must name a host"},
		{env: map[string]string{envLogsEndpoint: "store:9428"}, want: envLogsEndpoint + ": must be an http"},
		{env: map[string]string{envLogsExporter: "console"}, want: envLogsExporter + ": only otlp and none"},
		{env: map[string]string{envSDKDisabled: "maybe"}, want: envSDKDisabled + ": want true or false"},
	} {
		for k, v := range tt.env {
			t.Setenv(k, v)
		}
		_, _, err := SetupLogExport(context.Background(), LogExportConfig{Endpoint: tt.cfg}, "warmbox", "v9")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("cfg %q env %v: error %v, want one containing %q", tt.cfg, tt.env, err, tt.want)
		}
		for k := range tt.env {
			t.Setenv(k, "")
		}
	}
}
