package telemetry

import (
	"context"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/warmbox/warmbox/pool"
)

// namespace prefixes every warmbox metric.
const namespace = "warmbox"

// durationBuckets span 1 ms .. 60 s: a warm hand-off takes a few ms, a cold
// create a few hundred, a job may run up to its 60 s limit.
var durationBuckets = []float64{
	.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60,
}

// Metrics is warmbox's Prometheus instrumentation, on a registry of its own.
// Its methods are safe for concurrent use and never block; they satisfy
// pool.Observer, dispatch.Observer and httpapi's recorder. Create it with
// [NewMetrics] and serve it with [Metrics.Handler].
type Metrics struct {
	reg *prometheus.Registry

	executions      *prometheus.CounterVec   // language, status
	executionTime   *prometheus.HistogramVec // language
	acquireWait     *prometheus.HistogramVec // language
	handoffTime     *prometheus.HistogramVec // language
	handoffFailures *prometheus.CounterVec   // language
	createTime      *prometheus.HistogramVec // language
	destroyTime     *prometheus.HistogramVec // language, reason
	destroyFailures *prometheus.CounterVec   // language
	rejected        *prometheus.CounterVec   // reason
	engineErrors    *prometheus.CounterVec   // op
	engineUp        *engineUpCollector
}

// NewMetrics builds the registry: warmbox's own metrics, the pool
// collector that calls stats at every scrape (stats may be nil), build info,
// and the Go runtime and process collectors.
func NewMetrics(version string, stats func() []pool.Stats) *Metrics {
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: name, Help: help, Buckets: durationBuckets,
		}, labels)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: name, Help: help,
		}, labels)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		executions: counter("executions_total",
			"Finished POST /execute requests that reached a language, by outcome status.", "language", "status"),
		executionTime: histogram("execution_duration_seconds",
			"End-to-end duration of an execution request, from arrival to answer.", "language"),
		acquireWait: histogram("acquire_wait_seconds",
			"Time a request waited to acquire a warm sandbox from its language's pool.", "language"),
		handoffTime: histogram("handoff_duration_seconds",
			"Duration of handing a job to a sandbox and reading its result (exec or attach), program run included.", "language"),
		handoffFailures: counter("handoff_failures_total",
			"Hand-offs that failed in the engine or the runner (not programs that failed).", "language"),
		createTime: histogram("sandbox_create_duration_seconds",
			"Duration of successful sandbox creations (create, start, ready).", "language"),
		destroyTime: histogram("sandbox_destroy_duration_seconds",
			"Duration of sandbox destroy attempts, by reason.", "language", "reason"),
		destroyFailures: counter("sandbox_destroy_failures_total",
			"Sandbox destroy attempts that failed; the container may be left behind until the next reap.", "language"),
		rejected: counter("requests_rejected_total",
			"Requests refused before reaching a sandbox, by reason (rate_limited, invalid, ...).", "reason"),
		engineErrors: counter("engine_errors_total",
			"Failed sandbox creates, sandbox destroys and health pings of the backend (the Docker engine or the Kubernetes API server), by operation (create, destroy, ping).", "op"),
		engineUp: newEngineUpCollector(),
	}
	for _, op := range []string{"create", "destroy", "ping"} {
		m.engineErrors.WithLabelValues(op) // every op from 0, so that rate() sees the first error
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help: "A metric with a constant 1 value labelled by the warmbox version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	m.reg.MustRegister(
		m.executions, m.executionTime, m.acquireWait, m.handoffTime, m.handoffFailures,
		m.createTime, m.destroyTime, m.destroyFailures, m.rejected, m.engineErrors,
		m.engineUp, buildInfo, newPoolCollector(stats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// SessionsOpen exposes warmbox_sessions_open, read from open when
// scraped: the sessions open now, each holding a sandbox.
func (m *Metrics) SessionsOpen(open func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "sessions_open",
		Help: "Sessions open now (POST /sessions and the E2B contexts); each holds a sandbox of its language's pool.",
	}, func() float64 { return float64(open()) }))
}

