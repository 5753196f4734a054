package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/bench"
	"github.com/warmbox/warmbox/internal/testdaemon"
)

const config = "rate_limit: {requests: 0}\npool: {min_idle: 2, max_size: 4}\n"

// runBench runs the warmbox binary's bench subcommand and returns its
// exit code, stdout and stderr.
func runBench(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	bin := filepath.Join(testdaemon.Binaries(t), "warmbox")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"bench", "--progress=false"}, args...)...)
	// The cold baseline reads the embedded defaults, like the daemon.
	cmd.Env = append(os.Environ(), "WARMBOX_CONFIG=", "WARMBOX_URL=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running warmbox bench: %v", err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func readReport(t *testing.T, path string) bench.Report {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return rep
}

func TestWarmAgainstCold(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "--url", d.URL, "--targets", "warm,cold", "--lang", "python",
		"--scenario", "hello", "--duration", "4s", "--warmup", "1s", "--out", out)
	if code != 0 {
		t.Fatalf("warmbox bench exited %d\nstdout:\n%s\nstderr:\n%s\ndaemon:\n%s", code, stdout, stderr, d.Logs())
	}
	t.Logf("warmbox bench:\n%s", stdout)
	rep := readReport(t, filepath.Join(out, "report.json"))

	if rep.Interrupted || rep.FormatVersion != bench.FormatVersion {
		t.Errorf("report: interrupted %v, format %d", rep.Interrupted, rep.FormatVersion)
	}
	if rep.Machine.CPUs <= 0 || rep.Machine.Engine == "" || rep.Machine.GoVersion == "" {
		t.Errorf("machine facts missing: %+v", rep.Machine)
	}
	got := map[string]bench.Result{}
	for _, r := range rep.Results {
		got[r.Target] = r
	}
	for _, target := range []string{"warm", "cold"} {
		r, ok := got[target]
		if !ok {
			t.Errorf("no result for %s: %+v", target, rep.Results)
			continue
		}
		if r.Scenario != "python/hello" || r.Count <= 0 || r.OK <= 0 || r.Throughput <= 0 || r.LatencyMs.P50 <= 0 ||
			r.LatencyMs.Max < r.LatencyMs.P50 || len(r.SamplesMs) != r.OK {
			t.Errorf("%s: implausible figures: scenario %q count %d ok %d throughput %g latency %+v samples %d",
				target, r.Scenario, r.Count, r.OK, r.Throughput, r.LatencyMs, len(r.SamplesMs))
		}
		if r.Errors[bench.KindWrongOutput] != 0 {
			t.Errorf("%s: %d wrong answers: %v", target, r.Errors[bench.KindWrongOutput], r.ErrorExamples)
		}
	}
	if s := got["warm"].ServerMs; s == nil || s.Samples != got["warm"].OK || s.TotalP50 <= 0 || s.RunP50 <= 0 {
		t.Errorf("warm: server timing breakdown missing or empty: %+v", s)
	}
	if len(rep.Comparisons) != 1 {
		t.Fatalf("comparisons = %+v, want warm against cold", rep.Comparisons)
	}
	if c := rep.Comparisons[0]; c.Target != "warm" || c.Baseline != "cold" || c.Ratio <= 0 {
		t.Errorf("comparison %+v: want a positive warm/cold ratio", c)
	}
	if !strings.Contains(stdout, "faster than cold at p50") {
		t.Errorf("the table does not state the ratio:\n%s", stdout)
	}

	svg, err := os.ReadFile(filepath.Join(out, "latency.svg"))
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("latency.svg is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Local == "class" && a.Value == "series" {
					series++
				}
			}
		}
	}
	if series != 2 {
		t.Errorf("latency.svg has %d series, want 2 (warm and cold)", series)
	}
	if n := testdaemon.Sandboxes(t, "bench"); n != 0 {
		t.Errorf("%d cold containers left behind", n)
		testdaemon.RemoveScope("bench")
	}
}

