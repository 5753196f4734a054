package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/warmbox/warmbox/pool"
)

// The interfaces other packages define and Metrics must satisfy, copied
// here because telemetry may not import dispatch or httpapi.
type (
	dispatchObserver interface {
		Handoff(language string, d time.Duration, err error)
	}
	httpapiRecorder interface {
		Execution(language, status string, total time.Duration, ctx context.Context)
		Rejected(reason string)
	}
)

var (
	_ pool.Observer    = (*Metrics)(nil)
	_ dispatchObserver = (*Metrics)(nil)
	_ httpapiRecorder  = (*Metrics)(nil)
)

// testTraceID is the trace id of sampledCtx.
const testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// sampledCtx carries a sampled remote span context.
func sampledCtx(t *testing.T) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(testTraceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	return trace.ContextWithSpanContext(context.Background(), sc)
}

// fakeStats returns two pools' snapshots.
func fakeStats() []pool.Stats {
	return []pool.Stats{
		{
			Name: "node", Idle: 0, Busy: 8, Creating: 1, Destroying: 2, Waiting: 3,
			Target: 4, MinIdle: 2, MaxSize: 8, MaxUses: 1, ArrivalRate: 2.5, CreateTime: 300 * time.Millisecond,
			Acquired: 40, AcquireTimeouts: 2, Created: 45, CreateFailures: 5,
			Destroyed: map[pool.DestroyReason]uint64{pool.ReasonUsed: 30, pool.ReasonDied: 1, "odd": 4},
			Degraded:  true, LastError: "image gone", BackoffUntil: time.Now().Add(time.Hour),
		},
		{
			Name: "python", Idle: 2, Busy: 1, Target: 2, MinIdle: 2, MaxSize: 8, MaxUses: 1,
			Acquired: 7, Created: 10,
			Destroyed: map[pool.DestroyReason]uint64{pool.ReasonUsed: 6},
		},
	}
}

// exercise calls every recording method of m at least once, so that every
// metric family the daemon can export is present in a gather.
func exercise(t *testing.T, m *Metrics) {
	t.Helper()
	boom := errors.New("boom")
	m.Created("python", 200*time.Millisecond, nil)
	m.Created("python", time.Second, boom)
	m.Destroyed("python", pool.ReasonUsed, 40*time.Millisecond, nil)
	m.Destroyed("python", pool.ReasonShutdown, 40*time.Millisecond, boom)
	m.Handoff("python", 5*time.Millisecond, nil)
	m.Handoff("python", 5*time.Millisecond, boom)
	m.AcquireWait("python", 0)
	m.AcquireWait("python", 300*time.Millisecond)
	m.Execution("python", "ok", 12*time.Millisecond, sampledCtx(t))
	m.Execution("python", "timeout", 30*time.Second, context.Background())
	m.Execution("python", "error", 2*time.Millisecond, nil) // a nil ctx must not panic
	m.Rejected("rate_limited")
	m.EngineUp(true)
}

// scrape fetches m's exposition with the given Accept header.
func scrape(t *testing.T, m *Metrics, accept string) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// promtool runs Debian's promtool with args and stdin, failing the test
// when it is not installed (CI must not skip this).
func promtool(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// exportedSeries returns every series name a gather of m can hold
// (histograms as _bucket, _sum and _count), mapped to its family's type.
func exportedSeries(t *testing.T, m *Metrics) map[string]string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	names := map[string]string{}
	for _, mf := range mfs {
		typ := mf.GetType().String()
		switch typ {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = typ
			}
		case "SUMMARY":
			for _, s := range []string{"", "_sum", "_count"} {
				names[mf.GetName()+s] = typ
			}
		default:
			names[mf.GetName()] = typ
		}
	}
	return names
}

// otlpReceiver is an in-test OTLP/HTTP receiver of requests of type M
// (traces or logs), answering each with reply.
type otlpReceiver[M proto.Message] struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
	reqs  []M
}

func newOTLPReceiver[M proto.Message](t *testing.T, newMsg func() M, reply proto.Message) *otlpReceiver[M] {
	t.Helper()
	r := &otlpReceiver[M]{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msg := newMsg()
		if err := proto.Unmarshal(body, msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.reqs = append(r.reqs, msg)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(reply)
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// received returns the requests and their paths so far.
func (r *otlpReceiver[M]) received() ([]M, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]M(nil), r.reqs...), append([]string(nil), r.paths...)
}
