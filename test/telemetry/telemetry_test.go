package telemetry_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

var languages = []string{"bash", "node", "python"}

// minIdle is every pool's min_idle; autosize is off so that it is also
// the idle target the pools settle at.
const minIdle = 1

// execution is one request the test sends and what it expects back.
type execution struct {
	name     string
	language string
	code     string
	timeout  int
	header   http.Header // trace propagation, if any

	status   string
	exitCode *int // nil: not checked (a timeout may end by a signal)
	timedOut bool

	// parent is the caller's span (trace id, span id) the request carries.
	parentTrace, parentSpan string

	// filled in by send
	body    map[string]any
	traceID string
}

func exit(n int) *int { return &n }

// TestTelemetry runs executions in every language through a daemon that
// exports traces to Jaeger and its log records to VictoriaLogs and is
// scraped by Prometheus, then checks what the three backends recorded and
// what the daemon logged.
func TestTelemetry(t *testing.T) {
	lockBackends(t)
	begin := time.Now()
	requireJaeger(t)
	requireLogStore(t)

	service := fmt.Sprintf("warmbox-test-%d-%d", os.Getpid(), begin.UnixNano()%1e9)
	// Prometheus scrapes the metrics on a listener of their own, as an
	// operator who keeps them off the API's port configures it.
	target := freeAddr(t)
	d := testdaemon.Start(t, testdaemon.Options{
		// Single use: every request's sandbox is destroyed, so each
		// one has a destroy span and counts in destroyed_total{used}.
		// The callers' trace context is trusted although they are
		// anonymous and direct (the default trusts only proxies and
		// keyed callers: httpapi's TestTraceTrust): the test checks
		// that propagation works end to end.
		Config: fmt.Sprintf(`
rate_limit: {requests: 0}
pool: {min_idle: %d, max_size: 3, autosize: false, max_uses: 1}
metrics_listen: %q
tracing:
  otlp_endpoint: %q
  service_name: %q
  sample_ratio: 1
  trust_incoming: always
log_export:
  otlp_endpoint: %q
`, minIdle, target, jaegerOTLP, service, logStoreOTLP),
		// The config decides, whatever the environment of the test says;
		// a short batch delay only makes the waits below shorter.
		Env: []string{
			"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=", "OTEL_SERVICE_NAME=",
			"OTEL_RESOURCE_ATTRIBUTES=", "OTEL_TRACES_SAMPLER=", "OTEL_TRACES_SAMPLER_ARG=",
			"OTEL_SDK_DISABLED=", "OTEL_TRACES_EXPORTER=", "OTEL_BSP_SCHEDULE_DELAY=500",
			"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=", "OTEL_LOGS_EXPORTER=", "OTEL_BLRP_SCHEDULE_DELAY=500",
		},
	})
	u, err := url.Parse(d.URL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("daemon URL %q: want one on 127.0.0.1 (%v)", d.URL, err)
	}
	if r := d.Get(t, "/metrics"); r.Status != http.StatusNotFound {
		t.Errorf("the API port's /metrics: HTTP %d, want 404 with metrics_listen set", r.Status)
	}
	startPrometheus(t, target)
	t.Logf("service %s, daemon %s, started in %s", service, d.URL, time.Since(begin).Round(time.Millisecond))

	// A marker in every program's source: the logs must never contain it.
	marker := "warmbox-secret-" + randomHex(8)
	uberTrace, uberSpan := randomHex(16), randomHex(8)
	w3cTrace, w3cSpan := randomHex(16), randomHex(8)
	execs := []*execution{
		{name: "python success", language: "python", code: "# " + marker + "\nprint(6*7)", timeout: 10, status: "success", exitCode: exit(0)},
		{name: "node success", language: "node", code: "// " + marker + "\nconsole.log(6*7)", timeout: 10, status: "success", exitCode: exit(0)},
		{name: "bash success", language: "bash", code: "# " + marker + "\necho $((6*7))", timeout: 10, status: "success", exitCode: exit(0)},
		{name: "python exit 3", language: "python", code: "# " + marker + "\nimport sys\nsys.exit(3)", timeout: 10, status: "error", exitCode: exit(3)},
		{name: "node timeout", language: "node", code: "// " + marker + "\nwhile (true) {}", timeout: 1, status: "timeout", timedOut: true},
		{name: "bash with uber-trace-id", language: "bash", code: "# " + marker + "\necho joined", timeout: 10, status: "success", exitCode: exit(0),
			header:      http.Header{"Uber-Trace-Id": {uberTrace + ":" + uberSpan + ":0:1"}},
			parentTrace: uberTrace, parentSpan: uberSpan},
		{name: "python with traceparent", language: "python", code: "# " + marker + "\nprint('w3c')", timeout: 10, status: "success", exitCode: exit(0),
			header:      http.Header{"Traceparent": {"00-" + w3cTrace + "-" + w3cSpan + "-01"}},
			parentTrace: w3cTrace, parentSpan: w3cSpan},
	}

	sent := time.Now()
	for _, e := range execs {
		// Each request finds its pool full, so the counts below do not
		// depend on how fast the pools refill.
		waitSettled(t, d)
		send(t, d, e)
	}
	t.Logf("%d executions answered in %s", len(execs), time.Since(sent).Round(time.Millisecond))

	t.Run("jaeger", func(t *testing.T) {
		started := time.Now()
		checkJaeger(t, service, begin, execs)
		t.Logf("Jaeger checks took %s", time.Since(started).Round(time.Millisecond))
	})
	t.Run("prometheus", func(t *testing.T) {
		started := time.Now()
		checkPrometheus(t, d, target, execs)
		t.Logf("Prometheus checks took %s", time.Since(started).Round(time.Millisecond))
	})
	t.Run("logs", func(t *testing.T) { checkLogs(t, d.Logs(), marker, execs) })
	t.Run("log store", func(t *testing.T) {
		started := time.Now()
		checkLogStore(t, service, marker, execs)
		t.Logf("log store checks took %s", time.Since(started).Round(time.Millisecond))
	})
	t.Logf("total %s", time.Since(begin).Round(time.Millisecond))
}