// Registry returns the registry, for tests and for registering more
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format, or in
// OpenMetrics (which carries exemplars) when the scraper asks for it.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry:          m.reg, // counts its own errors as promhttp_metric_handler_errors_total
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	})
}

// Created records a sandbox create attempt (pool.Observer). Only successful
// creates enter the duration histogram; a failure counts as an engine
// error of op "create" (the pool's stats count it per language).
func (m *Metrics) Created(language string, d time.Duration, err error) {
	if err != nil {
		m.engineErrors.WithLabelValues("create").Inc()
		return
	}
	m.createTime.WithLabelValues(language).Observe(d.Seconds())
}

// Destroyed records a sandbox destroy attempt (pool.Observer); a failure
// also counts as an engine error of op "destroy".
func (m *Metrics) Destroyed(language string, reason pool.DestroyReason, d time.Duration, err error) {
	m.destroyTime.WithLabelValues(language, string(reason)).Observe(d.Seconds())
	if err != nil {
		m.destroyFailures.WithLabelValues(language).Inc()
		m.engineErrors.WithLabelValues("destroy").Inc()
	}
}

// Handoff records one hand-off (dispatch.Observer).
func (m *Metrics) Handoff(language string, d time.Duration, err error) {
	m.handoffTime.WithLabelValues(language).Observe(d.Seconds())
	if err != nil {
		m.handoffFailures.WithLabelValues(language).Inc()
	}
}

// AcquireWait records how long a request waited for a sandbox.
func (m *Metrics) AcquireWait(language string, d time.Duration) {
	m.acquireWait.WithLabelValues(language).Observe(d.Seconds())
}

// Execution records one finished execution request. When ctx carries a
// sampled span, its trace id rides along as an exemplar, so a slow bucket
// in Grafana links to the trace in Jaeger.
func (m *Metrics) Execution(language, status string, total time.Duration, ctx context.Context) {
	c := m.executions.WithLabelValues(language, status)
	h := m.executionTime.WithLabelValues(language)
	if ex := exemplar(ctx); ex != nil {
		c.(prometheus.ExemplarAdder).AddWithExemplar(1, ex)
		h.(prometheus.ExemplarObserver).ObserveWithExemplar(total.Seconds(), ex)
		return
	}
	c.Inc()
	h.Observe(total.Seconds())
}

// Rejected counts a request refused before it reached a sandbox.
func (m *Metrics) Rejected(reason string) {
	m.rejected.WithLabelValues(reason).Inc()
}

// EngineUp records whether the backend (the Docker engine or the
// Kubernetes API server) answered its last health check; a check it did
// not answer counts as an engine error of op "ping". warmbox_engine_up
// appears only once this has been called.
func (m *Metrics) EngineUp(up bool) {
	m.engineUp.set(up)
	if !up {
		m.engineErrors.WithLabelValues("ping").Inc()
	}
}

// exemplar returns the trace_id exemplar labels of ctx's sampled span, or
// nil.
func exemplar(ctx context.Context) prometheus.Labels {
	if ctx == nil {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String()}
}

// engineUpCollector exports warmbox_engine_up once it has been set, so
// that a daemon that never checks the engine does not claim it is down.
type engineUpCollector struct {
	state atomic.Int32 // 0 unknown, 1 down, 2 up
	desc  *prometheus.Desc
}

func newEngineUpCollector() *engineUpCollector {
	return &engineUpCollector{desc: prometheus.NewDesc(namespace+"_engine_up",
		"Whether the Docker engine answered the last health check (1) or not (0).", nil, nil)}
}

func (c *engineUpCollector) set(up bool) {
	if up {
		c.state.Store(2)
	} else {
		c.state.Store(1)
	}
}

func (c *engineUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *engineUpCollector) Collect(ch chan<- prometheus.Metric) {
	switch c.state.Load() {
	case 1:
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 0)
	case 2:
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, 1)
	}
}

// Metrics satisfies the pool's observer; dispatch.Observer and httpapi's
// recorder are checked by the tests, as telemetry may not import them.
var _ pool.Observer = (*Metrics)(nil)
