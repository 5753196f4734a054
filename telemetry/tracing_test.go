package telemetry

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
)

// clearOTelEnv unsets every variable Setup or the SDK reads, for the test.
func clearOTelEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{envEndpoint, envTracesEndpoint, envServiceName, envSampler, envSamplerArg,
		envSDKDisabled, envTracesExporter, envLogsEndpoint, envLogsExporter, "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		t.Setenv(k, "")
	}
}

func TestTracingConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*TracingConfig)
		wantErr string // substring; "" means valid
	}{
		{name: "defaults", mutate: func(*TracingConfig) {}},
		{name: "http endpoint", mutate: func(c *TracingConfig) { c.Endpoint = "http://127.0.0.1:4318" }},
		{name: "https endpoint with path", mutate: func(c *TracingConfig) { c.Endpoint = "https://collector.example:443/otlp" }},
		{name: "ratio 0", mutate: func(c *TracingConfig) { c.SampleRatio = 0 }},
		{name: "grpc scheme", mutate: func(c *TracingConfig) { c.Endpoint = "grpc://127.0.0.1:4317" }, wantErr: "otlp_endpoint:"},
		{name: "bare host", mutate: func(c *TracingConfig) { c.Endpoint = "127.0.0.1:4318" }, wantErr: "otlp_endpoint:"},
		{name: "no host", mutate: func(c *TracingConfig) { c.Endpoint = "http:///v1" }, wantErr: "otlp_endpoint:"},
		{name: "empty service", mutate: func(c *TracingConfig) { c.ServiceName = " " }, wantErr: "service_name:"},
		{name: "ratio above 1", mutate: func(c *TracingConfig) { c.SampleRatio = 1.5 }, wantErr: "sample_ratio:"},
		{name: "ratio negative", mutate: func(c *TracingConfig) { c.SampleRatio = -0.1 }, wantErr: "sample_ratio:"},
		{name: "ratio NaN", mutate: func(c *TracingConfig) { c.SampleRatio = math.NaN() }, wantErr: "sample_ratio:"},
		{name: "trust always", mutate: func(c *TracingConfig) { c.TrustIncoming = TrustAlways }},
		{name: "trust never", mutate: func(c *TracingConfig) { c.TrustIncoming = TrustNever }},
		{name: "trust unset", mutate: func(c *TracingConfig) { c.TrustIncoming = "" }},
		{name: "trust unknown", mutate: func(c *TracingConfig) { c.TrustIncoming = "keys" }, wantErr: "trust_incoming: must be proxies_and_keys, always or never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultTracingConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestTrustsIncoming(t *testing.T) {
	if got := DefaultTracingConfig().TrustIncoming; got != TrustProxiesAndKeys {
		t.Errorf("default trust_incoming = %q, want %q", got, TrustProxiesAndKeys)
	}
	for _, tc := range []struct {
		mode                                    string
		anonymous, fromProxy, keyed, proxyKeyed bool
	}{
		{TrustProxiesAndKeys, false, true, true, true},
		{"", false, true, true, true},
		{TrustAlways, true, true, true, true},
		{TrustNever, false, false, false, false},
	} {
		c := TracingConfig{TrustIncoming: tc.mode}
		for _, caller := range []struct {
			name             string
			fromProxy, keyed bool
			want             bool
		}{
			{"anonymous", false, false, tc.anonymous},
			{"from a trusted proxy", true, false, tc.fromProxy},
			{"with a key", false, true, tc.keyed},
			{"both", true, true, tc.proxyKeyed},
		} {
			if got := c.TrustsIncoming(caller.fromProxy, caller.keyed); got != caller.want {
				t.Errorf("trust_incoming %q, %s: TrustsIncoming = %v, want %v", tc.mode, caller.name, got, caller.want)
			}
		}
	}
}

func TestSetupOffPropagatesJaegerAndW3C(t *testing.T) {
	clearOTelEnv(t)
	shutdown, err := Setup(context.Background(), DefaultTracingConfig(), "test")
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// Tracing off: spans do not record.
	_, span := otel.Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("tracing off: span is recording")
	}
	span.End()

	prop := otel.GetTextMapPropagator()
	for _, f := range []string{"traceparent", "baggage", "uber-trace-id"} {
		found := false
		for _, g := range prop.Fields() {
			found = found || g == f
		}
		if !found {
			t.Errorf("global propagator fields %v lack %q", prop.Fields(), f)
		}
	}
	// Inject writes both formats.
	carrier := propagation.HeaderCarrier(http.Header{})
	prop.Inject(sampledCtx(t), carrier)
	if got := carrier.Get("uber-trace-id"); !strings.HasPrefix(got, testTraceID+":00f067aa0ba902b7:") {
		t.Errorf("injected uber-trace-id = %q, want it to start with %s:00f067aa0ba902b7:", got, testTraceID)
	}
	if got := carrier.Get("traceparent"); got != "00-"+testTraceID+"-00f067aa0ba902b7-01" {
		t.Errorf("injected traceparent = %q", got)
	}
	// A caller on jaeger-client-go sends only uber-trace-id.
	for _, h := range []struct{ key, value string }{
		{"uber-trace-id", testTraceID + ":00f067aa0ba902b7:0:1"},
		{"traceparent", "00-" + testTraceID + "-00f067aa0ba902b7-01"},
	} {
		in := propagation.HeaderCarrier(http.Header{})
		in.Set(h.key, h.value)
		sc := trace.SpanContextFromContext(prop.Extract(context.Background(), in))
		if sc.TraceID().String() != testTraceID || !sc.IsSampled() || !sc.IsRemote() {
			t.Errorf("extract %s: got %v, want sampled remote trace %s", h.key, sc, testTraceID)
		}
	}
}

