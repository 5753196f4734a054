package bench

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	zero, one := 0, 1
	want := "hello, world\n"
	builtin := Case{Label: "python/hello", Want: &want}
	user := Case{Label: "python/file:x.py"}
	cases := []struct {
		name string
		c    Case
		r    Response
		kind string // "" for right
	}{
		{"right", builtin, Response{Status: "success", Stdout: want, ExitCode: &zero}, ""},
		{"wrong stdout", builtin, Response{Status: "success", Stdout: "hello, warld\n", ExitCode: &zero}, KindWrongOutput},
		{"missing newline", builtin, Response{Status: "success", Stdout: "hello, world", ExitCode: &zero}, KindWrongOutput},
		{"empty answer", builtin, Response{}, KindWrongOutput},
		{"right stdout but failed", builtin, Response{Status: "error", Stdout: want, ExitCode: &one}, KindWrongOutput},
		{"right stdout but timed out", builtin, Response{Status: "timeout", Stdout: want, TimedOut: true}, KindWrongOutput},
		{"truncated", builtin, Response{Status: "success", Stdout: want, ExitCode: &zero, Truncated: Truncated{Stdout: true}}, KindWrongOutput},
		{"user program ran", user, Response{Status: "success", Stdout: "anything"}, ""},
		{"user program failed", user, Response{Status: "error", ExitCode: &one, Stderr: "boom"}, "program_error"},
		{"user program timed out", user, Response{Status: "timeout", TimedOut: true}, "program_timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.c.Check(c.r)
			got := ""
			if err != nil {
				got = ErrorKind(err, false)
			}
			if got != c.kind {
				t.Errorf("Check = %v (kind %q), want kind %q", err, got, c.kind)
			}
		})
	}
}

// TestWrongOutputIsNeverASuccess runs a daemon that answers fast and
// wrong: every request must count as an error, none as latency.
func TestWrongOutputIsNeverASuccess(t *testing.T) {
	f := newFakeDaemon(t, func(f *fakeDaemon) {
		f.answer = func(w http.ResponseWriter, req Request) {
			writeAnswer(w, strings.ToUpper(rightStdout(req)), 0)
		}
	})
	cfg := Config{Model: Closed, Concurrency: 2, Requests: 10, Timeout: time.Second}
	rep, err := Run(context.Background(), cfg, []Target{mustHTTP(t, f.URL)}, []Scenario{mustBuiltin(t, "output", "python")})
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Results[0]
	if res.OK != 0 || res.Errors[KindWrongOutput] != 10 || len(res.SamplesMs) != 0 || res.Throughput != 0 {
		t.Errorf("ok %d, wrong %d, samples %d, throughput %g; want 0, 10, 0, 0", res.OK, res.Errors[KindWrongOutput], len(res.SamplesMs), res.Throughput)
	}
	if rep.WrongOutputs() != 10 {
		t.Errorf("WrongOutputs() = %d, want 10", rep.WrongOutputs())
	}
	if !strings.Contains(res.ErrorExamples[KindWrongOutput], "LINE 000") {
		t.Errorf("example %q does not show the wrong stdout", res.ErrorExamples[KindWrongOutput])
	}
}

func TestBuiltinsExist(t *testing.T) {
	for _, k := range Kinds {
		for _, l := range Languages {
			s, err := Builtin(k, l)
			if err != nil {
				t.Fatalf("Builtin(%s, %s): %v", k, l, err)
			}
			c := s.pick(nil)
			if c.Want == nil || *c.Want == "" || c.Request.Code == "" || c.Request.Environment != l {
				t.Errorf("%s: incomplete case %+v", s.Name, c)
			}
		}
	}
	if _, err := Builtin("hello", "cobol"); err == nil {
		t.Error("Builtin for an unknown language succeeded")
	}
	if _, err := Builtin("sleep", "python"); err == nil {
		t.Error("Builtin for an unknown kind succeeded")
	}
}

func TestMix(t *testing.T) {
	w, err := ParseMix("hello=3, cpu=1,stdin=0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Mix([]string{"python", "bash"}, w)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 4000 {
		seen[s.pick(r).Label]++
	}
	for _, l := range []string{"python/hello", "bash/hello", "python/cpu", "bash/cpu"} {
		if seen[l] == 0 {
			t.Errorf("mix never drew %s: %v", l, seen)
		}
	}
	if seen["python/stdin"] != 0 || len(seen) != 4 {
		t.Errorf("mix drew programs of weight 0 or unknown: %v", seen)
	}
	// hello weighs three times cpu: allow generous slack.
	if h, c := seen["python/hello"]+seen["bash/hello"], seen["python/cpu"]+seen["bash/cpu"]; h < 2*c || h > 4*c {
		t.Errorf("hello drawn %d times, cpu %d: want about 3:1", h, c)
	}
}

func TestParseMixErrors(t *testing.T) {
	for _, spec := range []string{"", "hello", "hello=x", "hello=-1", "sleep=2"} {
		if _, err := ParseMix(spec); err == nil {
			t.Errorf("ParseMix(%q) succeeded, want an error", spec)
		}
	}
	if _, err := Mix([]string{"python"}, map[string]int{"hello": 0}); err == nil {
		t.Error("a mix with every weight zero was accepted")
	}
}

func TestNewHTTPRefusesNonLoopback(t *testing.T) {
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"http://127.0.0.1:8000", true},
		{"http://127.1.2.3:8000", true},
		{"http://localhost:8000/", true},
		{"http://[::1]:8000", true},
		{"https://127.0.0.1", true},
		{"http://10.0.0.1:8000", false},
		{"http://192.168.1.10", false},
		{"http://0.0.0.0:8000", false},
		{"http://example.com", false},
		{"http://localhost.example.com", false},
		{"http://[2001:db8::1]:8000", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8000", false},
	} {
		t.Run(c.url, func(t *testing.T) {
			_, err := NewHTTP("warm", c.url, "", 1)
			if (err == nil) != c.ok {
				t.Errorf("NewHTTP(%q) error = %v, want ok=%v", c.url, err, c.ok)
			}
		})
	}
}
