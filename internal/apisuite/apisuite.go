package apisuite

import (
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// Execute runs the languages through the API: output, exit codes, stdin,
// argv, files, errors, timeouts, and the sandbox's view of network and
// filesystem. The cases run in parallel.
func Execute(t *testing.T, d *testdaemon.Daemon) {
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
		{name: "python hello", req: Req("python", "print(1+1)"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "node hello", req: Req("node", "console.log(1+1)"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "bash hello", req: Req("bash", "echo $((1+1))"), status: "success", exit: 0.0, stdout: "2\n"},
		{name: "python streams", req: Req("python", "import sys\nprint('out')\nprint('err', file=sys.stderr)"),
			status: "success", exit: 0.0, stdout: "out\n", stderr: "err\n"},
		{name: "node streams", req: Req("node", "console.log('out'); console.error('err')"),
			status: "success", exit: 0.0, stdout: "out\n", stderr: "err\n"},
		{name: "python exit code", req: Req("python", "import sys\nsys.exit(3)"), status: "error", exit: 3.0},
		{name: "node exit code", req: Req("node", "process.exit(4)"), status: "error", exit: 4.0},
		{name: "bash exit code", req: Req("bash", "exit 5"), status: "error", exit: 5.0},
		{name: "python stdin", req: With(Req("python", "print(input()[::-1])"), "stdin", "abc\n"), status: "success", exit: 0.0, stdout: "cba\n"},
		{name: "bash stdin", req: With(Req("bash", "tr a-z A-Z"), "stdin", "shout\n"), status: "success", exit: 0.0, stdout: "SHOUT\n"},
		{name: "python args", req: With(Req("python", "import sys\nprint(sys.argv[1:])"), "args", []string{"a", "b c"}),
			status: "success", exit: 0.0, stdout: "['a', 'b c']\n"},
		{name: "node args", req: With(Req("node", "console.log(process.argv.slice(2).join('|'))"), "args", []string{"x", "y"}),
			status: "success", exit: 0.0, stdout: "x|y\n"},
		{name: "python import between files",
			req:    With(Req("python", "import helper\nfrom pkg.deep import answer\nprint(helper.f(), answer)"), "files", map[string]string{"helper.py": "def f():\n    return 41\n", "pkg/deep.py": "answer = 42\n"}),
			status: "success", exit: 0.0, stdout: "41 42\n"},
		{name: "node require between files",
			req:    With(Req("node", "const h = require('./lib.js'); console.log(h.twice(21))"), "files", map[string]string{"lib.js": "exports.twice = x => 2 * x;"}),
			status: "success", exit: 0.0, stdout: "42\n"},
		{name: "bash source between files", req: With(Req("bash", "source ./lib.sh; greet"), "files", map[string]string{"lib.sh": "greet() { echo hi; }"}),
			status: "success", exit: 0.0, stdout: "hi\n"},
		{name: "python runtime error", req: Req("python", "1/0"), status: "error", exit: 1.0, stderr: "ZeroDivisionError"},
		{name: "node runtime error", req: Req("node", "null.x"), status: "error", exit: 1.0, stderr: "TypeError"},
		{name: "python timeout", req: With(Req("python", "while True: pass"), "timeout", 2), status: "timeout", timeout: true},
		{name: "bash sleep in child past timeout", req: With(Req("bash", "echo start; sleep 3600; echo never"), "timeout", 1),
			status: "timeout", timeout: true, stdout: "start\n"},
		{name: "no network interface but lo", req: Req("bash", "ls /sys/class/net"), status: "success", exit: 0.0, stdout: "lo\n"},
		{name: "loopback does not reach the daemon", req: Req("python", fmt.Sprintf(`import socket
try:
    socket.create_connection(("127.0.0.1", %s), timeout=2)
    print("connected")
except OSError as e:
    print(type(e).__name__)`, port)), status: "success", exit: 0.0, stdout: "ConnectionRefusedError\n"},
		{name: "write outside the work dir fails", req: Req("python", `import errno
for p in ["/etc/passwd", "/usr/bin/python3", "/opt/warmbox/runner", "/newfile", "/root/x"]:
    try:
        open(p, "a").close(); print(p, "writable")
    except OSError as e:
        print(p, errno.errorcode[e.errno])`), status: "success", exit: 0.0,
			// Root-owned files fail the permission check before the
			// read-only check; creating a new file hits the read-only root.
			stdout: "/etc/passwd EACCES\n/usr/bin/python3 EACCES\n/opt/warmbox/runner EACCES\n/newfile EROFS\n/root/x EACCES\n"},
		{name: "file size and open files are limited", req: Req("python", "import resource\nprint(resource.getrlimit(resource.RLIMIT_FSIZE)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0])"),
			status: "success", exit: 0.0, stdout: "52428800 1024\n"},
		{name: "work dir is writable", req: Req("bash", "echo hi > /tmp/x && cat /tmp/x && id -u | awk '{print ($1 > 20000 && $1 < 65536) ? \"sandbox uid\" : $1}'"), status: "success", exit: 0.0, stdout: "hi\nsandbox uid\n"},
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

// Containment runs hostile jobs (floods, fork and memory bombs, escaping
// background processes) and checks that each is contained and the daemon
// still serves.
func Containment(t *testing.T, d *testdaemon.Daemon) {
	t.Run("output flood is truncated", func(t *testing.T) {
		r := d.Post(t, "/execute", Req("python", "import sys\nsys.stdout.write('x' * 1000000)\nsys.stderr.write('y' * 50000)"))
		b := r.Body
		tr, _ := b["truncated"].(map[string]any)
		if r.Status != 200 || b["status"] != "success" || tr["stdout"] != true || tr["stderr"] != true {
			t.Fatalf("HTTP %d status %v truncated %v", r.Status, b["status"], tr)
		}
		if n := len(fmt.Sprint(b["stdout"])); n != 10240 {
			t.Errorf("stdout length %d, want the 10240-byte cap", n)
		}
	})
	t.Run("no core dumps", func(t *testing.T) {
		// RLIMIT_CORE is 0, soft and hard, on every backend: a crashing
		// job writes nothing into its sandbox's disk or the node's.
		for _, c := range []struct{ lang, code string }{
			{"python", "import resource; print(resource.getrlimit(resource.RLIMIT_CORE))"},
			{"bash", "echo $(ulimit -Sc) $(ulimit -Hc)"},
		} {
			r := d.Post(t, "/execute", Req(c.lang, c.code))
			if want := map[string]string{"python": "(0, 0)\n", "bash": "0 0\n"}[c.lang]; r.Status != 200 || r.Body["stdout"] != want {
				t.Errorf("%s: HTTP %d %s, want stdout %q", c.lang, r.Status, r.Raw, want)
			}
		}
	})
	t.Run("fork bomb is contained", func(t *testing.T) {
		// The main shell usually returns at once (the bomb runs in the
		// background) and the job ends by itself; but when the bomb fills
		// the pids limit before the main shell's own fork, bash retries
		// that fork until the timeout. Either way the answer comes, and
		// the sweep after the job kills the bomb.
		r := d.Post(t, "/execute", With(Req("bash", ":(){ :|:& };:"), "timeout", 5))
		switch {
		case r.Status != 200:
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		case r.Body["status"] == "timeout" && r.Body["timed_out"] == true:
			if !strings.Contains(fmt.Sprint(r.Body["stderr"]), "fork: retry: Resource temporarily unavailable") {
				t.Errorf("timed out without hitting the pids limit: %s", r.Raw)
			}
		case (r.Body["status"] == "success" || r.Body["status"] == "error") && r.Body["timed_out"] == false:
		default:
			t.Fatalf("unexpected outcome: %s", r.Raw)
		}
		Canary(t, d, "bash", "echo 1")
	})
	t.Run("pids limit stops forking", func(t *testing.T) {
		r := d.Post(t, "/execute", With(Req("python", `import os, time
n = 0
try:
    while n < 2000:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
    print("unlimited")
except OSError as e:
    print("limited", e.errno == 11)`), "timeout", 10))
		if r.Status != 200 || r.Body["stdout"] != "limited True\n" {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		Canary(t, d, "python", "print(1)")
	})
	t.Run("fork bomb that waits times out", func(t *testing.T) {
		r := d.Post(t, "/execute", With(Req("bash", ":(){ :|:& };:; sleep 30"), "timeout", 3))
		if r.Status != 200 || r.Body["status"] != "timeout" || r.Body["timed_out"] != true {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		Canary(t, d, "bash", "echo 1")
	})
	t.Run("python fork bomb times out", func(t *testing.T) {
		r := d.Post(t, "/execute", With(Req("python", "import os\nwhile True:\n    try:\n        os.fork()\n    except BlockingIOError:\n        pass"), "timeout", 3))
		if r.Status != 200 || r.Body["status"] != "timeout" {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		Canary(t, d, "python", "print(1)")
	})
	t.Run("memory bomb is contained", func(t *testing.T) {
		r := d.Post(t, "/execute", Req("python", "chunks = []\nwhile True:\n    chunks.append(b'\\x01' * (16 * 1024 * 1024))"))
		b := r.Body
		if r.Status != 200 || b["status"] != "error" || (b["oom_killed"] != true && b["signal"] != "SIGKILL") {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		if b["oom_killed"] != true {
			t.Errorf("oom_killed = %v, want true", b["oom_killed"])
		}
		Canary(t, d, "python", "print(1)")
	})
	t.Run("background process is gone after the job", func(t *testing.T) {
		marker := fmt.Sprintf("%d", 900000+time.Now().UnixNano()%99999)
		r := d.Post(t, "/execute", Req("bash", "nohup sleep "+marker+" >/dev/null 2>&1 &\nsetsid sleep "+marker+" &\necho started"))
		if r.Status != 200 || r.Body["status"] != "success" || r.Body["stdout"] != "started\n" {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			out, err := exec.Command("pgrep", "-f", "sleep "+marker).Output()
			if exit, ok := err.(*exec.ExitError); err != nil && (!ok || exit.ExitCode() != 1) {
				t.Fatalf("pgrep: %v", err) // 1 is "no such process"; anything else is a broken check
			}
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

// Canary checks that lang still runs code, which must print 1.
func Canary(t *testing.T, d *testdaemon.Daemon, lang, code string) {
	t.Helper()
	r := d.Post(t, "/execute", Req(lang, code))
	if r.Status != 200 || r.Body["stdout"] != "1\n" {
		t.Fatalf("canary after a hostile job: HTTP %d: %s", r.Status, r.Raw)
	}
}

// Req is an /execute request body.
func Req(lang, code string) map[string]any {
	return map[string]any{"environment": lang, "code": code}
}

// With sets one more field of a request body.
func With(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}
