package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/daemon"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

// config sizes the pools for one lane per language, with the rate limit
// off and a long max_wait (the battery checks what a sandbox lets a job
// do, not how fast a saturated pool answers: a case's follow-up may wait
// for a reset or a replacement). Everything else is the embedded
// defaults: the battery tests the configuration warmbox ships.
const config = `
rate_limit: {requests: 0}
pool: {min_idle: 2, max_size: 5, autosize: false, max_waiters: 16, max_wait: 30s}
`

// hostileLanguages enables every language of the battery (languages).
const hostileLanguages = "WARMBOX_LANGUAGES=python,node,bash,c,java,go,ruby"

// hostSecrets are put in the daemon's environment: the cases prove that
// none of them reaches a job (I01, I02, I03, I10).
var hostSecrets = []string{
	hostileLanguages,
	"WARMBOX_TEST_SECRET=wbhsecret-warmbox",
	"AWS_SECRET_ACCESS_KEY=wbhsecret-aws",
	"DOCKER_AUTH_CONFIG=wbhsecret-docker",
}

// settle bounds how long the host may take, after a case, to be back to
// normal: pool refilled, no stray process (U3, U4). Tearing down a gVisor
// sandbox that a fork bomb filled takes over 20 s on this 2-core machine
// when other suites load it (seen in CI): the wait ends as soon as the
// host is back, so a generous bound costs nothing when it is.
const settle = 45 * time.Second

var canaries = map[string]string{
	"python": "print(1)",
	"node":   "console.log(1)",
	"bash":   "echo 1",
	"c":      "#include <stdio.h>\nint main(void) { puts(\"1\"); return 0; }\n",
	"java":   "public class Main { public static void main(String[] a) { System.out.println(1); } }\n",
	"go":     "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(1) }\n",
	"ruby":   "puts 1",
}

// waves are the lanes that run at the same time: the battery's first
// three languages, then the others. Seven lanes at once on a 2-core
// host would starve the CPU-bound cases (a memory bomb by string
// doubling would time out before the OOM killer fires).
var waves = [][]string{{"python", "node", "bash"}, {"c", "java", "go", "ruby"}}