// send posts e, with its propagation headers, and checks the answer and
// its trace id.
func send(t *testing.T, d *testdaemon.Daemon, e *execution) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"environment": e.language, "code": e.code, "timeout": e.timeout})
	req, err := http.NewRequest(http.MethodPost, d.URL+"/execute", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range e.header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s: POST /execute: %v", e.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", e.name, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &e.body); err != nil {
		t.Fatalf("%s: response is not JSON: %v: %s", e.name, err, body)
	}
	e.traceID, _ = e.body["trace_id"].(string)
	header := resp.Header.Get("X-Trace-Id")
	switch {
	case e.traceID == "":
		t.Errorf("%s: no trace_id in the body: %s", e.name, body)
	case len(e.traceID) != 32 || strings.Trim(e.traceID, "0123456789abcdef") != "":
		t.Errorf("%s: trace_id %q is not 32 lowercase hex digits", e.name, e.traceID)
	case header != e.traceID:
		t.Errorf("%s: X-Trace-Id %q, body trace_id %q: want them equal", e.name, header, e.traceID)
	}
	if e.parentTrace != "" && e.traceID != e.parentTrace {
		t.Errorf("%s: trace_id %q, want the caller's trace %q (header %v)", e.name, e.traceID, e.parentTrace, e.header)
	}
	if got := e.body["status"]; got != e.status {
		t.Errorf("%s: status %v, want %s: %s", e.name, got, e.status, body)
	}
	if e.exitCode != nil {
		if got, ok := e.body["exit_code"].(float64); !ok || int(got) != *e.exitCode {
			t.Errorf("%s: exit_code %v, want %d: %s", e.name, e.body["exit_code"], *e.exitCode, body)
		}
	}
	if got := e.body["timed_out"]; got != e.timedOut {
		t.Errorf("%s: timed_out %v, want %v: %s", e.name, got, e.timedOut, body)
	}
}

