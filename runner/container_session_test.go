package runner

import (
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// cellJob is the next cell of a session in lang.
func cellJob(lang, code string) wire.Job {
	j := newJob(lang, code)
	j.Cell = true
	return j
}

// TestContainerSession runs cells in one session interpreter per
// language: state persists between cells, a cell's value and its
// uncaught error come back apart from its output, and the session lives
// on after an error.
func TestContainerSession(t *testing.T) {
	type cell struct {
		code           string
		stdout, stderr string
		value          string // "" = none
		exception      string // the error's name, "" = none
		exit           int
	}
	cases := map[string][]cell{
		"python": {
			{code: "x = 20"},
			{code: "x + 22", value: "42"},
			{code: "import sys\nprint('out')\nprint('err', file=sys.stderr)", stdout: "out\n", stderr: "err\n"},
			{code: "1/0", exception: "ZeroDivisionError", exit: 1},
			{code: "open('kept.txt', 'w').write('k')\nx * 2", value: "40"},
			{code: "open('kept.txt').read()", value: "'k'"},
			{code: "print('no value')\nNone", stdout: "no value\n"},
		},
		"node": {
			{code: "let x = 20", value: ""},
			{code: "x + 22", value: "42"},
			{code: "console.log('out'); console.error('err')", stdout: "out\n", stderr: "err\n"},
			{code: "null.foo", exception: "TypeError", exit: 1},
			{code: "const os = require('os'); x * 2", value: "40"},
			{code: "typeof os", value: "'object'"},
		},
		"bash": {
			{code: "x=20"},
			{code: "echo $((x + 22))", stdout: "42\n"},
			{code: "echo err >&2; false", stderr: "err\n", exit: 1},
			{code: "f() { echo \"f $1\"; }; cd /tmp"},
			{code: "f 3; pwd", stdout: "f 3\n/tmp\n"},
		},
	}
	for lang, cells := range cases {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, lang, lang)
			for i, c := range cells {
				res := mustResult(t, s.run(cellJob(lang, c.code)))
				value := ""
				if res.Value != nil {
					value = *res.Value
				}
				exception := ""
				if res.Exception != nil {
					exception = res.Exception.Name
				}
				if string(res.Stdout) != c.stdout || string(res.Stderr) != c.stderr || value != c.value ||
					exception != c.exception || res.ExitCode != c.exit || res.SessionEnded || res.TimedOut {
					t.Errorf("cell %d %q: stdout %q stderr %q value %q exception %q exit %d ended %v timed out %v; want stdout %q stderr %q value %q exception %q exit %d",
						i, c.code, res.Stdout, res.Stderr, value, exception, res.ExitCode, res.SessionEnded, res.TimedOut,
						c.stdout, c.stderr, c.value, c.exception, c.exit)
				}
			}
			// The reset ends the session: the next job starts afresh.
			if msg := s.reset(); msg != "" {
				t.Fatalf("reset after a session: %s", msg)
			}
			fresh := cells[1].code
			res := mustResult(t, s.run(cellJob(lang, fresh)))
			if res.Value != nil && *res.Value == cells[1].value && cells[1].value != "" {
				t.Errorf("after the reset, %q still sees the old session's state (value %q)", fresh, *res.Value)
			}
		})
	}
}