func loadCases(t *testing.T) []Case {
	t.Helper()
	cases, err := LoadCases("cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestCasesFile checks the battery itself: enough cases, every category
// and language, and a threat model that cites every case and finding.
func TestCasesFile(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 50 {
		t.Errorf("%d cases, want at least 50", len(cases))
	}
	doc, err := os.ReadFile("../../docs/SECURITY.md")
	if err != nil {
		t.Fatalf("the threat model must exist: %v", err)
	}
	perLang, perCat := map[string]int{}, map[string]int{}
	for _, c := range cases {
		perLang[c.Language]++
		perCat[c.Category]++
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(c.ID) + `\b`).Match(doc) {
			t.Errorf("case %s is not cited in docs/SECURITY.md", c.ID)
		}
		if c.Finding != "" {
			id, _, _ := strings.Cut(c.Finding, ":")
			if !bytes.Contains(doc, []byte("### "+id)) {
				t.Errorf("case %s: finding %q has no section \"### %s\" in docs/SECURITY.md", c.ID, c.Finding, id)
			}
		}
	}
	for lang := range languages {
		if perLang[lang] == 0 {
			t.Errorf("no case in %s", lang)
		}
		if canaries[lang] == "" || !slices.ContainsFunc(waves, func(w []string) bool { return slices.Contains(w, lang) }) {
			t.Errorf("%s has no canary or no wave: its cases would never run", lang)
		}
	}
	for _, cat := range []string{"exhaustion", "time", "output", "outlive", "disclosure", "network",
		"privilege", "filesystem", "stdin"} {
		if perCat[cat] == 0 {
			t.Errorf("no case in category %s", cat)
		}
	}
	t.Logf("%d cases: languages %v, categories %v", len(cases), perLang, perCat)
}

// TestHostile runs every case against a real daemon, one lane per
// language, each lane in order, so a lane's container count is its own.
func TestHostile(t *testing.T) {
	cases := loadCases(t)
	waitForEngine(t)
	d := testdaemon.Start(t, testdaemon.Options{Config: config + slowerHost(t), Env: hostSecrets})
	b := newBattery(t, d, 2)
	b.lanes(t, cases, "single")
}

// slowerHost is the config of a host WARMBOX_HOSTILE_SLOWDOWN times
// slower (say 3) than the defaults assume: every language of the battery
// gets that fraction of its CPU quota. Its cases assert what a sandbox
// allows, never how far a program got, so they must hold there too
// (docs/SECURITY.md, "A slower host"). Empty when unset.
func slowerHost(t *testing.T) string {
	v := os.Getenv("WARMBOX_HOSTILE_SLOWDOWN")
	if v == "" {
		return ""
	}
	factor, err := strconv.ParseFloat(v, 64)
	if err != nil || factor < 1 || factor > 10 {
		t.Fatalf("WARMBOX_HOSTILE_SLOWDOWN=%q: want a factor from 1 to 10", v)
	}
	cfg, err := daemon.LoadConfig("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, name := range strings.Split(strings.TrimPrefix(hostileLanguages, "WARMBOX_LANGUAGES="), ",") {
		cpus := cfg.Languages[name].Limits.CPUs / factor
		langs = append(langs, fmt.Sprintf("%s: {limits: {cpus: %.3f}}", name, cpus))
	}
	t.Logf("a host %gx slower: CPU quotas divided by %g", factor, factor)
	return "languages: {" + strings.Join(langs, ", ") + "}\n"
}

// newBattery prepares a run against d, whose pools keep idle sandboxes
// per language (autosize off: after every job the language's labelled
// containers return to exactly that).
func newBattery(t *testing.T, d *testdaemon.Daemon, idle int) *battery {
	t.Helper()
	baseline, err := sandboxUIDBaseline()
	if err != nil {
		t.Fatal(err)
	}
	return &battery{d: d, port: port(t, d.URL), baseline: baseline, scope: d.Scope, idle: idle, foreign: map[int]bool{}}
}

// lanes runs the cases of one mode, one lane per language, each lane in
// order.
func (b *battery) lanes(t *testing.T, cases []Case, mode string) {
	start := time.Now()
	ooms, err := globalOOMKills()
	if err != nil {
		t.Fatalf("U6 needs the kernel log: %v", err)
	}
	defer func() {
		if now, err := globalOOMKills(); err == nil && now > ooms {
			t.Errorf("U6: %d OOM kills outside a memory cgroup (a host-wide OOM) during the battery", now-ooms)
		}
	}()
	lanes := map[string][]Case{}
	n := 0
	for _, c := range cases {
		if c.Mode == mode {
			lanes[c.Language] = append(lanes[c.Language], c)
			n++
		}
	}
	// Goroutines rather than t.Parallel: -parallel defaults to GOMAXPROCS,
	// and a 2-core CI machine would then run two lanes, not three.
	for _, wave := range waves {
		var wg sync.WaitGroup
		for _, lang := range wave {
			list := lanes[lang]
			if len(list) == 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(lang, func(t *testing.T) {
					for _, c := range list {
						t.Run(c.ID, func(t *testing.T) { b.run(t, c, c.Expect, c.Finding) })
					}
				})
			}()
		}
		wg.Wait()
	}
	b.report(t, n, time.Since(start))
}

// battery runs cases against one daemon.
type battery struct {
	d        *testdaemon.Daemon
	port     string
	scope    string
	idle     int // each language's idle target
	baseline map[int]bool

	mu       sync.Mutex
	findings []string
	retries  int
	foreign  map[int]bool // strays seen before a case, logged once
}

