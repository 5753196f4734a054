package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/propagators/jaeger"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracingConfig configures trace export. The zero value is not useful:
// start from [DefaultTracingConfig].
type TracingConfig struct {
	// Endpoint is the OTLP/HTTP base URL of the collector, e.g.
	// "http://127.0.0.1:4318" (Jaeger's OTLP HTTP receiver); "/v1/traces"
	// is appended as for OTEL_EXPORTER_OTLP_ENDPOINT. Empty turns tracing
	// off. An https URL uses TLS, http does not.
	Endpoint string `yaml:"otlp_endpoint"`
	// ServiceName is the service.name resource attribute (default
	// "warmbox").
	ServiceName string `yaml:"service_name"`
	// SampleRatio is the fraction of new traces sampled, 0..1 (default
	// 1). The sampler is parent-based: a caller's sampling decision wins,
	// for the callers whose trace context is believed (TrustIncoming).
	SampleRatio float64 `yaml:"sample_ratio"`
	// TrustIncoming says whose incoming trace context (traceparent,
	// tracestate, baggage, uber-trace-id) is believed:
	// TrustProxiesAndKeys (the default; "" means it too), TrustAlways or
	// TrustNever. Anyone else's request starts a new root trace, so an
	// anonymous caller can neither force its requests to be sampled nor
	// choose the trace id echoed back.
	TrustIncoming string `yaml:"trust_incoming"`
}

// The values of TracingConfig.TrustIncoming.
const (
	// TrustProxiesAndKeys believes requests from a trusted proxy
	// (http.trusted_proxies) and requests with a valid API key.
	TrustProxiesAndKeys = "proxies_and_keys"
	// TrustAlways believes every caller (the behaviour before it was
	// configurable).
	TrustAlways = "always"
	// TrustNever starts a new root trace for every request.
	TrustNever = "never"
)

// TrustsIncoming reports whether a request's incoming trace context is
// believed: fromProxy, its direct peer is a trusted proxy; keyed, it
// carries a valid API key.
func (c TracingConfig) TrustsIncoming(fromProxy, keyed bool) bool {
	switch c.TrustIncoming {
	case TrustAlways:
		return true
	case TrustNever:
		return false
	default:
		return fromProxy || keyed
	}
}

// Default tracing settings.
const (
	defaultServiceName = "warmbox"
	defaultSampleRatio = 1.0
)

// Standard OpenTelemetry environment variables that [Setup] honours. They
// override the configuration file.
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envServiceName    = "OTEL_SERVICE_NAME"
	envSampler        = "OTEL_TRACES_SAMPLER"
	envSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
)

// DefaultTracingConfig returns tracing off, service "warmbox", every trace
// sampled.
func DefaultTracingConfig() TracingConfig {
	return TracingConfig{ServiceName: defaultServiceName, SampleRatio: defaultSampleRatio, TrustIncoming: TrustProxiesAndKeys}
}

// Validate reports every invalid field, each error naming its yaml key. It
// has no side effects and does not look at the environment.
func (c TracingConfig) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if err := checkEndpoint(c.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("otlp_endpoint: %w", err))
		}
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("service_name: must not be empty"))
	}
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("sample_ratio: must be within 0..1, got %v", c.SampleRatio))
	}
	switch c.TrustIncoming {
	case "", TrustProxiesAndKeys, TrustAlways, TrustNever:
	default:
		errs = append(errs, fmt.Errorf("trust_incoming: must be %s, %s or %s, got %q",
			TrustProxiesAndKeys, TrustAlways, TrustNever, c.TrustIncoming))
	}
	return errors.Join(errs...)
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("must be a URL such as http://127.0.0.1:4318: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http:// or https:// URL such as http://127.0.0.1:4318, got %q", s)
	}
	if u.Host == "" {
		return fmt.Errorf("must name a host, got %q", s)
	}
	return nil
}

// Propagator returns the propagators warmbox speaks: W3C traceparent and
// baggage, and Jaeger's uber-trace-id so that callers still on
// jaeger-client-go join the same trace. On injection all are written.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}, jaeger.Jaeger{})
}