// TestContainerSessionTimeout: a cell past its timeout is interrupted and
// the session lives on (Python's KeyboardInterrupt); one that ignores
// the interrupt ends the session, and the sandbox takes no more cells.
func TestContainerSessionTimeout(t *testing.T) {
	s := startServe(t, "python", "python")
	mustResult(t, s.run(cellJob("python", "y = 1")))
	slow := cellJob("python", "import time\nwhile True: time.sleep(0.05)")
	slow.Limits.TimeoutMs = 500
	res := mustResult(t, s.run(slow))
	if !res.TimedOut || res.SessionEnded || res.Exception == nil || res.Exception.Name != "KeyboardInterrupt" {
		t.Fatalf("interrupted cell: %+v, want timed out with KeyboardInterrupt, session alive", res)
	}
	if res := mustResult(t, s.run(cellJob("python", "y + 1"))); res.Value == nil || *res.Value != "2" {
		t.Fatalf("after an interrupted cell the state is gone: %+v", res)
	}
	stubborn := cellJob("python", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(0.05)")
	stubborn.Limits.TimeoutMs = 500
	start := time.Now()
	res = mustResult(t, s.run(stubborn))
	if !res.TimedOut || !res.SessionEnded {
		t.Fatalf("a cell that ignores the interrupt: %+v, want timed out and the session ended", res)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("ending a stuck session took %v", took)
	}
	o := s.run(cellJob("python", "1"))
	if !o.framed || o.res.Error == "" || !o.res.SessionEnded {
		t.Fatalf("a cell after the session ended: %+v, want an error saying so", o.res)
	}
	if msg := s.reset(); msg != "" {
		t.Fatalf("reset after an ended session: %s", msg)
	}
}

// TestContainerSessionExit: a cell that exits the interpreter ends the
// session with its exit status; a plain job after cells is refused until
// the reset.
func TestContainerSessionExit(t *testing.T) {
	s := startServe(t, "bash", "bash")
	mustResult(t, s.run(cellJob("bash", "echo one")))
	if o := s.run(newJob("bash", "echo plain")); o.res.Error == "" {
		t.Errorf("a plain job in a session sandbox ran: %+v", o.res)
	}
	res := mustResult(t, s.run(cellJob("bash", "echo bye; exit 4")))
	if !res.SessionEnded || res.ExitCode != 4 || string(res.Stdout) != "bye\n" {
		t.Fatalf("exit in a cell: %+v, want the session ended with status 4 and its output", res)
	}
	if msg := s.reset(); msg != "" {
		t.Fatalf("reset: %s", msg)
	}
	if res := mustResult(t, s.run(newJob("bash", "echo fresh"))); string(res.Stdout) != "fresh\n" {
		t.Fatalf("a job after the reset: %+v", res)
	}
}

// TestContainerSessionStreams: a streamed cell's output comes as output
// frames, without the end-of-cell markers.
func TestContainerSessionStreams(t *testing.T) {
	s := startServe(t, "python", "python")
	job := cellJob("python", "for i in range(3): print(i)\n'v'")
	job.Stream = true
	var streamed strings.Builder
	run := s.runStreamed(job, func(rep wire.Reply) { streamed.Write(rep.Data) })
	res := run.res
	if string(res.Stdout) != "0\n1\n2\n" || res.Value == nil || *res.Value != "'v'" {
		t.Fatalf("streamed cell: %+v", res)
	}
	if streamed.String() != "0\n1\n2\n" {
		t.Errorf("streamed %q, want the cell's output without markers", streamed.String())
	}
}

// TestContainerSessionInterrupt: in every language a run past its
// timeout is interrupted and the session keeps its state.
func TestContainerSessionInterrupt(t *testing.T) {
	for lang, c := range map[string]struct{ set, slow, check string }{
		"python": {"kept = 7", "while True: pass", "kept"},
		"node":   {"var kept = 7", "for (;;) {}", "kept"},
		"bash":   {"kept=7", "sleep 100", "echo $kept"},
	} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			s := startServe(t, lang, lang)
			mustResult(t, s.run(cellJob(lang, c.set)))
			slow := cellJob(lang, c.slow)
			slow.Limits.TimeoutMs = 500
			res := mustResult(t, s.run(slow))
			if !res.TimedOut || res.SessionEnded {
				t.Fatalf("interrupted run: %+v, want timed out with the session alive", res)
			}
			res = mustResult(t, s.run(cellJob(lang, c.check)))
			got := strings.TrimSpace(string(res.Stdout))
			if res.Value != nil {
				got = *res.Value
			}
			if got != "7" {
				t.Errorf("after the interrupt the state is gone: %+v", res)
			}
		})
	}
}

// TestContainerSessionPythonExit: exit() in a cell ends the session with
// its status, in that cell's own result.
func TestContainerSessionPythonExit(t *testing.T) {
	s := startServe(t, "python", "python")
	mustResult(t, s.run(cellJob("python", "x = 1")))
	res := mustResult(t, s.run(cellJob("python", "print('bye')\nexit(3)")))
	if !res.SessionEnded || res.ExitCode != 3 || string(res.Stdout) != "bye\n" || res.Exception != nil {
		t.Fatalf("exit(3) in a cell: %+v, want the session ended with status 3 and its output", res)
	}
}
