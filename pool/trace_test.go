package pool_test

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/warmbox/warmbox/pool"
)

// spanRecorder is a minimal TracerProvider built on the OTel API only (the
// pool must not depend on the SDK, not even in tests). TestTracing installs
// it as the global provider; the pool picks it up through otel.Tracer.
type spanRecorder struct {
	embedded.TracerProvider
	ids   atomic.Uint64
	mu    sync.Mutex
	spans []*recordedSpan
}

type recordedSpan struct {
	noop.Span
	name   string
	sc     trace.SpanContext
	parent trace.SpanContext
	mu     sync.Mutex
	attrs  map[attribute.Key]attribute.Value
	links  []trace.Link
}

// recordingTracer is the one Tracer of a spanRecorder.
type recordingTracer struct {
	embedded.Tracer
	*spanRecorder
}

func (r *spanRecorder) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return recordingTracer{spanRecorder: r}
}

func (r *spanRecorder) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	parent := trace.SpanContextFromContext(ctx)
	if cfg.NewRoot() {
		parent = trace.SpanContext{}
	}
	var tid trace.TraceID
	var sid trace.SpanID
	n := r.ids.Add(1)
	binary.BigEndian.PutUint64(sid[:], n)
	if parent.IsValid() {
		tid = parent.TraceID()
	} else {
		binary.BigEndian.PutUint64(tid[8:], n)
	}
	s := &recordedSpan{
		name:   name,
		sc:     trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}),
		parent: parent,
		attrs:  make(map[attribute.Key]attribute.Value),
		links:  cfg.Links(),
	}
	s.SetAttributes(cfg.Attributes()...)
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
	return trace.ContextWithSpan(ctx, s), s
}

func (s *recordedSpan) SpanContext() trace.SpanContext { return s.sc }
func (s *recordedSpan) IsRecording() bool              { return true }

func (s *recordedSpan) SetAttributes(kv ...attribute.KeyValue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range kv {
		s.attrs[a.Key] = a.Value
	}
}

func (s *recordedSpan) AddLink(l trace.Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links = append(s.links, l)
}

func (s *recordedSpan) attr(key string) attribute.Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attrs[attribute.Key(key)]
}

// find returns the spans named name for language lang.
func (r *spanRecorder) find(name, lang string) []*recordedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*recordedSpan
	for _, s := range r.spans {
		if s.name == name && s.attr("warmbox.language").AsString() == lang {
			out = append(out, s)
		}
	}
	return out
}

func TestTracing(t *testing.T) {
	rec := &spanRecorder{}
	otel.SetTracerProvider(rec) // global: no other test looks at spans
	synctest.Test(t, func(t *testing.T) {
		rt := newFake()
		rt.createDelay = 200 * time.Millisecond
		cfg := testConfig(0, 1)
		cfg.MaxUses = 2
		p, err := pool.New("tracing", cfg, rt, nil, nil)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		defer closePool(t, p)

		ctx, request := rec.Tracer("test").Start(t.Context(), "request")
		l, err := p.Acquire(ctx)
		if err != nil {
			t.Fatalf("Acquire: %v", err)
		}
		request.End()

		acq := rec.find("pool.acquire", "tracing")
		creates := rec.find("sandbox.create", "tracing")
		if len(acq) != 1 || len(creates) != 1 {
			t.Fatalf("got %d pool.acquire and %d sandbox.create spans, want 1 and 1", len(acq), len(creates))
		}
		a, c := acq[0], creates[0]
		if got, want := a.parent, request.SpanContext(); !got.Equal(want) {
			t.Errorf("pool.acquire parent = %v, want the request span %v", got, want)
		}
		if !a.attr("warmbox.pool.waited").AsBool() || a.attr("warmbox.pool.wait_ms").AsFloat64() != 200 {
			t.Errorf("pool.acquire waited, wait_ms = %v, %v; want true, 200",
				a.attr("warmbox.pool.waited").AsBool(), a.attr("warmbox.pool.wait_ms").AsFloat64())
		}
		if c.parent.IsValid() {
			t.Errorf("sandbox.create has parent %v, want a root span", c.parent)
		}
		if got := l.CreateSpan(); !got.Equal(c.sc) {
			t.Errorf("Lease.CreateSpan() = %v, want the sandbox.create span %v", got, c.sc)
		}
		if len(a.links) != 1 || !a.links[0].SpanContext.Equal(c.sc) {
			t.Errorf("pool.acquire links = %v, want one link to sandbox.create", a.links)
		}

		l.Release() // use 1 of 2: reset
		synctest.Wait()
		mustAcquire(t, p).Release() // use 2 of 2: destroy
		synctest.Wait()
		if got := len(rec.find("sandbox.reset", "tracing")); got != 1 {
			t.Errorf("%d sandbox.reset spans, want 1", got)
		}
		destroys := rec.find("sandbox.destroy", "tracing")
		if len(destroys) != 1 || destroys[0].parent.IsValid() ||
			destroys[0].attr("warmbox.destroy.reason").AsString() != string(pool.ReasonUsed) {
			t.Errorf("sandbox.destroy spans = %d, want 1 root span with reason used", len(destroys))
		}
	})
}
