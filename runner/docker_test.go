package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"

	"github.com/warmbox/warmbox/runner/wire"
)

// Helpers for container_test.go: build the runner, start sandboxes with
// the daemon's flags through the docker CLI, and exchange frames.

// runnerBinary builds the static runner once per test binary, exactly as
// the release build does.
func runnerBinary(t *testing.T) string {
	t.Helper()
	return testdaemon.Runner(t)
}

var dockerOK struct {
	once sync.Once
	err  error
}

// requireDocker fails the test (never skips it) when no engine answers.
func requireDocker(t *testing.T) {
	t.Helper()
	dockerOK.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if err != nil {
			dockerOK.err = errors.New(err.Error() + ": " + strings.TrimSpace(string(out)))
		}
	})
	if dockerOK.err != nil {
		t.Fatalf("docker engine not available (these tests need one): %v", dockerOK.err)
	}
}

const (
	imagePython = "warmbox/python:bookworm"
	imageNode   = "warmbox/node:bookworm"
	imageBash   = "warmbox/bash:bookworm"
)

// testRunnerUID is the runner's uid in the tests' sandboxes (the first
// of its block); job n runs as testRunnerUID+n.
const testRunnerUID = wire.MinSandboxUID

// sandboxArgs are the daemon's container flags (root with the runner's
// three capabilities: user overrides the uid for the cases that test a
// sandbox set up otherwise), plus a name and a label to find leftovers by.
func sandboxArgs(t *testing.T, name, user string) []string {
	return []string{
		"--name", name, "--label", "warmbox-test=runner",
		"--network", "none", "--read-only",
		"--tmpfs", "/tmp:rw,size=50m,mode=1777",
		"--cap-drop", "ALL", "--cap-add", "SETUID", "--cap-add", "SETGID", "--cap-add", "KILL",
		"--security-opt", "no-new-privileges",
		"--pids-limit", "50", "--memory", "256m", "--memory-swap", "256m",
		"--cpus", "0.5", "--user", user,
		"--ulimit", "nofile=1024:1024", "--ulimit", "core=0",
		"-v", runnerBinary(t) + ":/opt/warmbox/runner:ro",
	}
}

func containerName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	name := "warmbox-runner-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		exec.Command("docker", "rm", "-f", name).Run()
	})
	return name
}

// outcome is what one runner invocation gave back.
type outcome struct {
	res    wire.Result
	framed bool // a result frame came back
	exit   int  // exit status of docker run / docker exec
	stderr string
	took   time.Duration
}

// dockerLimit bounds every docker command: a hang fails the test.
const dockerLimit = 90 * time.Second

// invoke runs a docker command with input on stdin and decodes one
// result frame from its stdout.
func invoke(t *testing.T, input []byte, args ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := outcome{took: time.Since(start), stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("docker %s: no answer within %v (hang); stderr: %s", args[0], dockerLimit, o.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		o.exit = ee.ExitCode()
	case err != nil:
		t.Fatalf("docker %s: %v", args[0], err)
	}
	if stdout.Len() > 0 {
		var rep wire.Reply
		if err := wire.ReadFrame(&stdout, &rep); err != nil {
			t.Fatalf("decode result frame (%d bytes): %v; stderr: %s", stdout.Len(), err, o.stderr)
		}
		if rep.Kind != "result" || rep.Result == nil {
			t.Fatalf("reply: got %+v, want a result", rep)
		}
		if early := strings.HasPrefix(rep.Result.Error, "runner setup failed") || strings.HasPrefix(rep.Result.Error, "bad request frame"); rep.Token != testToken && !early {
			t.Fatalf("reply token: got %q, want the request's %q", rep.Token, testToken)
		}
		o.res, o.framed = *rep.Result, true
		if stdout.Len() != 0 {
			t.Errorf("%d bytes after the result frame on the runner's stdout", stdout.Len())
		}
	}
	return o
}

// testToken is the token of the tests' requests.
const testToken = "test-token"

// frame is the run request for job, as the daemon sends it to `run`.
func frame(t *testing.T, job wire.Job) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := wire.WriteFrame(&buf, wire.Request{Op: "run", Token: testToken, Job: &job}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// runFresh runs one job in a fresh container whose PID 1 is the runner
// (`docker run ... runner run`), as job 1 of the block.
func runFresh(t *testing.T, image string, job wire.Job) outcome {
	t.Helper()
	return runAs(t, image, "0:0", frame(t, job))
}

func runAs(t *testing.T, image, user string, input []byte) outcome {
	t.Helper()
	requireDocker(t)
	args := append([]string{"run", "--rm", "-i"}, sandboxArgs(t, containerName(t), user)...)
	args = append(append(args, image), wire.RunCommand(testRunnerUID, testRunnerUID+1)...)
	return invoke(t, input, args...)
}

// execJobs counts the jobs exec'd into each exec-mode sandbox, as the
// daemon's Container does: job n runs as testRunnerUID+n.
var execJobs = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// execJobUID returns the uid of the last job exec'd into container (the
// first job's before any), moving on to the next one first if next.
func execJobUID(container string, next bool) int {
	execJobs.Lock()
	defer execJobs.Unlock()
	if next {
		execJobs.n[container]++
	}
	return testRunnerUID + max(1, execJobs.n[container])
}

// startIdle starts a sandbox in exec mode: the runner's idle command is
// PID 1, and jobs come through execRun.
func startIdle(t *testing.T, image string) string {
	t.Helper()
	requireDocker(t)
	name := containerName(t)
	args := append([]string{"run", "-d"}, sandboxArgs(t, name, "0:0")...)
	args = append(append(args, image), wire.IdleCommand(testRunnerUID)...)
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("start idle sandbox: %v: %s", err, out)
	}
	return name
}

// execRun runs one job in a running sandbox through `docker exec`, the
// daemon's exec mode. The runner is then not PID 1.
func execRun(t *testing.T, container string, job wire.Job) outcome {
	t.Helper()
	cmd := wire.RunCommand(testRunnerUID, execJobUID(container, true))
	return invoke(t, frame(t, job), append([]string{"exec", "-i", container}, cmd...)...)
}

var langs = map[string]struct {
	image, entry string
	command      []string
}{
	"python": {imagePython, "main.py", []string{"python3"}},
	"node":   {imageNode, "main.js", []string{"node"}},
	"bash":   {imageBash, "main.sh", []string{"bash"}},
}

// newJob is a job in lang whose entry holds code, with the daemon's
// default limits.
func newJob(lang, code string) wire.Job {
	l := langs[lang]
	return wire.Job{
		Files:   []wire.File{{Name: l.entry, Content: []byte(code)}},
		Command: l.command,
		Entry:   l.entry,
		Env:     []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "LANG=C.UTF-8"},
		Limits:  wire.Limits{TimeoutMs: 10000, OutputBytes: 10240},
	}
}

// named renames the entry, for a second job in the same container (the
// first job's files are still in /tmp, and files are never overwritten).
func named(job wire.Job, entry string) wire.Job {
	job.Files[0].Name, job.Entry = entry, entry
	return job
}

// mustResult fails unless a result frame without Error came back.
func mustResult(t *testing.T, o outcome) wire.Result {
	t.Helper()
	if !o.framed {
		t.Fatalf("no result frame (exit %d, after %v); stderr: %s", o.exit, o.took, o.stderr)
	}
	if o.res.Error != "" {
		t.Fatalf("result error %q; stderr: %s", o.res.Error, o.stderr)
	}
	return o.res
}
