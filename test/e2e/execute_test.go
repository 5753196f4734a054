package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/apisuite"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// config keeps pools small and the rate limit off; the default hand-off
// is prestart.
const config = `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 4}
`

// execConfig is config with every language in exec mode.
const execConfig = config + `languages: {python: {handoff: exec}, node: {handoff: exec}, bash: {handoff: exec}}
`

// modes runs a test against a daemon in each hand-off mode.
func modes(t *testing.T, run func(t *testing.T, d *testdaemon.Daemon)) {
	for _, m := range []struct{ name, config string }{{"prestart", config}, {"exec", execConfig}} {
		t.Run(m.name, func(t *testing.T) {
			run(t, testdaemon.Start(t, testdaemon.Options{Config: m.config}))
		})
	}
}

func TestExecute(t *testing.T) { modes(t, apisuite.Execute) }

func TestOriginalFields(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	r := d.Post(t, "/execute", map[string]any{"code": "print('hi')", "environment": "python", "timeout": 10})
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	b := r.Body
	types := map[string]string{"execution_id": "string", "status": "string", "output": "string", "execution_time": "number",
		"environment": "string", "timestamp": "string", "stdout": "string", "stderr": "string", "exit_code": "number",
		"cpu_time_ms": "number", "memory_peak_kb": "number", "timing": "object", "truncated": "object"}
	for k, want := range types {
		if got := jsonType(b[k]); got != want {
			t.Errorf("%s: JSON type %s, want %s (body %s)", k, got, want, r.Raw)
		}
	}
	if _, ok := b["error"]; !ok || b["error"] != nil {
		t.Errorf("error = %v, want present and null on success", b["error"])
	}
	if b["output"] != "hi\n" {
		t.Errorf("output = %q, want %q", b["output"], "hi\n")
	}
	timing, _ := b["timing"].(map[string]any)
	for _, k := range []string{"queue_ms", "acquire_ms", "run_ms", "total_ms"} {
		if jsonType(timing[k]) != "number" {
			t.Errorf("timing.%s = %v, want a number", k, timing[k])
		}
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(b["timestamp"])); err != nil {
		t.Errorf("timestamp %v is not ISO-8601: %v", b["timestamp"], err)
	}

	health := d.Get(t, "/health")
	if health.Status != 200 || health.Body["status"] != "healthy" || health.Body["docker_available"] != true ||
		jsonType(health.Body["active_containers"]) != "number" || jsonType(health.Body["timestamp"]) != "string" {
		t.Errorf("/health = %d %s", health.Status, health.Raw)
	}
	envs := d.Get(t, "/environments")
	list, _ := envs.Body["environments"].([]any)
	if len(list) != 3 {
		t.Errorf("/environments lists %v, want python, node and bash", list)
	}
	details, _ := envs.Body["details"].(map[string]any)
	py, _ := details["python"].(map[string]any)
	if py["file_extension"] != "py" || jsonType(py["image"]) != "string" || !strings.HasPrefix(fmt.Sprint(py["version"]), "3.") {
		t.Errorf("/environments python = %v", py)
	}
	stats := d.Get(t, "/stats")
	for _, k := range []string{"active_executions", "total_containers"} {
		if jsonType(stats.Body[k]) != "number" {
			t.Errorf("/stats %s = %v", k, stats.Body[k])
		}
	}
	for _, k := range []string{"supported_environments", "rate_limit", "resource_limits", "timestamp"} {
		if _, ok := stats.Body[k]; !ok {
			t.Errorf("/stats lacks %s: %s", k, stats.Raw)
		}
	}
}

// TestContainment covers programs that try to outgrow the sandbox.
func TestContainment(t *testing.T) { modes(t, apisuite.Containment) }

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// TestConcurrencyCap: with rate_limit.concurrent 1, a client's second
// execution while its first runs gets 429 too_many_concurrent, and the
// next one after it is served.
func TestConcurrencyCap(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: "rate_limit: {requests: 0, concurrent: 1}\npool: {min_idle: 2, max_size: 4}\n"})
	first := make(chan testdaemon.Response, 1)
	go func() {
		first <- d.Post(t, "/execute", apisuite.With(apisuite.Req("bash", "sleep 2; echo first"), "timeout", 10))
	}()
	time.Sleep(500 * time.Millisecond) // the first is running
	r := d.Post(t, "/execute", apisuite.Req("bash", "echo second"))
	e, _ := r.Body["error"].(map[string]any)
	if r.Status != 429 || e["code"] != "too_many_concurrent" || r.Header.Get("Retry-After") == "" {
		t.Errorf("second at once: HTTP %d %s, want 429 too_many_concurrent with Retry-After", r.Status, r.Raw)
	}
	if f := <-first; f.Status != 200 || f.Body["stdout"] != "first\n" {
		t.Errorf("first: HTTP %d %s", f.Status, f.Raw)
	}
	if r := d.Post(t, "/execute", apisuite.Req("bash", "echo third")); r.Status != 200 || r.Body["stdout"] != "third\n" {
		t.Errorf("after the first ended: HTTP %d %s", r.Status, r.Raw)
	}
}