// TestSweepAgainstExec runs a rate sweep in its default shape: the
// daemon at every rate, and the exec baseline (a plain docker exec into
// a warm sandbox) at the lowest rate only, for every language, with the
// comparison and the ceiling reported, and nothing left behind.
func TestSweepAgainstExec(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "--url", d.URL, "--rates", "10,2", "--lang", "python,node,bash",
		"--duration", "2s", "--warmup", "1s", "--out", out)
	if code != 0 {
		t.Fatalf("warmbox bench exited %d\nstdout:\n%s\nstderr:\n%s\ndaemon:\n%s", code, stdout, stderr, d.Logs())
	}
	t.Logf("warmbox bench:\n%s", stdout)
	rep := readReport(t, filepath.Join(out, "report.json"))
	if rep.Sweep == nil || rep.Settings.Baseline != "exec" {
		t.Fatalf("report: sweep %v, baseline %q; want a sweep against exec", rep.Sweep != nil, rep.Settings.Baseline)
	}
	var got []string
	for _, p := range rep.Sweep.Points {
		got = append(got, fmt.Sprintf("%s %s@%g", p.Scenario, p.Target, p.OfferedPerS))
		// At 2/s every language is well under its ceiling: everything is
		// answered right. 10/s is above node's (about 5 to 9/s here), so
		// there the daemon may refuse at capacity (503), nothing else.
		refused := p.Errors["http_503"]
		if p.OfferedPerS == 2 || p.Target == "exec" {
			refused = 0
		}
		if p.OK == 0 || p.OK+refused != p.Sent || p.LatencyMs.P50 <= 0 {
			t.Errorf("%s %s at %g/s: ok %d of %d, errors %v %v", p.Scenario, p.Target, p.OfferedPerS, p.OK, p.Sent, p.Errors, p.ErrorExamples)
		}
	}
	var want []string
	for _, lang := range []string{"python", "node", "bash"} {
		want = append(want, lang+"/hello warm@10", lang+"/hello warm@2", lang+"/hello exec@2")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
	if len(rep.Comparisons) != 3 {
		t.Fatalf("comparisons %+v, want warm against exec per language", rep.Comparisons)
	}
	for _, c := range rep.Comparisons {
		if c.Target != "warm" || c.Baseline != "exec" || c.RatePerS != 2 || c.Ratio <= 0 {
			t.Errorf("comparison %+v; want warm against exec at 2/s", c)
		}
	}
	if !strings.Contains(stdout, "=> at 2/s, warm is ") || !strings.Contains(stdout, "faster than exec at p50") {
		t.Errorf("the table does not state the comparison:\n%s", stdout)
	}
	for _, c := range rep.Sweep.Ceilings {
		if c.PerS <= 0 {
			t.Errorf("%s: no ceiling: %+v", c.Scenario, c)
		}
	}
	svg, err := os.ReadFile(filepath.Join(out, "sweep.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("sweep.svg is not well-formed: %v", err)
	}
	if n := strings.Count(string(svg), `class="series" data-target="exec"`); n != 3 {
		t.Errorf("sweep.svg draws exec in %d panels, want 3", n)
	}
	if n := testdaemon.Sandboxes(t, "bench"); n != 0 {
		t.Errorf("%d exec baseline containers left behind", n)
		testdaemon.RemoveScope("bench")
	}
}

// TestBuiltinsAnswerRight runs every built-in program of every language
// through the daemon: the harness's expected outputs must match what the
// real interpreters print.
func TestBuiltinsAnswerRight(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: config})
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runBench(t, "--url", d.URL, "--targets", "warm", "--scenario", "all",
		"--requests", "2", "--warmup", "0", "--json", out)
	if code != 0 {
		t.Fatalf("warmbox bench exited %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := readReport(t, out)
	if len(rep.Results) != 16 { // 5 kinds x 3 languages, plus the mix
		t.Errorf("got %d results, want 16", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Count != 2 || r.OK != 2 {
			t.Errorf("%s: %d of %d right: errors %v %v", r.Scenario, r.OK, r.Count, r.Errors, r.ErrorExamples)
		}
	}
}

func TestRateLimitedDaemonIsNamed(t *testing.T) {
	d := testdaemon.Start(t, testdaemon.Options{Config: "rate_limit: {requests: 2, window: 60s}\npool: {min_idle: 1, max_size: 2}\n"})
	code, _, stderr := runBench(t, "--url", d.URL, "--targets", "warm", "--lang", "bash", "--scenario", "hello", "--duration", "30s", "--warmup", "0")
	if code != 1 || !strings.Contains(stderr, "429") || !strings.Contains(stderr, "WARMBOX_RATE_LIMIT_REQUESTS=0 make run") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and the advice to restart with the rate limit off", code, stderr)
	}
}

func TestNoDaemonIsNamed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	code, _, stderr := runBench(t, "--url", url, "--targets", "warm")
	want := "no warmbox daemon answers at " + url + ": start it with `WARMBOX_RATE_LIMIT_REQUESTS=0 make run` in another terminal"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, want)
	}
}

func TestRefusesNonLoopback(t *testing.T) {
	code, _, stderr := runBench(t, "--url", "http://192.0.2.1:8000", "--targets", "warm")
	if code != 2 || !strings.Contains(stderr, "not a loopback address") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and a refusal", code, stderr)
	}
}
