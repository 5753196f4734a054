package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

const (
	concurrency = 32
	// slack is added to every request's bound (acquire up to its timeout,
	// run up to its timeout + 2 s) before it counts as hung.
	slack = 10 * time.Second
	// settle bounds the wait for the pools to go quiet after the load.
	settle = 90 * time.Second
)

// Flatness bounds, generous: the machine is shared and noisy.
const (
	maxGoroutineGrowth = 50
	maxFDGrowth        = 20
	maxRSSGrowthKB     = 100 << 10
)

// config: no rate limit, the default pools (2 idle, at most 8 per
// language, 32 waiters, 250 jobs per sandbox), and the default max_wait
// stated, so that the test daemon keeps it (testdaemon's 30 s would make
// a caller queue past its bound): a saturated pool answers 503 at once.
const config = "rate_limit: {requests: 0}\npool: {max_wait: 500ms}\n"

// TestSoak runs the mix at concurrency 32 against every language for
// WARMBOX_SOAK (default 60s), after a warm-up, and checks: every request
// sent was answered with a well-formed response (a 200 whose content
// fits the program, or a documented 503 with Retry-After; no connection
// error, nothing past its bound); no container leaked (the scope's
// containers equal the pools' idle total once quiet); no background
// daemon survived; goroutines, file descriptors and RSS flat.
func TestSoak(t *testing.T) {
	dur := 60 * time.Second
	if v := os.Getenv("WARMBOX_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("WARMBOX_SOAK=%q: want a duration such as 60s or 10m", v)
		}
		dur = d
	}
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	pid, err := daemonPID()
	if err != nil {
		t.Fatal(err)
	}
	marker := strconv.Itoa(800000 + rand.IntN(99999))
	kinds := schedule(mix(marker))
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: concurrency}}

	warm := min(15*time.Second, max(5*time.Second, dur/10))
	run(hc, d.URL, kinds, warm) // warm-up: not counted
	hc.CloseIdleConnections()
	quiet(t, d.URL, d.Scope)
	before := measure(t, d.URL, pid)

	started := time.Now()
	s := run(hc, d.URL, kinds, dur)
	elapsed := time.Since(started)
	hc.CloseIdleConnections()
	idle := quiet(t, d.URL, d.Scope)
	after := measure(t, d.URL, pid)

	report(t, s, elapsed, before, after, idle)

	if sent, got := s.sent.Load(), int64(len(s.answers)); sent != got {
		t.Errorf("sent %d requests, %d answered", sent, got)
	}
	bad := 0
	for _, a := range s.answers {
		if a.problem != "" {
			if bad++; bad <= 20 {
				t.Errorf("%s: %s after %s: %s", a.kind.Name, a.outcome(), a.elapsed.Round(time.Millisecond), a.problem)
			}
		}
	}
	if bad > 20 {
		t.Errorf("%d bad answers in all", bad)
	}
	ran := map[string]int{}
	for _, k := range mix(marker) {
		if !k.Hostile && s.count(k.Name, "200 success") == 0 {
			t.Errorf("%s never succeeded during the soak", k.Name)
		}
		if k.Hostile {
			ran[k.Group] += s.ran(k.Name)
		}
	}
	for g, n := range ran {
		if n == 0 {
			t.Errorf("no %s ran during the soak (every request for one was refused)", g)
		}
	}
	if after.goroutines > before.goroutines+maxGoroutineGrowth {
		t.Errorf("goroutines grew from %d to %d (bound +%d)", before.goroutines, after.goroutines, maxGoroutineGrowth)
	}
	if after.fds > before.fds+maxFDGrowth {
		t.Errorf("open file descriptors grew from %d to %d (bound +%d)", before.fds, after.fds, maxFDGrowth)
	}
	if after.rssKB > before.rssKB+maxRSSGrowthKB {
		t.Errorf("RSS grew from %d KB to %d KB (bound +%d KB)", before.rssKB, after.rssKB, maxRSSGrowthKB)
	}
	// No background daemon of a job outlived it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := exec.Command("pgrep", "-f", "sleep "+marker).Output()
		if len(bytes.TrimSpace(out)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes `sleep %s` started by jobs still run on the host: pids %s", marker, bytes.Fields(out))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// answer is one request's outcome.
type answer struct {
	kind       kind
	elapsed    time.Duration
	http       int    // 0: no HTTP response
	code       string // error.code of an error response
	status     string // status of a 200
	transport  string // why there was no HTTP response
	retryAfter string
	problem    string // "" when well formed and right for the program
}

func (a answer) outcome() string {
	switch {
	case a.http == 0:
		return "no response (" + a.transport + ")"
	case a.http == 200:
		return "200 " + a.status
	}
	return strconv.Itoa(a.http) + " " + a.code
}

type soak struct {
	sent    atomic.Int64
	mu      sync.Mutex
	answers []answer
}

// ran counts the answers of kind that come from a program that ran.
func (s *soak) ran(kind string) int {
	n := 0
	for _, a := range s.answers {
		if a.kind.Name == kind && a.http == 200 {
			n++
		}
	}
	return n
}

func (s *soak) count(kind, outcome string) int {
	n := 0
	for _, a := range s.answers {
		if a.kind.Name == kind && a.outcome() == outcome {
			n++
		}
	}
	return n
}

// run sends the mix from concurrency clients for dur and returns every
// answer once each client's last request is answered.
func run(hc *http.Client, base string, kinds []kind, dur time.Duration) *soak {
	s := &soak{}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	for c := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := c * 5; time.Now().Before(stop); n++ {
				k := kinds[n%len(kinds)]
				s.sent.Add(1)
				a := post(hc, base, k)
				s.mu.Lock()
				s.answers = append(s.answers, a)
				s.mu.Unlock()
				if a.http == http.StatusServiceUnavailable {
					// A polite client honours Retry-After; this one only
					// backs off a little, to keep the pressure on.
					time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return s
}

// post sends one program and classifies the answer.
func post(hc *http.Client, base string, k kind) answer {
	a := answer{kind: k}
	body, _ := json.Marshal(map[string]any{"environment": k.Lang, "code": k.Code, "timeout": k.Timeout})
	bound := 2*time.Duration(k.Timeout)*time.Second + 2*time.Second + slack
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/execute", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := hc.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	a.elapsed = time.Since(start)
	if err != nil {
		a.transport = "error"
		if ctx.Err() != nil {
			a.transport = "hung"
		}
		a.problem = fmt.Sprintf("no HTTP answer: %v", err)
		return a
	}
	a.http = resp.StatusCode
	a.retryAfter = resp.Header.Get("Retry-After")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.problem = fmt.Sprintf("Content-Type %q: %.200s", ct, raw)
		return a
	}
	switch a.http {
	case http.StatusOK:
		var r result
		if err := json.Unmarshal(raw, &r); err != nil {
			a.problem = fmt.Sprintf("200 not JSON: %v: %.200s", err, raw)
			return a
		}
		a.status = r.Status
		if msg := k.Check(r); msg != "" {
			a.problem = fmt.Sprintf("%s; got %s", msg, r)
		}
	case http.StatusServiceUnavailable:
		var e struct {
			Error struct {
				Code      string `json:"code"`
				Retryable bool   `json:"retryable"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			a.problem = fmt.Sprintf("503 not JSON: %v: %.200s", err, raw)
			return a
		}
		a.code = e.Error.Code
		switch n, err := strconv.Atoi(a.retryAfter); {
		case !slices.Contains([]string{"capacity", "environment_unavailable", "sandbox_lost"}, a.code) || !e.Error.Retryable:
			a.problem = fmt.Sprintf("503 with an unexpected error: %.300s", raw)
		case err != nil || n < 1:
			a.problem = fmt.Sprintf("503 %s with Retry-After %q", a.code, a.retryAfter)
		}
	default:
		a.problem = fmt.Sprintf("unexpected HTTP %d: %.300s", a.http, raw)
	}
	return a
}

// quiet waits until nothing is busy, waiting, created or destroyed and
// the scope's containers are exactly the pools' idle sandboxes, then
// returns that idle total. It fails the test if that does not happen
// within settle: a container leaked, or a sandbox is stuck.
func quiet(t *testing.T, base, scope string) int {
	t.Helper()
	deadline := time.Now().Add(settle)
	var last string
	for time.Now().Before(deadline) {
		idle, msg := settled(base, scope)
		if msg == "" {
			return idle
		}
		last = msg
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("not quiet %s after the load: %s", settle, last)
	return 0
}

func settled(base, scope string) (int, string) {
	var body struct {
		Pools map[string]struct {
			Idle, Busy, Creating, Destroying, Waiting int
		} `json:"pools"`
	}
	if err := getJSON(base+"/stats", &body); err != nil {
		return 0, err.Error()
	}
	idle, moving := 0, 0
	for _, p := range body.Pools {
		idle += p.Idle
		moving += p.Busy + p.Creating + p.Destroying + p.Waiting
	}
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=io.warmbox.scope="+scope).Output()
	if err != nil {
		return 0, "docker ps: " + err.Error()
	}
	n := len(strings.Fields(string(out)))
	if moving > 0 || n != idle {
		return 0, fmt.Sprintf("%d containers of the scope; the pools hold %d idle, %d busy, creating, destroying or waiting", n, idle, moving)
	}
	return idle, ""
}

// figures are the daemon's resource use at one moment.
type figures struct {
	rssKB, fds, threads, goroutines int
}

func measure(t *testing.T, base string, pid int) figures {
	t.Helper()
	var f figures
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("daemon status: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			f.rssKB, _ = strconv.Atoi(fields[1])
		case "Threads:":
			f.threads, _ = strconv.Atoi(fields[1])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("daemon fds: %v", err)
	}
	f.fds = len(fds)
	f.goroutines = int(testdaemon.Metric(t, base, "go_goroutines"))
	if f.goroutines == 0 {
		t.Fatal("/metrics has go_goroutines 0")
	}
	return f
}

var probe = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func getJSON(url string, v any) error {
	resp, err := probe.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// daemonPID finds the warmbox process this test started: the child of
// this process named warmbox.
func daemonPID() (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		rest := strings.Fields(s[close+1:])
		if s[open+1:close] == "warmbox" && len(rest) > 1 && rest[1] == strconv.Itoa(os.Getpid()) {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, errors.New("cannot tell the daemon's pid: " + fmt.Sprint(len(found)) + " warmbox children")
	}
	return found[0], nil
}

// report prints the figures.
func report(t *testing.T, s *soak, elapsed time.Duration, before, after figures, idle int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "soak: %s at concurrency %d: %d sent, %d answered (%.1f/s)\n",
		elapsed.Round(time.Second), concurrency, s.sent.Load(), len(s.answers), float64(len(s.answers))/elapsed.Seconds())
	fmt.Fprintf(&b, "\n%-22s %10s %10s\n", "daemon", "start", "end")
	fmt.Fprintf(&b, "%-22s %10d %10d\n", "RSS (KB)", before.rssKB, after.rssKB)
	fmt.Fprintf(&b, "%-22s %10d %10d\n", "goroutines", before.goroutines, after.goroutines)
	fmt.Fprintf(&b, "%-22s %10d %10d\n", "open fds", before.fds, after.fds)
	fmt.Fprintf(&b, "%-22s %10d %10d\n", "threads", before.threads, after.threads)
	fmt.Fprintf(&b, "%-22s %10s %10d\n", "containers at the end", "", idle)

	byOutcome := map[string][]time.Duration{}
	byKind := map[string]map[string]int{}
	var all []time.Duration
	for _, a := range s.answers {
		o := a.outcome()
		byOutcome[o] = append(byOutcome[o], a.elapsed)
		all = append(all, a.elapsed)
		if byKind[a.kind.Name] == nil {
			byKind[a.kind.Name] = map[string]int{}
		}
		byKind[a.kind.Name][o]++
	}
	fmt.Fprintf(&b, "\n%-28s %7s %9s %9s %9s\n", "answers", "count", "p50", "p99", "max")
	outcomes := make([]string, 0, len(byOutcome))
	for o := range byOutcome {
		outcomes = append(outcomes, o)
	}
	sort.Strings(outcomes)
	row := func(name string, ds []time.Duration) {
		p50, p99, mx := percentiles(ds)
		fmt.Fprintf(&b, "%-28s %7d %9s %9s %9s\n", name, len(ds), p50, p99, mx)
	}
	for _, o := range outcomes {
		row(o, byOutcome[o])
	}
	row("all", all)
	fmt.Fprintf(&b, "\n%-24s %s\n", "program", "answers")
	names := make([]string, 0, len(byKind))
	for n := range byKind {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var parts []string
		for _, o := range outcomes {
			if c := byKind[n][o]; c > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", o, c))
			}
		}
		fmt.Fprintf(&b, "%-24s %s\n", n, strings.Join(parts, ", "))
	}
	t.Log("\n" + b.String())
}

func percentiles(ds []time.Duration) (p50, p99, mx time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))].Round(time.Millisecond) }
	return at(0.50), at(0.99), s[len(s)-1].Round(time.Millisecond)
}
