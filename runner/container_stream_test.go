package runner

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

// Streamed jobs in real sandboxes, in both modes: the output frames come
// while the program runs, carry the request's token, never pass the
// caps, and the result is the same as without streaming.

// streamCode prints a first line, waits until /tmp/go exists (the test
// creates it once the first line reached it as an output frame), then
// prints a second line and a line on stderr. Without streaming it would
// run into its deadline.
var streamCode = map[string]string{
	"python": "import os, sys, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/go'):\n    time.sleep(0.01)\nprint('second')\nprint('err', file=sys.stderr)",
	"node":   "const fs = require('fs');\nconsole.log('first');\nconst wait = () => fs.existsSync('/tmp/go') ? (console.log('second'), console.error('err')) : setTimeout(wait, 10);\nwait();",
	"bash":   "echo first\nuntil [ -e /tmp/go ]; do sleep 0.01; done\necho second\necho err >&2",
}

// streamedRun is what one streamed run gave back.
type streamedRun struct {
	outputs []wire.Reply // the output frames, in order
	res     wire.Result
}

// checkStreamed checks a streamed run's frames against its result and
// the job's cap.
func checkStreamed(t *testing.T, run streamedRun, limit int) {
	t.Helper()
	var streams [2][]byte
	for _, f := range run.outputs {
		if f.Kind != "output" || f.Token != testToken || len(f.Data) == 0 || len(f.Data) > wire.OutputChunkBytes {
			t.Errorf("frame before the result: kind %q token %q, %d bytes; want output frames of the request, 1 to %d bytes",
				f.Kind, f.Token, len(f.Data), wire.OutputChunkBytes)
		}
		switch f.Stream {
		case wire.StreamStdout:
			streams[0] = append(streams[0], f.Data...)
		case wire.StreamStderr:
			streams[1] = append(streams[1], f.Data...)
		default:
			t.Errorf("output frame of stream %q", f.Stream)
		}
	}
	for i, res := range [][]byte{run.res.Stdout, run.res.Stderr} {
		if len(streams[i]) > limit || !bytes.HasPrefix(res, trimPartialRune(streams[i])) {
			t.Errorf("stream %d: sent %d bytes (cap %d), %q...; want a prefix of the result's %q...",
				i, len(streams[i]), limit, head(streams[i]), head(res))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }

// runStreamed runs job streamed in a serve-mode session; onOutput sees
// each output frame as it comes.
func (s *serveSandbox) runStreamed(job wire.Job, onOutput func(wire.Reply)) streamedRun {
	s.t.Helper()
	job.Stream = true
	rep, _ := s.request(wire.Request{Op: "run", Token: testToken, Job: &job})
	if rep.Kind != "accepted" || rep.Token != testToken {
		s.t.Fatalf("first reply to run: got %+v, want the acknowledgement", rep)
	}
	var run streamedRun
	for {
		rep, _ := s.next()
		if rep.Kind != "output" {
			if rep.Kind != "result" || rep.Result == nil || rep.Token != testToken {
				s.t.Fatalf("reply to run: got %+v, want a result with the request's token", rep)
			}
			run.res = *rep.Result
			return run
		}
		run.outputs = append(run.outputs, rep)
		onOutput(rep)
	}
}

// execStreamed runs job streamed through `docker exec` of `runner run`,
// reading the frames as they come; onOutput sees each output frame.
func execStreamed(t *testing.T, container string, job wire.Job, onOutput func(wire.Reply)) streamedRun {
	t.Helper()
	job.Stream = true
	ctx, cancel := context.WithTimeout(context.Background(), dockerLimit)
	defer cancel()
	args := append([]string{"exec", "-i", container}, wire.RunCommand(testRunnerUID, execJobUID(container, true))...)
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = bytes.NewReader(frame(t, job))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	var run streamedRun
	for {
		var rep wire.Reply
		if err := wire.ReadFrame(stdout, &rep); err != nil {
			t.Fatalf("read frame: %v; stderr: %s", err, stderr.String())
		}
		if rep.Kind != "output" {
			if rep.Kind != "result" || rep.Result == nil || rep.Token != testToken {
				t.Fatalf("reply: got %+v, want a result with the request's token", rep)
			}
			run.res = *rep.Result
			return run
		}
		run.outputs = append(run.outputs, rep)
		onOutput(rep)
	}
}

// TestContainerStreams: in both modes and every language, the first line
// reaches the daemon's side while the program runs (it waits for proof
// of that), with the request's token, and the result holds it all.
func TestContainerStreams(t *testing.T) {
	t.Parallel()
	for lang, code := range streamCode {
		for _, mode := range []string{"serve", "exec"} {
			t.Run(lang+"/"+mode, func(t *testing.T) {
				t.Parallel()
				job := newJob(lang, code)
				job.Limits.TimeoutMs = 30000
				var name string
				var run func(func(wire.Reply)) streamedRun
				if mode == "serve" {
					s := startServe(t, lang, lang)
					name, run = s.name, func(f func(wire.Reply)) streamedRun { return s.runStreamed(job, f) }
				} else {
					name = startIdle(t, langs[lang].image)
					run = func(f func(wire.Reply)) streamedRun { return execStreamed(t, name, job, f) }
				}
				released := false
				got := run(func(rep wire.Reply) {
					if !released && rep.Stream == wire.StreamStdout && strings.HasPrefix(string(rep.Data), "first\n") {
						released = true
						dockerExec(t, name, "0:0", "touch", "/tmp/go")
					}
				})
				res := got.res
				if res.Error != "" || res.TimedOut || res.ExitCode != 0 {
					t.Fatalf("got %+v: the first line did not come out while the program ran", res)
				}
				want(t, "stdout", string(res.Stdout), "first\nsecond\n")
				want(t, "stderr", string(res.Stderr), "err\n")
				checkStreamed(t, got, job.Limits.OutputBytes)
			})
		}
	}
}

// TestContainerStreamCaps: a streamed flood on both streams sends at
// most the cap of each, and its result equals the unstreamed one.
func TestContainerStreamCaps(t *testing.T) {
	t.Parallel()
	const flood = "import os, sys\nfor _ in range(20):\n    os.write(1, b'x' * 5000)\n    os.write(2, b'\\xe2\\x82\\xac' * 2000)\nprint('end')"
	for _, mode := range []string{"serve", "exec"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			job := newJob("python", flood)
			var plain, streamed wire.Result
			var got streamedRun
			ignore := func(wire.Reply) {}
			if mode == "serve" {
				s := startServe(t, "python", "python")
				plain = mustResult(t, s.run(job))
				if e := s.reset(); e != "" {
					t.Fatalf("reset: %s", e)
				}
				got = s.runStreamed(job, ignore)
			} else {
				c := startIdle(t, imagePython)
				plain = mustResult(t, execRun(t, c, job))
				if e := execReset(t, c); e != "" {
					t.Fatalf("reset: %s", e)
				}
				got = execStreamed(t, c, job, ignore)
			}
			streamed = got.res
			compareResults(t, streamed, plain)
			if !streamed.StdoutTruncated || !streamed.StderrTruncated {
				t.Errorf("truncated %v/%v, want both", streamed.StdoutTruncated, streamed.StderrTruncated)
			}
			checkStreamed(t, got, job.Limits.OutputBytes)
		})
	}
}
