package e2e

import (
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

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

func TestExecute(t *testing.T) { modes(t, testExecute) }

func testExecute(t *testing.T, d *testdaemon.Daemon) {
	port := func() string { u, _ := url.Parse(d.URL); return u.Port() }()

	cases := []struct {
		name    string
		req     map[string]any
		status  string
		exit    any // float64 exit code, or nil for "killed by a signal"
		stdout  string
		stderr  string // substring
		timeout bool
	}{
		{name: "python hello", req: req("python", "print(1+1)"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "node hello", req: req("node", "console.log(1+1)"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "bash hello", req: req("bash", "echo $((1+1))"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "python streams", req: req("python", "import sys\nprint('out')\nprint('err', file=sys.stderr)"),
			status: "success", exit: 0.0, stdout: "out\n", stderr: "err\n"},
		{name: "node streams", req: req("node", "console.log('out'); console.error('err')"),
			status: "success", exit: 0.0, stdout: "out\n", stderr: "err\n"},
		{name: "python exit code", req: req("python", "import sys\nsys.exit(3)"), status: "error", exit: 3.0},
		{name: "node exit code", req: req("node", "process.exit(4)"), status: "error", exit: 4.0},
		{name: "bash exit code", req: req("bash", "exit 5"), status: "error", exit: 5.0},
		{name: "python stdin", req: with(req("python", "print(input()[::-1])"), "stdin", "abc\n"), status: "success", exit: 0.0, stdout: "cba\n"},
		{name: "bash stdin", req: with(req("bash", "tr a-z A-Z"), "stdin", "shout\n"), status: "success", exit: 0.0, stdout: "SHOUT\n"},
		{name: "python args", req: with(req("python", "import sys\nprint(sys.argv[1:])"), "args", []string{"a", "b c"}),
			status: "success", exit: 0.0, stdout: "['a', 'b c']\n"},
		{name: "node args", req: with(req("node", "console.log(process.argv.slice(2).join('|'))"), "args", []string{"x", "y"}),
			status: "success", exit: 0.0, stdout: "x|y\n"},
		{name: "python import between files",
			req:    with(req("python", "import helper\nfrom pkg.deep import answer\nprint(helper.f(), answer)"), "files", map[string]string{"helper.py": "def f():\n    return 41\n", "pkg/deep.py": "answer = 42\n"}),
			status: "success", exit: 0.0, stdout: "41 42\n"},
		{name: "node require between files",
			req:    with(req("node", "const h = require('./lib.js'); console.log(h.twice(21))"), "files", map[string]string{"lib.js": "exports.twice = x => 2 * x;"}),
			status: "success", exit: 0.0, stdout: "42\n"},
		{name: "bash source between files", req: with(req("bash", "source ./lib.sh; greet"), "files", map[string]string{"lib.sh": "greet() { echo hi; }"}),
			status: "success", exit: 0.0, stdout: "hi\n"},
		{name: "python runtime error", req: req("python", "1/0"), status: "error", exit: 1.0, stderr: "ZeroDivisionError"},
		{name: "node runtime error", req: req("node", "null.x"), status: "error", exit: 1.0, stderr: "TypeError"},
		{name: "python timeout", req: with(req("python", "while True: pass"), "timeout", 2), status: "timeout", timeout: true},
		{name: "bash sleep in child past timeout", req: with(req("bash", "echo start; sleep 3600; echo never"), "timeout", 1),
			status: "timeout", timeout: true, stdout: "start\n"},
		{name: "no network interface but lo", req: req("bash", "ls /sys/class/net"), status: "success", exit: 0.0, stdout: "lo\n"},
		{name: "loopback does not reach the daemon", req: req("python", fmt.Sprintf(`import socket
try:
    socket.create_connection(("127.0.0.1", %s), timeout=2)
    print("connected")
except OSError as e:
    print(type(e).__name__)`, port)), status: "success", exit: 0.0, stdout: "ConnectionRefusedError\n"},
		{name: "write outside the work dir fails", req: req("python", `import errno
for p in ["/etc/passwd", "/usr/bin/python3", "/opt/warmbox/runner", "/newfile", "/root/x"]:
    try:
        open(p, "a").close(); print(p, "writable")
    except OSError as e:
        print(p, errno.errorcode[e.errno])`), status: "success", exit: 0.0,
			// Root-owned files fail the permission check before the
			// read-only check; creating a new file hits the read-only root.
			stdout: "/etc/passwd EACCES\n/usr/bin/python3 EACCES\n/opt/warmbox/runner EACCES\n/newfile EROFS\n/root/x EACCES\n"},
		{name: "work dir is writable", req: req("bash", "echo hi > /tmp/x && cat /tmp/x && id -u"), status: "success", exit: 0.0, stdout: "hi\n65534\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := d.Post(t, "/execute", tc.req)
			took := time.Since(start)
			if r.Status != 200 {
				t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
			}
			b := r.Body
			if got := b["status"]; got != tc.status {
				t.Errorf("status = %v, want %s (body %s)", got, tc.status, r.Raw)
			}
			if tc.exit != nil || !tc.timeout {
				if got := b["exit_code"]; got != tc.exit {
					t.Errorf("exit_code = %v, want %v", got, tc.exit)
				}
			}
			if tc.stdout != "" || tc.status == "success" {
				if got := b["stdout"]; got != tc.stdout {
					t.Errorf("stdout = %q, want %q", got, tc.stdout)
				}
			}
			if tc.stderr != "" && !strings.Contains(fmt.Sprint(b["stderr"]), tc.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", b["stderr"], tc.stderr)
			}
			if got := b["timed_out"]; got != tc.timeout {
				t.Errorf("timed_out = %v, want %v", got, tc.timeout)
			}
			if tc.timeout {
				// Not a speed test: only proves the request did not hang.
				limit := time.Duration(tc.req["timeout"].(int))*time.Second + 10*time.Second
				if took > limit {
					t.Errorf("timeout answered after %s, more than %s", took, limit)
				}
				t.Logf("timeout of %ds answered in %s", tc.req["timeout"], took)
			}
		})
	}
}

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
func TestContainment(t *testing.T) { modes(t, testContainment) }

func testContainment(t *testing.T, d *testdaemon.Daemon) {
	t.Run("output flood is truncated", func(t *testing.T) {
		r := d.Post(t, "/execute", req("python", "import sys\nsys.stdout.write('x' * 1000000)\nsys.stderr.write('y' * 50000)"))
		b := r.Body
		tr, _ := b["truncated"].(map[string]any)
		if r.Status != 200 || b["status"] != "success" || tr["stdout"] != true || tr["stderr"] != true {
			t.Fatalf("HTTP %d status %v truncated %v", r.Status, b["status"], tr)
		}
		if n := len(fmt.Sprint(b["stdout"])); n != 10240 {
			t.Errorf("stdout length %d, want the 10240-byte cap", n)
		}
	})
	t.Run("fork bomb is contained", func(t *testing.T) {
		// The main shell returns at once (the bomb runs in the
		// background), so the job ends by itself (fork may hit the pids
		// limit first); the sweep after it kills the bomb.
		r := d.Post(t, "/execute", with(req("bash", ":(){ :|:& };:"), "timeout", 5))
		if r.Status != 200 || (r.Body["status"] != "success" && r.Body["status"] != "error") || r.Body["timed_out"] != false {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		canary(t, d, "bash", "echo 1")
	})
	t.Run("fork bomb that waits times out", func(t *testing.T) {
		r := d.Post(t, "/execute", with(req("bash", ":(){ :|:& };:; sleep 30"), "timeout", 3))
		if r.Status != 200 || r.Body["status"] != "timeout" || r.Body["timed_out"] != true {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		canary(t, d, "bash", "echo 1")
	})
	t.Run("python fork bomb times out", func(t *testing.T) {
		r := d.Post(t, "/execute", with(req("python", "import os\nwhile True:\n    try:\n        os.fork()\n    except BlockingIOError:\n        pass"), "timeout", 3))
		if r.Status != 200 || r.Body["status"] != "timeout" {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		canary(t, d, "python", "print(1)")
	})
	t.Run("memory bomb is contained", func(t *testing.T) {
		r := d.Post(t, "/execute", req("python", "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (16 * 1024 * 1024))"))
		b := r.Body
		if r.Status != 200 || b["status"] != "error" || (b["oom_killed"] != true && b["signal"] != "SIGKILL") {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		if b["oom_killed"] != true {
			t.Errorf("oom_killed = %v, want true", b["oom_killed"])
		}
		canary(t, d, "python", "print(1)")
	})
	t.Run("background process is gone after the job", func(t *testing.T) {
		marker := fmt.Sprintf("%d", 900000+time.Now().UnixNano()%99999)
		r := d.Post(t, "/execute", req("bash", "nohup sleep "+marker+" >/dev/null 2>&1 &\nsetsid sleep "+marker+" &\necho started"))
		if r.Status != 200 || r.Body["status"] != "success" || r.Body["stdout"] != "started\n" {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
			if len(strings.TrimSpace(string(out))) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("processes `sleep %s` still alive on the host: %s", marker, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

func canary(t *testing.T, d *testdaemon.Daemon, lang, code string) {
	t.Helper()
	r := d.Post(t, "/execute", req(lang, code))
	if r.Status != 200 || r.Body["stdout"] != "1\n" {
		t.Fatalf("canary after a hostile job: HTTP %d: %s", r.Status, r.Raw)
	}
}

func req(lang, code string) map[string]any {
	return map[string]any{"environment": lang, "code": code}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

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