// TestSaturationAnswersAtOnce: with every sandbox busy, a caller waits at
// most pool.max_wait (the default 500 ms here) and gets 503 capacity with
// Retry-After, long before the job holding the sandbox ends; the job
// itself is served. Once it is, so is the next caller, in the same
// sandbox under the next uid.
func TestSaturationAnswersAtOnce(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: `
rate_limit: {requests: 0}
pool: {min_idle: 1, max_size: 1, autosize: false, max_wait: 500ms}
languages: {node: {enabled: false}, bash: {enabled: false}}
`})
	const hold = 8 * time.Second
	first := make(chan testdaemon.Response, 1)
	go func() {
		first <- d.Post(t, "/execute", apisuite.With(apisuite.Req("python", "import os, time; time.sleep(8); print(os.getuid())"), "timeout", 20))
	}()
	deadline := time.Now().Add(30 * time.Second)
	for d.Get(t, "/stats").Body["active_executions"] != 1.0 {
		if time.Now().After(deadline) {
			t.Fatal("the first job never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	r := d.Post(t, "/execute", apisuite.Req("python", "print(2)"))
	took := time.Since(start)
	e, _ := r.Body["error"].(map[string]any)
	if r.Status != 503 || e["code"] != "capacity" || r.Header.Get("Retry-After") != "1" {
		t.Errorf("while the only sandbox is busy: HTTP %d %s (Retry-After %q), want 503 capacity with Retry-After 1",
			r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	// Not a speed assertion: the answer must not wait for the job.
	if took >= hold {
		t.Errorf("the refusal took %v, as long as the job holding the sandbox", took)
	}
	f := <-first
	if f.Status != 200 || f.Body["status"] != "success" {
		t.Fatalf("first: HTTP %d %s", f.Status, f.Raw)
	}
	var next testdaemon.Response
	for range 20 { // the sandbox may still be in its reset
		if next = d.Post(t, "/execute", apisuite.Req("python", "import os; print(os.getuid())")); next.Status != 503 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if next.Status != 200 || next.Body["stdout"] == f.Body["stdout"] {
		t.Errorf("after the first: HTTP %d %s, want success under another uid than the first's %v", next.Status, next.Raw, f.Body["stdout"])
	}
}

// TestNoEngineCallPerJob: with the default hand-off and isolation level,
// jobs cost the engine nothing: over ten jobs the engine reports no
// container created, started, stopped or destroyed and no exec in the
// daemon's sandboxes (the job and the reset travel on the attach stream
// opened when the sandbox was created).
func TestNoEngineCallPerJob(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: `
rate_limit: {requests: 0}
pool: {min_idle: 2, max_size: 2, autosize: false}
languages: {node: {enabled: false}, bash: {enabled: false}}
`})
	settled := func() bool {
		st, _ := d.Get(t, "/stats").Body["pools"].(map[string]any)
		p, _ := st["python"].(map[string]any)
		return p != nil && p["idle"] == 2.0 && p["busy"] == 0.0 && p["creating"] == 0.0 && p["destroying"] == 0.0
	}
	deadline := time.Now().Add(60 * time.Second)
	for !settled() {
		if time.Now().After(deadline) {
			t.Fatal("the python pool did not settle at 2 idle sandboxes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	since := time.Now()
	for i := range 10 {
		r := d.Post(t, "/execute", apisuite.Req("python", fmt.Sprintf("print(%d)", i)))
		if r.Status != 200 || r.Body["stdout"] != fmt.Sprintf("%d\n", i) {
			t.Fatalf("job %d: HTTP %d %s", i, r.Status, r.Raw)
		}
	}
	for !settled() { // the last resets
		if time.Now().After(deadline.Add(time.Minute)) {
			t.Fatal("the pool did not settle after the jobs")
		}
		time.Sleep(100 * time.Millisecond)
	}
	until := time.Now().Add(time.Second)
	time.Sleep(1500 * time.Millisecond) // the engine's event log catches up
	out, err := exec.Command("docker", "events", "--since", since.Format(time.RFC3339Nano), "--until", until.Format(time.RFC3339Nano),
		"--filter", "label=io.warmbox.scope="+d.Scope, "--format", "{{.Type}} {{.Action}}").CombinedOutput()
	if err != nil {
		t.Fatalf("docker events: %v: %s", err, out)
	}
	if events := strings.TrimSpace(string(out)); events != "" {
		t.Errorf("ten jobs made the engine act on the sandboxes:\n%s", events)
	}
}
