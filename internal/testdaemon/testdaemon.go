package testdaemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	dirOnce     sync.Once
	binDir      string
	dirErr      error
	runnerBuild build
	daemonBuild build
)

type build struct {
	once sync.Once
	err  error
}

// binaries returns the per-process directory the test binaries go to.
func binaries(t testing.TB) string {
	t.Helper()
	dirOnce.Do(func() { binDir, dirErr = os.MkdirTemp("", "warmbox-test-bin-") })
	if dirErr != nil {
		t.Fatalf("test binaries dir: %v", dirErr)
	}
	return binDir
}

// goBuild builds pkg (relative to the module root) statically into
// dir/out, once per test process.
func goBuild(t testing.TB, b *build, out, pkg string) string {
	t.Helper()
	dir := binaries(t)
	b.once.Do(func() {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, out), pkg)
		cmd.Dir = moduleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if output, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, output)
		}
	})
	if b.err != nil {
		t.Fatalf("building binaries: %v", b.err)
	}
	return filepath.Join(dir, out)
}

// Runner builds the static runner once per test process and returns its
// path.
func Runner(t testing.TB) string {
	t.Helper()
	return goBuild(t, &runnerBuild, "warmbox-runner", "./cmd/warmbox-runner")
}

// Binaries builds warmbox and warmbox-runner once per test process and
// returns the directory holding them.
func Binaries(t testing.TB) string {
	t.Helper()
	Runner(t)
	goBuild(t, &daemonBuild, "warmbox", "./cmd/warmbox")
	return binaries(t)
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Daemon is a running warmbox.
type Daemon struct {
	URL       string
	Scope     string
	leftovers func(t testing.TB, scope string) int
	cmd       *exec.Cmd
	logs      *syncBuffer
	done      chan struct{}
	err       error
}

// Options for Start.
type Options struct {
	// Config is YAML merged over the embedded defaults. listen, engine
	// scope and log_level are set by Start.
	Config string
	// Env adds environment variables.
	Env []string
	// NoWait returns as soon as the daemon listens, before it is ready.
	NoWait bool
	// Leftovers counts the sandboxes of a scope after the daemon stopped;
	// nil counts Docker containers (set it for the kubernetes backend).
	Leftovers func(t testing.TB, scope string) int
}

// Start runs a daemon and stops it (SIGTERM) at test cleanup.
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	RequireDocker(t)
	bin := Binaries(t)
	dir := t.TempDir()
	scope := fmt.Sprintf("test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	cfg := "listen: 127.0.0.1:0\nlog_level: debug\nengine:\n  scope: " + scope + "\n" + opts.Config
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Scope: scope, leftovers: opts.Leftovers, logs: &syncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(filepath.Join(bin, "warmbox"), "serve", "--config", cfgPath)
	d.cmd.Env = append(os.Environ(), opts.Env...)
	// Tests wait for a sandbox up to 30 s unless they set max_wait: they
	// check what the daemon does, and on a loaded test machine a reset or
	// a replacement can take longer than the default 500 ms. How fast a
	// saturated pool answers has tests of its own, which set it.
	if !strings.Contains(opts.Config, "max_wait:") {
		d.cmd.Env = append([]string{"WARMBOX_POOL_MAX_WAIT=30s"}, d.cmd.Env...)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting warmbox: %v", err)
	}
	addr := make(chan string, 1)
	go d.follow(stderr, addr)
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.Stop(t) })

	select {
	case a := <-addr:
		d.URL = "http://" + a
	case <-d.done:
		t.Fatalf("warmbox exited before serving: %v\n%s", d.err, d.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("warmbox did not start listening within 60 s\n%s", d.Logs())
	}
	if !opts.NoWait {
		d.WaitReady(t, 120*time.Second)
	}
	return d
}