// spans returns "service.name/span name" for every span a trace
// receiver got, and every request path.
func spans(r *otlpReceiver[*collectortrace.ExportTraceServiceRequest]) (spans, paths []string) {
	reqs, paths := r.received()
	for _, req := range reqs {
		for _, rs := range req.GetResourceSpans() {
			svc := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					svc = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					spans = append(spans, svc+"/"+s.GetName())
				}
			}
		}
	}
	return spans, paths
}

func TestSetupExportsSpans(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		cfgURL   bool // put the receiver in the config; else in the env
		wantSvc  string
		wantNone bool
	}{
		{name: "config endpoint", cfgURL: true, wantSvc: "warmbox-test"},
		{name: "env endpoint overrides config", env: map[string]string{envEndpoint: "<url>"}, wantSvc: "warmbox-test"},
		{name: "env traces endpoint", env: map[string]string{envTracesEndpoint: "<url>/v1/traces"}, wantSvc: "warmbox-test"},
		{name: "env service name", cfgURL: true, env: map[string]string{envServiceName: "renamed"}, wantSvc: "renamed"},
		{name: "sdk disabled", cfgURL: true, env: map[string]string{envSDKDisabled: "true"}, wantNone: true},
		{name: "exporter none", cfgURL: true, env: map[string]string{envTracesExporter: "none"}, wantNone: true},
		{name: "sampler always_off", cfgURL: true, env: map[string]string{envSampler: "always_off"}, wantNone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTelEnv(t)
			rcv := newOTLPReceiver(t, func() *collectortrace.ExportTraceServiceRequest { return &collectortrace.ExportTraceServiceRequest{} },
				&collectortrace.ExportTraceServiceResponse{})
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "<url>", rcv.srv.URL))
			}
			cfg := TracingConfig{ServiceName: "warmbox-test", SampleRatio: 1}
			if tt.cfgURL {
				cfg.Endpoint = rcv.srv.URL
			} else {
				cfg.Endpoint = "http://127.0.0.1:9" // must lose to the environment
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			shutdown, err := Setup(ctx, cfg, "v9")
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			_, span := otel.Tracer("warmbox/test").Start(ctx, "pool.acquire")
			span.End()
			if err := shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			got, paths := spans(rcv)
			if tt.wantNone {
				if len(got) != 0 {
					t.Fatalf("got spans %v, want none", got)
				}
				return
			}
			if want := tt.wantSvc + "/pool.acquire"; len(got) != 1 || got[0] != want {
				t.Fatalf("got spans %v, want [%s]", got, want)
			}
			for _, p := range paths {
				if p != "/v1/traces" {
					t.Errorf("exported to path %q, want /v1/traces", p)
				}
			}
		})
	}
}

func TestSetupRejectsBadEnv(t *testing.T) {
	tests := []struct{ key, value string }{
		{envEndpoint, "127.0.0.1:4318"},
		{envSampler, "sometimes"},
		{envSamplerArg, "2"},
		{envSDKDisabled, "maybe"},
		{envTracesExporter, "zipkin"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv(tt.key, tt.value)
			cfg := DefaultTracingConfig()
			cfg.Endpoint = "http://127.0.0.1:9"
			shutdown, err := Setup(context.Background(), cfg, "test")
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("Setup with %s=%q: got %v, want an error naming %s", tt.key, tt.value, err, tt.key)
			}
			if shutdown == nil {
				t.Fatal("shutdown is nil on error")
			}
			_ = shutdown(context.Background())
		})
	}
}

func TestSamplerFor(t *testing.T) {
	tests := []struct {
		sampler, arg string
		ratio        float64
		want         string
	}{
		{ratio: 0.5, want: "ParentBased{root:TraceIDRatioBased{0.5}"},
		{arg: "0.25", ratio: 0.5, want: "ParentBased{root:TraceIDRatioBased{0.25}"},
		{sampler: "always_on", want: "AlwaysOnSampler"},
		{sampler: "ALWAYS_OFF", want: "AlwaysOffSampler"},
		{sampler: "traceidratio", arg: "0.1", want: "TraceIDRatioBased{0.1}"},
		{sampler: "parentbased_traceidratio", want: "ParentBased{root:TraceIDRatioBased{1}"},
		{sampler: "parentbased_always_off", want: "ParentBased{root:AlwaysOffSampler"},
		{sampler: "parentbased_always_on", want: "ParentBased{root:AlwaysOnSampler"},
	}
	for _, tt := range tests {
		t.Run(tt.sampler+"/"+tt.arg, func(t *testing.T) {
			clearOTelEnv(t)
			t.Setenv(envSampler, tt.sampler)
			t.Setenv(envSamplerArg, tt.arg)
			s, err := samplerFor(tt.ratio)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Description(); !strings.HasPrefix(got, tt.want) {
				t.Errorf("sampler = %s, want prefix %s", got, tt.want)
			}
		})
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":       "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":      "http://127.0.0.1:4318/v1/traces",
		"https://host:443/otlp":       "https://host:443/otlp/v1/traces",
		"https://host:443/otlp/?a=b/": "https://host:443/otlp/v1/traces?a=b/",
	} {
		if got := signalURL(in, "/v1/traces"); got != want {
			t.Errorf("signalURL(%q, /v1/traces) = %q, want %q", in, got, want)
		}
	}
}
