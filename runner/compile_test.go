package runner

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

func compiledJob() wire.Job {
	return wire.Job{
		Files:   []wire.File{{Name: "src/Main.java", Content: []byte("class Main {}")}},
		Command: []string{"java", "-cp", ".classes", "{stem}"},
		Entry:   "src/Main.java",
		Args:    []string{"a", "{stem}"},
		Limits:  wire.Limits{TimeoutMs: 1000, OutputBytes: 100},
		Compile: &wire.Compile{Command: []string{"javac", "-d", ".classes"}, TimeoutMs: 5000},
	}
}

func TestCompiledArgv(t *testing.T) {
	j := compiledJob()
	// The entry is not appended; {stem} is replaced in the command only,
	// never in the caller's args.
	if got, want := j.Argv(), []string{"java", "-cp", ".classes", "src/Main", "a", "{stem}"}; !slices.Equal(got, want) {
		t.Errorf("argv = %q, want %q", got, want)
	}
	j.Compile = nil
	if got, want := j.Argv(), []string{"java", "-cp", ".classes", "{stem}", "src/Main.java", "a", "{stem}"}; !slices.Equal(got, want) {
		t.Errorf("interpreted argv = %q, want %q", got, want)
	}
	if got := compiledJob().MaxDuration(); got != 6*time.Second {
		t.Errorf("MaxDuration = %s, want the program's 1 s and the compiler's 5 s", got)
	}
}

func TestCompileValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*wire.Job)
		want string
	}{
		{"empty compiler", func(j *wire.Job) { j.Compile.Command = nil }, "compile: command must not be empty"},
		{"NUL", func(j *wire.Job) { j.Compile.Command = []string{"cc\x00"} }, "must not contain NUL"},
		{"no timeout", func(j *wire.Job) { j.Compile.TimeoutMs = 0 }, "compile: timeout_ms"},
		{"negative memory", func(j *wire.Job) { j.Compile.DataBytes = -1 }, "compile: data_bytes"},
		{"negative cpu", func(j *wire.Job) { j.Compile.CPUSeconds = -1 }, "compile: data_bytes and cpu_seconds"},
		{"a cell", func(j *wire.Job) { j.Cell = true }, "a session cell has no compile stage"},
	} {
		j := compiledJob()
		tc.edit(&j)
		if err := j.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := compiledJob().Validate(); err != nil {
		t.Errorf("a valid compiled job: %v", err)
	}
}

func TestCompileStatus(t *testing.T) {
	failed := wire.Result{Compile: &wire.Stage{ExitCode: 1}}
	if failed.Status() != "error" {
		t.Errorf("a failed compile: status %q, want error", failed.Status())
	}
	slow := wire.Result{Compile: &wire.Stage{TimedOut: true}}
	if slow.Status() != "error" {
		t.Errorf("a compiler past its timeout: status %q, want error (the program never ran)", slow.Status())
	}
	ran := wire.Result{Compile: &wire.Stage{}, Stage: wire.Stage{ExitCode: 0}}
	if ran.Status() != "success" {
		t.Errorf("compiled and ran: status %q, want success", ran.Status())
	}
}