// run runs one case with want as its expectation, then the universal
// checks; finding, if any, is logged as the weakness want records. A case that fails while the Docker engine restarted under it
// (another suite on a shared machine may do that) is run again, at most
// twice, and says so.
func (b *battery) run(t *testing.T, c Case, want Expect, finding string) {
	for attempt := 0; ; attempt++ {
		epoch := engineEpoch()
		problems := b.once(t, c, want)
		if len(problems) == 0 {
			break
		}
		if engineEpoch() != epoch && attempt < 2 {
			t.Logf("the Docker engine restarted during %s; waiting for the daemon and running it again. Problems seen: %v", c.ID, problems)
			b.mu.Lock()
			b.retries++
			b.mu.Unlock()
			b.d.WaitReady(t, 3*time.Minute)
			continue
		}
		for _, p := range problems {
			t.Error(p)
		}
		break
	}
	if finding != "" {
		t.Logf("FINDING %s (%s: %s)", finding, c.ID, c.Title)
		b.mu.Lock()
		b.findings = append(b.findings, c.ID+" → "+finding)
		b.mu.Unlock()
	}
}

// once sends the case, its follow-up and the canary, then waits for the
// host to settle. It returns every problem found.
func (b *battery) once(t *testing.T, c Case, want Expect) []string {
	job := c.Prepare(b.port)
	var problems []string
	// What was already wrong on the host before the case is not the
	// case's doing: an engine restarted by another suite on this machine
	// leaves containerd tasks that Docker no longer lists.
	pre := b.snapshot(t, c.Language)
	var along chan []string
	if al := c.Alongside; al != nil {
		along = make(chan []string, 1)
		go func() {
			time.Sleep(time.Duration(al.DelayMs) * time.Millisecond)
			body := map[string]any{"environment": c.Language, "code": strings.ReplaceAll(al.Code, "{{MARK}}", job.Marker), "timeout": al.Timeout}
			aa, err := b.post(body, al.Timeout)
			if err != nil {
				along <- []string{"alongside: " + err.Error()}
				return
			}
			var p []string
			for _, s := range al.Expect.Check(aa, al.Timeout) {
				p = append(p, "alongside: "+s)
			}
			along <- p
		}()
	}
	a, err := b.post(job.Body, c.Timeout)
	if along != nil {
		problems = append(problems, <-along...)
	}
	if err != nil {
		return append(problems, err.Error())
	}
	if os.Getenv("WARMBOX_HOSTILE_DUMP") != "" {
		t.Logf("%s: HTTP %d in %s: %.4000s", c.ID, a.HTTP, a.Wall.Round(time.Millisecond), a.Raw)
	}
	problems = append(problems, want.Check(a, c.Timeout)...)

	if f := c.Followup; f != nil {
		timeout := max(f.Timeout, 10)
		fa, err := b.post(map[string]any{"environment": c.Language, "code": f.Code, "timeout": timeout}, timeout)
		if err != nil {
			problems = append(problems, "follow-up: "+err.Error())
		} else {
			for _, p := range f.Expect.Check(fa, timeout) {
				problems = append(problems, "follow-up: "+p)
			}
		}
		if f.SameSandbox != nil {
			after, err := languageSandboxIDs(b.scope, c.Language)
			same := err == nil && len(after) == 1 && slices.Equal(after, pre.ids)
			if same != *f.SameSandbox {
				problems = append(problems, fmt.Sprintf("follow-up ran in the same sandbox: %v, want %v (sandboxes before the case %v, after the follow-up %v)",
					same, *f.SameSandbox, short(pre.ids), short(after)))
			}
		}
	}

	// U5: the daemon still serves a normal program in this language.
	ca, err := b.post(map[string]any{"environment": c.Language, "code": canaries[c.Language], "timeout": 10}, 10)
	if err != nil {
		problems = append(problems, "canary: "+err.Error())
	} else {
		ok := Expect{HTTP: 200, Status: "success", ExitCode: new(int), Stdout: ptr("1\n")}
		for _, p := range ok.Check(ca, 10) {
			problems = append(problems, "canary: "+p)
		}
	}

	// U3 and U4: the host settles.
	return append(problems, b.settled(c.Language, job.Marker, pre)...)
}