// poolStats is the part of GET /stats the test reads.
type poolStats struct {
	Idle       int `json:"idle"`
	Busy       int `json:"busy"`
	Creating   int `json:"creating"`
	Destroying int `json:"destroying"`
	Waiting    int `json:"waiting"`
	Target     int `json:"target"`
	MinIdle    int `json:"min_idle"`

	CreateFailures int `json:"create_failures"`
}

func stats(d *testdaemon.Daemon) (map[string]poolStats, []byte, error) {
	var body struct {
		Pools map[string]poolStats `json:"pools"`
	}
	raw, err := getJSON(d.URL+"/stats", &body)
	return body.Pools, raw, err
}

// settled reports why the pools are not at rest yet ("" when they are):
// min_idle idle sandboxes each, nothing busy, being created or destroyed.
func settled(pools map[string]poolStats) string {
	for _, l := range languages {
		p, ok := pools[l]
		switch {
		case !ok:
			return "no pool " + l
		case p.Idle != minIdle || p.Busy != 0 || p.Creating != 0 || p.Destroying != 0 || p.Waiting != 0:
			return fmt.Sprintf("pool %s: %+v", l, p)
		}
	}
	return ""
}

// waitSettled waits (bounded) until every pool is at rest.
func waitSettled(t *testing.T, d *testdaemon.Daemon) map[string]poolStats {
	t.Helper()
	var pools map[string]poolStats
	msg := eventually(settleWait, func() string {
		var err error
		var raw []byte
		if pools, raw, err = stats(d); err != nil {
			return fmt.Sprintf("GET /stats: %v: %s", err, raw)
		}
		return settled(pools)
	})
	if msg != "" {
		t.Fatalf("pools did not settle within %s: %s", settleWait, msg)
	}
	return pools
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[0] |= 0x10 // never all zero, never a leading zero byte
	return hex.EncodeToString(b)
}

// checkLogs: one "execution" line per request, carrying its trace and
// execution ids, valid JSON without duplicate keys, and the programs'
// source nowhere in the log.
func checkLogs(t *testing.T, logs, marker string, execs []*execution) {
	if strings.Contains(logs, marker) {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, marker) {
				t.Errorf("the log carries a program's source: %s", line)
			}
		}
	}
	lines := map[string][]map[string]any{} // by trace_id
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `"msg":"execution"`) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("execution log line is not JSON: %v: %s", err, line)
			continue
		}
		if rec["msg"] != "execution" {
			continue
		}
		n++
		if dup := duplicateKeys(line); len(dup) > 0 {
			t.Errorf("execution log line repeats keys %v: %s", dup, line)
		}
		id, _ := rec["trace_id"].(string)
		lines[id] = append(lines[id], rec)
	}
	if n != len(execs) {
		t.Errorf("%d execution log lines, want %d (one per request)", n, len(execs))
	}
	for _, e := range execs {
		got := lines[e.traceID]
		if len(got) != 1 {
			t.Errorf("%s: %d execution log lines with trace_id %s, want 1", e.name, len(got), e.traceID)
			continue
		}
		rec := got[0]
		for k, want := range map[string]any{
			"execution_id": e.body["execution_id"], "language": e.language, "status": e.status,
		} {
			if rec[k] != want {
				t.Errorf("%s: log %s = %v, want %v (line %v)", e.name, k, rec[k], want, rec)
			}
		}
		if s, _ := rec["span_id"].(string); len(s) != 16 {
			t.Errorf("%s: log span_id %v, want a 16-digit span id (line %v)", e.name, rec["span_id"], rec)
		}
		for _, k := range []string{"code", "stdout", "stderr"} {
			if _, ok := rec[k]; ok {
				t.Errorf("%s: log line has %q: %v", e.name, k, rec)
			}
		}
	}
}

// duplicateKeys lists the top-level keys a JSON object repeats.
func duplicateKeys(line string) []string {
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	var dup []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return dup
		}
		k, _ := tok.(string)
		if seen[k] {
			dup = append(dup, k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return dup
		}
	}
	return dup
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on
// now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
