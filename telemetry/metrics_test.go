package telemetry

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestMetricsPromtoolClean(t *testing.T) {
	m := NewMetrics("v1.2.3", fakeStats)
	exercise(t, m)
	text := scrape(t, m, "")
	if out, err := promtool(t, text, "check", "metrics"); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestMetricsExposition(t *testing.T) {
	m := NewMetrics("v1.2.3", fakeStats)
	exercise(t, m)
	text := scrape(t, m, "")
	for _, want := range []string{
		`warmbox_build_info{goversion="` + runtime.Version() + `",version="v1.2.3"} 1`,
		`warmbox_pool_sandboxes{language="node",state="idle"} 0`,
		`warmbox_pool_sandboxes{language="node",state="busy"} 8`,
		`warmbox_pool_sandboxes{language="node",state="creating"} 1`,
		`warmbox_pool_sandboxes{language="node",state="destroying"} 2`,
		`warmbox_pool_sandboxes{language="python",state="idle"} 2`,
		`warmbox_pool_waiters{language="node"} 3`,
		`warmbox_pool_idle_target{language="python"} 2`,
		`warmbox_pool_max_size{language="python"} 8`,
		`warmbox_pool_idle_target{language="node"} 4`,
		`warmbox_pool_min_idle{language="node"} 2`,
		`warmbox_pool_arrival_rate{language="node"} 2.5`,
		`warmbox_pool_create_estimate_seconds{language="node"} 0.3`,
		`warmbox_pool_degraded{language="node"} 1`,
		`warmbox_pool_degraded{language="python"} 0`,
		`warmbox_pool_create_backoff_seconds{language="python"} 0`,
		`warmbox_pool_acquisitions_total{language="node"} 40`,
		`warmbox_pool_acquire_timeouts_total{language="node"} 2`,
		`warmbox_pool_sandboxes_created_total{language="node"} 45`,
		`warmbox_pool_sandbox_create_failures_total{language="node"} 5`,
		`warmbox_pool_sandboxes_destroyed_total{language="node",reason="used"} 30`,
		`warmbox_pool_sandboxes_destroyed_total{language="node",reason="died"} 1`,
		`warmbox_pool_sandboxes_destroyed_total{language="node",reason="odd"} 4`,
		`warmbox_pool_sandboxes_destroyed_total{language="python",reason="expired"} 0`,
		`warmbox_executions_total{language="python",status="ok"} 1`,
		`warmbox_executions_total{language="python",status="timeout"} 1`,
		`warmbox_execution_duration_seconds_bucket{language="python",le="0.025"} 2`,
		`warmbox_execution_duration_seconds_bucket{language="python",le="60"} 3`,
		`warmbox_execution_duration_seconds_count{language="python"} 3`,
		`warmbox_acquire_wait_seconds_count{language="python"} 2`,
		`warmbox_handoff_duration_seconds_count{language="python"} 2`,
		`warmbox_handoff_failures_total{language="python"} 1`,
		`warmbox_sandbox_create_duration_seconds_count{language="python"} 1`,
		`warmbox_sandbox_destroy_duration_seconds_count{language="python",reason="used"} 1`,
		`warmbox_sandbox_destroy_failures_total{language="python"} 1`,
		`warmbox_requests_rejected_total{reason="rate_limited"} 1`,
		`warmbox_engine_errors_total{op="create"} 1`,
		`warmbox_engine_errors_total{op="destroy"} 1`,
		`warmbox_engine_errors_total{op="ping"} 0`,
		`warmbox_engine_up 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want+"\n") && !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	// Histogram buckets cover 1 ms .. 60 s.
	for _, le := range []string{`le="0.001"`, `le="60"`} {
		if !strings.Contains(text, `warmbox_handoff_duration_seconds_bucket{language="python",`+le+`}`) {
			t.Errorf("handoff histogram lacks bucket %s", le)
		}
	}
	// Every warmbox series is prefixed and labelled only with known names.
	labelName := regexp.MustCompile(`([a-z_]+)="`)
	allowed := map[string]bool{"language": true, "state": true, "status": true, "reason": true,
		"op": true, "le": true, "version": true, "goversion": true}
	for line := range strings.SplitSeq(text, "\n") {
		if !strings.HasPrefix(line, "warmbox_") {
			continue
		}
		for _, m := range labelName.FindAllStringSubmatch(line, -1) {
			if !allowed[m[1]] {
				t.Errorf("unexpected label %q in %q", m[1], line)
			}
		}
	}
}

func TestMetricsExemplars(t *testing.T) {
	m := NewMetrics("dev", nil)
	exercise(t, m)
	om := scrape(t, m, "application/openmetrics-text; version=1.0.0")
	ex := `# {trace_id="` + testTraceID + `"}`
	for _, series := range []string{
		`warmbox_executions_total{language="python",status="ok"} 1.0 ` + ex,
		`warmbox_execution_duration_seconds_bucket{language="python",le="0.025"} 2 ` + ex,
	} {
		if !strings.Contains(om, series) {
			t.Errorf("OpenMetrics exposition lacks exemplar line starting %q", series)
		}
	}
	// An unsampled or missing span adds no exemplar.
	if n := strings.Count(om, "trace_id="); n != 2 {
		t.Errorf("got %d exemplars, want 2 (only the sampled execution)", n)
	}
	// promtool (2.42) lints the text format only; TestMetricsPromtoolClean
	// covers the same families there.
}

func TestMetricsWithoutStatsOrEngineCheck(t *testing.T) {
	m := NewMetrics("dev", nil)
	text := scrape(t, m, "")
	for _, absent := range []string{"warmbox_pool_", "warmbox_engine_up"} {
		if strings.Contains(text, absent) {
			t.Errorf("exposition has %s series without pools or an engine check", absent)
		}
	}
	m.EngineUp(false)
	m.EngineUp(false)
	m.EngineUp(true)
	text = scrape(t, m, "")
	for _, want := range []string{"warmbox_engine_up 1\n", `warmbox_engine_errors_total{op="ping"} 2` + "\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("two failed health checks, then one that answered: want %q in\n%s", want, text)
		}
	}
}

func TestMetricsConcurrent(t *testing.T) {
	m := NewMetrics("dev", fakeStats)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				exercise(t, m)
			}
		}()
	}
	for range 10 {
		scrape(t, m, "")
	}
	for range 4 {
		<-done
	}
	if !strings.Contains(scrape(t, m, ""), `warmbox_executions_total{language="python",status="ok"} 200`) {
		t.Error("want 200 ok executions after 4x50 exercises")
	}
}