// before is the host's state before a case.
type before struct {
	sandboxes int          // the language's labelled containers
	ids       []string     // and their ids
	strays    map[int]bool // stray processes already there
}

func (b *battery) snapshot(t *testing.T, language string) before {
	s := before{sandboxes: b.idle, strays: map[int]bool{}}
	if ids, err := languageSandboxIDs(b.scope, language); err == nil {
		s.sandboxes, s.ids = len(ids), ids
	}
	procs, err := strays(b.baseline, nil)
	if err != nil {
		return s
	}
	for _, p := range procs {
		s.strays[p.PID] = true
		b.mu.Lock()
		if !b.foreign[p.PID] {
			b.foreign[p.PID] = true
			t.Logf("note: before this case, host process %d (uid %d) runs in container %.12s that Docker no longer lists: %.100s (not this battery's doing; an engine restart leaves such containerd tasks)",
				p.PID, p.UID, p.Container, p.Cmdline)
		}
		b.mu.Unlock()
	}
	return s
}

// settled waits up to settle for the language's containers to return to
// the idle target and for every stray process to be gone.
//
// U4 wants the idle target; when the case started with more (containers
// of an engine restart that the pool has not reaped yet), it wants no
// more than that. U3 ignores strays that were there before the case,
// unless they carry the case's marker.
func (b *battery) settled(language, marker string, pre before) []string {
	deadline := time.Now().Add(settle)
	for {
		var problems []string
		ids, err := languageSandboxIDs(b.scope, language)
		n := len(ids)
		switch {
		case err != nil:
			problems = append(problems, "U4: "+err.Error())
		case n == b.idle, pre.sandboxes > b.idle && n <= pre.sandboxes:
		default:
			problems = append(problems, fmt.Sprintf("U4: %d %s sandboxes, want the idle target %d (%d before the case)", n, language, b.idle, pre.sandboxes))
		}
		procs, err := strays(b.baseline, []string{marker})
		if err != nil {
			problems = append(problems, "U3: "+err.Error())
		}
		for _, p := range procs {
			if pre.strays[p.PID] && !strings.Contains(p.Cmdline, marker) {
				continue
			}
			where := "outside any container"
			if p.Container != "" {
				where = "in removed container " + p.Container[:12]
			}
			problems = append(problems, fmt.Sprintf("U3: host process %d (uid %d) %s: %.200s", p.PID, p.UID, where, p.Cmdline))
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			return problems
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// post sends one /execute request and measures its wall time. The client
// gives up well after the wall bound, so a hang fails the case instead of
// the whole run.
func (b *battery) post(body map[string]any, timeout int) (Answer, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return Answer{}, err
	}
	client := &http.Client{Timeout: time.Duration(timeout)*time.Second + 60*time.Second}
	start := time.Now()
	resp, err := client.Post(b.d.URL+"/execute", "application/json", bytes.NewReader(raw))
	if err != nil {
		return Answer{}, fmt.Errorf("POST /execute: %w (after %s)", err, time.Since(start).Round(time.Millisecond))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	wall := time.Since(start)
	if err != nil {
		return Answer{}, fmt.Errorf("reading the answer: %w", err)
	}
	return Answer{HTTP: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Raw: data, Wall: wall}, nil
}

func (b *battery) report(t *testing.T, n int, took time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sort.Strings(b.findings)
	t.Logf("hostile battery: %d cases in %s, %d re-run after an engine restart, %d with findings:\n  %s",
		n, took.Round(time.Second), b.retries, len(b.findings), strings.Join(b.findings, "\n  "))
}

func port(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Port()
}

func ptr[T any](v T) *T { return &v }

func short(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(12, len(id))]
	}
	return out
}