// Setup installs the global OpenTelemetry tracer provider and propagators,
// and returns the function that flushes and stops them (call it last, with a
// deadline). version becomes service.version.
//
// The standard environment variables override cfg:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, then OTEL_EXPORTER_OTLP_ENDPOINT,
// then cfg.Endpoint choose the collector; OTEL_SERVICE_NAME (and
// OTEL_RESOURCE_ATTRIBUTES) override cfg.ServiceName; OTEL_TRACES_SAMPLER
// with OTEL_TRACES_SAMPLER_ARG replaces the sampler, and
// OTEL_TRACES_SAMPLER_ARG alone replaces cfg.SampleRatio;
// OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none turn tracing off.
// The SDK's own variables (OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, ...)
// apply as usual.
//
// With tracing off the global provider is a no-op, Setup starts nothing and
// the returned shutdown does nothing; the propagators are installed all the
// same, so a caller's trace id still reaches the response.
func Setup(ctx context.Context, cfg TracingConfig, version string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(Propagator())
	nothing := func(context.Context) error { return nil }

	if cfg.ServiceName == "" {
		cfg.ServiceName = defaultServiceName
	}
	if err := cfg.Validate(); err != nil {
		return nothing, err
	}
	endpoint, fromEnv, on, err := resolveEndpoint(cfg.Endpoint)
	if err != nil {
		return nothing, err
	}
	if !on {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return nothing, nil
	}
	sampler, err := samplerFor(cfg.SampleRatio)
	if err != nil {
		return nothing, err
	}

	var opts []otlptracehttp.Option
	if !fromEnv {
		// The exporter reads the environment itself; an explicit option
		// would override it, so pass one only for the config's endpoint.
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nothing, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := newResource(ctx, cfg.ServiceName, version)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nothing, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	otel.SetTracerProvider(tp)
	return func(ctx context.Context) error {
		if err := tp.Shutdown(ctx); err != nil {
			return fmt.Errorf("tracing shutdown: %w", err)
		}
		return nil
	}, nil
}

// newResource describes this daemon to a collector: the service's name
// and version, the SDK and the host; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES win over serviceName.
func newResource(ctx context.Context, serviceName, version string) (*resource.Resource, error) {
	if serviceName == "" {
		serviceName = defaultServiceName
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(serviceName), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithFromEnv(), // last: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return res, nil
}

// LogSDKErrors sends the OpenTelemetry SDK's own errors (a collector or a
// log store that is down) to l instead of the SDK's plain-text stderr
// logger. l should not export logs itself: an export error shipped
// through the export that failed would come back with every batch.
func LogSDKErrors(l *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		l.Warn("opentelemetry", "err", err)
	}))
}

// resolveEndpoint applies the environment's precedence. It returns the
// export URL for the config's endpoint, whether the environment supplies
// the endpoint instead, and whether tracing is on.
func resolveEndpoint(cfgEndpoint string) (endpoint string, fromEnv, on bool, err error) {
	if off, err := exportOff(envTracesExporter); off || err != nil {
		return "", false, false, err
	}
	if v, err := endpointFromEnv(envTracesEndpoint, envEndpoint); err != nil {
		return "", false, false, err
	} else if v != "" {
		return v, true, true, nil
	}
	if cfgEndpoint == "" {
		return "", false, false, nil
	}
	return signalURL(cfgEndpoint, "/v1/traces"), false, true, nil
}

// exportOff reports whether the environment turns a signal's export off:
// OTEL_SDK_DISABLED true, or its exporter variable (OTEL_TRACES_EXPORTER,
// OTEL_LOGS_EXPORTER) none. Any value but otlp and none is an error.
func exportOff(exporterVar string) (bool, error) {
	if v := strings.TrimSpace(os.Getenv(envSDKDisabled)); v != "" {
		disabled, err := strconv.ParseBool(v)
		if err != nil {
			return true, fmt.Errorf("%s: want true or false, got %q", envSDKDisabled, v)
		}
		if disabled {
			return true, nil
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv(exporterVar))); v {
	case "", "otlp":
		return false, nil
	case "none":
		return true, nil
	default:
		return true, fmt.Errorf("%s: only otlp and none are supported, got %q", exporterVar, v)
	}
}

// endpointFromEnv returns the first of the variables keys that is set,
// checked; "" when none is.
func endpointFromEnv(keys ...string) (string, error) {
	for _, key := range keys {
		if v := strings.TrimSpace(os.Getenv(key)); v != "" {
			if err := checkEndpoint(v); err != nil {
				return "", fmt.Errorf("%s: %w", key, err)
			}
			return v, nil
		}
	}
	return "", nil
}

// samplerFor builds the sampler: parent-based ratio from the config, or
// the environment's choice.
func samplerFor(ratio float64) (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(os.Getenv(envSampler)))
	arg := strings.TrimSpace(os.Getenv(envSamplerArg))
	parseRatio := func() (float64, error) {
		if arg == "" {
			return 1, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(v >= 0 && v <= 1) {
			return 0, fmt.Errorf("%s: want a ratio within 0..1, got %q", envSamplerArg, arg)
		}
		return v, nil
	}
	switch name {
	case "":
		if arg != "" {
			r, err := parseRatio()
			if err != nil {
				return nil, err
			}
			ratio = r
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio", "parentbased_traceidratio":
		r, err := parseRatio()
		if err != nil {
			return nil, err
		}
		if name == "traceidratio" {
			return sdktrace.TraceIDRatioBased(r), nil
		}
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), nil
	default:
		return nil, fmt.Errorf("%s: unsupported sampler %q", envSampler, name)
	}
}