// follow copies the daemon's JSON logs and reports its listen address.
func (d *Daemon) follow(r io.Reader, addr chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for sc.Scan() {
		line := sc.Bytes()
		d.logs.Write(append(append([]byte{}, line...), '\n'))
		if sent {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "warmbox serving" {
			addr <- rec.Addr
			sent = true
		}
	}
}

// WaitReady polls /readyz until it answers 200.
func (d *Daemon) WaitReady(t testing.TB, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(d.URL + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = string(b)
		} else {
			last = err.Error()
		}
		select {
		case <-d.done:
			t.Fatalf("warmbox exited while warming up: %v\n%s", d.err, d.Logs())
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("warmbox not ready within %s: %s\n%s", within, last, d.Logs())
}

// Signal sends sig to the daemon.
func (d *Daemon) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits up to within for the daemon to exit and returns its exit code.
func (d *Daemon) Wait(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(within):
		t.Fatalf("warmbox did not exit within %s\n%s", within, d.Logs())
	}
	return d.cmd.ProcessState.ExitCode()
}

// Stop sends SIGTERM, waits for exit 0, and checks that no sandbox of
// the daemon's scope is left on the engine, nor (Docker backend) its
// volume.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		if code := d.Wait(t, 90*time.Second); code != 0 {
			t.Errorf("warmbox exited %d after SIGTERM\n%s", code, d.Logs())
		}
	}
	if d.leftovers != nil {
		if n := d.leftovers(t, d.Scope); n != 0 {
			t.Errorf("%d sandboxes of scope %s left after the daemon stopped", n, d.Scope)
		}
		return
	}
	if n := Sandboxes(t, d.Scope); n != 0 {
		t.Errorf("%d sandbox containers of scope %s left after the daemon stopped", n, d.Scope)
		RemoveScope(d.Scope)
	}
	if vols := Volumes(t, d.Scope); len(vols) != 0 {
		t.Errorf("volumes of scope %s left after the daemon stopped: %v", d.Scope, vols)
		_ = exec.Command("docker", append([]string{"volume", "rm"}, vols...)...).Run()
	}
}

// Volumes lists the volumes of a scope (the sandboxes' name files).
func Volumes(t testing.TB, scope string) []string {
	t.Helper()
	return listScope(t, scope, "volume", "ls", "-q")
}

// Logs returns what the daemon has logged so far.
func (d *Daemon) Logs() string { return d.logs.String() }

// RequireDocker fails the test when no Docker engine answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		t.Fatalf("a Docker engine is required (run deploy/host/engine.sh): %v: %s", err, out)
	}
}

// Sandboxes counts the containers of a scope, running or not.
func Sandboxes(t testing.TB, scope string) int {
	t.Helper()
	return len(ContainerIDs(t, scope))
}

// ContainerIDs lists the containers of a scope.
func ContainerIDs(t testing.TB, scope string) []string {
	t.Helper()
	return listScope(t, scope, "ps", "-aq", "--no-trunc")
}

// listScope runs a docker listing (args) of the objects that carry the
// scope's label and returns their names or ids.
func listScope(t testing.TB, scope string, args ...string) []string {
	t.Helper()
	out, err := exec.Command("docker", append(args, "--filter", "label=io.warmbox.scope="+scope)...).Output()
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out))
}

// RemoveScope force-removes every container of a scope (test cleanup).
func RemoveScope(scope string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.warmbox.scope="+scope).Output()
	if ids := strings.Fields(string(out)); len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Response is a decoded JSON answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Post sends a JSON body (a string is sent as is) to path.
func (d *Daemon) Post(t testing.TB, path string, body any) Response {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Post(d.URL+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return decode(t, resp)
}

// Get fetches path.
func (d *Daemon) Get(t testing.TB, path string) Response {
	t.Helper()
	resp, err := http.Get(d.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return decode(t, resp)
}

func decode(t testing.TB, resp *http.Response) Response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}

// Metric reads one series of the daemon at url from its /metrics: series
// is the name with its labels as exposed, e.g.
// `warmbox_engine_errors_total{op="create"}`. It fails t when the series
// is missing. The connection is not kept, so it holds no descriptor of
// the daemon's afterwards.
func Metric(t testing.TB, url, series string) float64 {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			n, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err != nil {
				t.Fatalf("%s %q: %v", series, v, err)
			}
			return n
		}
	}
	t.Fatalf("/metrics (HTTP %d) has no series %s", resp.StatusCode, series)
	return 0
}

// FreePort returns a loopback port nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
