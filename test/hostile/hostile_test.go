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
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// poolIdle is each language's idle target: autosize is off, so after
// every job the language's labelled containers return to exactly this.
const poolIdle = 2

// config sizes the pools for one lane per language, with the rate limit
// off. Everything else is the embedded defaults: the battery tests the
// configuration warmbox ships.
const config = `
rate_limit: {requests: 0}
pool: {min_idle: 2, max_size: 5, autosize: false, max_waiters: 16}
`

// settle bounds how long the host may take, after a case, to be back to
// normal: pool refilled, no stray process (U3, U4).
const settle = 20 * time.Second

var canaries = map[string]string{
	"python": "print(1)",
	"node":   "console.log(1)",
	"bash":   "echo 1",
}

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
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	baseline, err := sandboxUIDBaseline()
	if err != nil {
		t.Fatal(err)
	}
	b := battery{d: d, port: port(t, d.URL), baseline: baseline, scope: d.Scope}
	start := time.Now()

	lanes := map[string][]Case{}
	for _, c := range cases {
		lanes[c.Language] = append(lanes[c.Language], c)
	}
	// Goroutines rather than t.Parallel: -parallel defaults to GOMAXPROCS,
	// and a 2-core CI machine would then run two lanes, not three.
	var wg sync.WaitGroup
	for lang, list := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(lang, func(t *testing.T) {
				for _, c := range list {
					t.Run(c.ID, func(t *testing.T) { b.run(t, c, c.Expect) })
				}
			})
		}()
	}
	wg.Wait()
	b.report(t, len(cases), time.Since(start))
}

// battery runs cases against one daemon.
type battery struct {
	d        *testdaemon.Daemon
	port     string
	scope    string
	baseline map[int]bool

	mu       sync.Mutex
	findings []string
	retries  int
}

// run runs one case with want as its expectation, then the universal
// checks. A case that fails while the Docker engine restarted under it
// (another suite on a shared machine may do that) is run again, at most
// twice, and says so.
func (b *battery) run(t *testing.T, c Case, want Expect) {
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
	if c.Finding != "" {
		t.Logf("FINDING %s (%s: %s)", c.Finding, c.ID, c.Title)
		b.mu.Lock()
		b.findings = append(b.findings, c.ID+" → "+c.Finding)
		b.mu.Unlock()
	}
}

// once sends the case, its follow-up and the canary, then waits for the
// host to settle. It returns every problem found.
func (b *battery) once(t *testing.T, c Case, want Expect) []string {
	job := c.Prepare(b.port)
	var problems []string
	a, err := b.post(job.Body, c.Timeout)
	if err != nil {
		return []string{err.Error()}
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
	return append(problems, b.settled(c.Language, job.Marker)...)
}

// settled waits up to settle for the language's containers to return to
// the idle target and for every stray process to be gone.
func (b *battery) settled(language, marker string) []string {
	deadline := time.Now().Add(settle)
	for {
		var problems []string
		n, err := languageSandboxes(b.scope, language)
		switch {
		case err != nil:
			problems = append(problems, "U4: "+err.Error())
		case n != poolIdle:
			problems = append(problems, fmt.Sprintf("U4: %d %s sandboxes, want the idle target %d", n, language, poolIdle))
		}
		procs, err := strays(b.baseline, []string{marker})
		if err != nil {
			problems = append(problems, "U3: "+err.Error())
		}
		for _, p := range procs {
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
