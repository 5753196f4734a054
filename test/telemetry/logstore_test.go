package telemetry_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The log store of deploy/host/victorialogs.sh.
const (
	logStore     = "http://127.0.0.1:9428"
	logStoreOTLP = logStore + "/insert/opentelemetry"
)

var spanIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// requireLogStore makes sure a VictoriaLogs answers on 127.0.0.1:9428,
// starting one with victorialogs.sh when none does (and stopping that one
// at cleanup). It fails, never skips, when it cannot.
func requireLogStore(t *testing.T) {
	t.Helper()
	if answers(logStore + "/health") {
		t.Logf("using the VictoriaLogs already answering on %s", logStore)
		return
	}
	out, err := script(nil, "victorialogs.sh", "start")
	if err != nil {
		t.Fatalf("VictoriaLogs is required on %s and deploy/host/victorialogs.sh start failed: %v\n%s", logStore, err, out)
	}
	t.Logf("%s", out)
	t.Cleanup(func() {
		if out, err := script(nil, "victorialogs.sh", "stop"); err != nil {
			t.Errorf("victorialogs.sh stop: %v\n%s", err, out)
		}
	})
}

// logsQL runs a LogsQL query the way Grafana's VictoriaLogs datasource
// does (POST /select/logsql/query) and returns the records, one JSON
// object each.
func logsQL(q string) ([]map[string]string, []byte, error) {
	resp, err := client.PostForm(logStore+"/select/logsql/query", url.Values{"query": {q}, "limit": {"1000"}})
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, raw, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, raw, fmt.Errorf("query %q: HTTP %d", q, resp.StatusCode)
	}
	var recs []map[string]string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var rec map[string]string
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, raw, fmt.Errorf("query %q: a record is not a JSON object of strings: %w", q, err)
		}
		recs = append(recs, rec)
	}
	return recs, raw, sc.Err()
}

// checkLogStore: the daemon shipped one "execution" record per request to
// the log store, found by its trace id the way Grafana's derived field
// finds it (the field trace_id, deploy/grafana/provisioning), carrying
// the execution's id, language and status, and that trace id opens the
// request's trace in Jaeger. No record holds a program's source.
func checkLogStore(t *testing.T, service, marker string, execs []*execution) {
	b := newBudget(exportWait)
	all := fmt.Sprintf(`"service.name":=%q`, service)
	var recs []map[string]string
	var raw []byte
	msg := b.eventually(func() string {
		var err error
		recs, raw, err = logsQL(all + ` _msg:="execution"`)
		if err != nil {
			return err.Error()
		}
		if len(recs) < len(execs) {
			return fmt.Sprintf("%d execution records of %s, want %d", len(recs), service, len(execs))
		}
		return ""
	})
	if msg != "" {
		t.Fatalf("the log store: %s (within %s)\nVictoriaLogs answered: %s", msg, b, clip(raw))
	}
	if len(recs) != len(execs) {
		t.Errorf("%d execution records of %s, want %d (one per request)", len(recs), service, len(execs))
	}

	everything, raw, err := logsQL(all)
	if err != nil {
		t.Fatalf("%v: %s", err, clip(raw))
	}
	if strings.Contains(string(raw), marker) {
		t.Errorf("the log store holds a program's source (marker %s)", marker)
	}
	levels := map[string]int{}
	for _, rec := range everything {
		levels[rec["severity_text"]]++
	}
	t.Logf("%d records of %s in the log store, by severity %v", len(everything), service, levels)

	for _, e := range execs {
		t.Run(e.name, func(t *testing.T) {
			got, raw, err := logsQL(fmt.Sprintf("trace_id:=%q", traceKey(e.traceID)))
			if err != nil {
				t.Fatalf("%v: %s", err, clip(raw))
			}
			var rec map[string]string
			for _, r := range got {
				if r["_msg"] == "execution" {
					if rec != nil {
						t.Fatalf("two execution records with trace_id %s: %s", e.traceID, clip(raw))
					}
					rec = r
				}
			}
			if rec == nil {
				t.Fatalf("no execution record with trace_id %s: %s", e.traceID, clip(raw))
			}
			for k, want := range map[string]any{
				"execution_id": e.body["execution_id"], "language": e.language, "status": e.status,
				"service.name": service, "severity_text": "INFO",
			} {
				if rec[k] != want {
					t.Errorf("record %s = %q, want %v (record %v)", k, rec[k], want, rec)
				}
			}
			if !spanIDPattern.MatchString(rec["span_id"]) {
				t.Errorf("record span_id %q, want 16 hex digits (record %v)", rec["span_id"], rec)
			}
			// The link: the record's trace id opens the request's trace.
			fetchTrace(t, newBudget(exportWait), rec["trace_id"], "POST /execute")
		})
	}
}
