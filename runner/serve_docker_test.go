package runner

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// Helpers for serve-mode container tests: a sandbox whose PID 1 is
// `runner serve`, talked to over `docker run -i` (the CLI attaches
// before the start, like the daemon), and `runner reset` through docker
// exec for exec mode.

// session is one serve-mode sandbox and its attach stream.
type serveSandbox struct {
	t       *testing.T
	name    string
	stdin   io.WriteCloser
	replies chan frameOrErr
	stderr  *syncBuffer
	cmd     *exec.Cmd
	exited  chan struct{} // closed when docker run has exited
}

type frameOrErr struct {
	rep wire.Reply
	err error
}

// syncBuffer is a bytes.Buffer for a goroutine that writes and a test
// that reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe starts a serve-mode sandbox for lang with the test jobs'
// environment (newJob's) and bootstrap boot ("" for none), plus extra
// docker flags, and waits for its "ready" frame.
func startServe(t *testing.T, lang, boot string, extra ...string) *serveSandbox {
	t.Helper()
	requireDocker(t)
	l := langs[lang]
	s := &serveSandbox{t: t, name: containerName(t), replies: make(chan frameOrErr, 1), stderr: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"run", "-i", "--rm"}, sandboxArgs(t, s.name, "0:0")...)
	serve := wire.Serve{RunnerUID: testRunnerUID, Bootstrap: boot, Env: newJob(lang, "").Env, Command: l.command}
	args = append(append(append(args, extra...), l.image), serve.Args()...)
	cmd := exec.Command("docker", args...)
	s.cmd = cmd
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("docker run: %v", err)
	}
	go func() {
		for {
			var rep wire.Reply
			err := wire.ReadFrame(stdout, &rep)
			s.replies <- frameOrErr{rep, err}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.close() })
	rep, _ := s.next()
	if rep.Kind != "ready" || rep.Error != "" {
		t.Fatalf("first frame: got %+v, want ready without error; stderr: %s", rep, s.stderr)
	}
	return s
}

// close ends stdin, which ends the runner and the sandbox (--rm), and
// returns the runner's exit status (docker run passes it on), or -1.
func (s *serveSandbox) close() int {
	s.stdin.Close()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		return -1
	}
}

// next returns the next reply and how long it took, failing the test on
// a hang or a broken stream.
func (s *serveSandbox) next() (wire.Reply, time.Duration) {
	s.t.Helper()
	start := time.Now()
	select {
	case f := <-s.replies:
		if f.err != nil {
			s.t.Fatalf("read reply: %v; stderr: %s", f.err, s.stderr)
		}
		return f.rep, time.Since(start)
	case <-time.After(dockerLimit):
		s.t.Fatalf("no reply within %v (hang); stderr: %s", dockerLimit, s.stderr)
		return wire.Reply{}, 0
	}
}

// request sends req and returns the reply and the round trip.
func (s *serveSandbox) request(req wire.Request) (wire.Reply, time.Duration) {
	s.t.Helper()
	start := time.Now()
	if err := wire.WriteFrame(s.stdin, req); err != nil {
		s.t.Fatalf("send request: %v; stderr: %s", err, s.stderr)
	}
	rep, _ := s.next()
	return rep, time.Since(start)
}

// run runs job and returns it as an outcome, like execRun.
func (s *serveSandbox) run(job wire.Job) outcome {
	s.t.Helper()
	start := time.Now()
	rep, _ := s.request(wire.Request{Op: "run", Token: testToken, Job: &job})
	if rep.Kind != "accepted" || rep.Token != testToken {
		s.t.Fatalf("first reply to run: got %+v, want the acknowledgement with the request's token", rep)
	}
	rep, _ = s.next()
	took := time.Since(start)
	if rep.Kind != "result" || rep.Result == nil || rep.Token != testToken {
		s.t.Fatalf("reply to run: got %+v, want a result with the request's token", rep)
	}
	return outcome{res: *rep.Result, framed: true, took: took, stderr: s.stderr.String()}
}

// reset asks for a reset and returns the reply's error ("" = ok).
func (s *serveSandbox) reset() string {
	s.t.Helper()
	rep, took := s.request(wire.Request{Op: "reset", Token: testToken})
	if rep.Kind != "reset" || rep.Token != testToken {
		s.t.Fatalf("reply to reset: got %+v, want kind reset with the request's token", rep)
	}
	s.t.Logf("serve reset in %v", took.Round(time.Millisecond))
	return rep.Error
}

// execReset runs `runner reset` in an exec-mode sandbox and returns the
// reply's error ("" = ok).
func execReset(t *testing.T, container string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerLimit)
	defer cancel()
	args := append([]string{"exec", container}, wire.ResetCommand(testRunnerUID, execJobUID(container, false))...)
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("docker exec reset: hang; stderr: %s", stderr.String())
	}
	var rep wire.Reply
	if rerr := wire.ReadFrame(&stdout, &rep); rerr != nil {
		t.Fatalf("docker exec reset: %v, no reply frame (%v); stderr: %s", err, rerr, stderr.String())
	}
	if rep.Kind != "reset" || stdout.Len() != 0 {
		t.Fatalf("reset reply: got %+v and %d more bytes, want one reset frame", rep, stdout.Len())
	}
	t.Logf("exec reset in %v", time.Since(start).Round(time.Millisecond))
	return rep.Error
}

// dockerExec runs a command in a sandbox as user, for setting up cases
// a job cannot produce.
func dockerExec(t *testing.T, container, user string, cmd ...string) {
	t.Helper()
	args := append([]string{"exec", "-u", user, container}, cmd...)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
