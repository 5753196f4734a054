package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/warmbox/warmbox/runner"
)

var (
	// ErrNotStarted marks a hand-off that failed before the runner could
	// have received the job (the sandbox was already dead, the engine
	// refused the exec). No user code ran, so another sandbox may be tried.
	ErrNotStarted = errors.New("job not started")
	// ErrNoResult means the runner ended without a result frame: the job
	// killed it, the kernel did, or the container died mid-job.
	ErrNoResult = errors.New("sandbox ended without a result")
)

// diagBytes caps what is kept of the runner's own stderr.
const diagBytes = 4096

// Handoff runs job in sandbox c through `docker exec` of the runner. ctx
// bounds the whole exchange; when it ends first, Handoff returns
// ctx.Err() and the caller must destroy the sandbox (a process started
// by exec is not killed when its stream closes).
func (r *Runtime) Handoff(ctx context.Context, c *Container, job runner.Job) (runner.Result, error) {
	created, err := r.e.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		User:         SandboxUser,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		WorkingDir:   WorkDir,
		Cmd:          []string{RunnerMountPath, "run"},
	})
	if err != nil {
		return runner.Result{}, fmt.Errorf("%w: exec create: %w", ErrNotStarted, err)
	}
	hj, err := r.e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return runner.Result{}, fmt.Errorf("%w: exec attach: %w", ErrNotStarted, err)
	}
	return exchange(ctx, hj, job)
}

// exchange writes the job frame to a hijacked stream and reads the result
// frame from its demultiplexed stdout. It returns only after both of its
// goroutines have ended.
func exchange(ctx context.Context, hj types.HijackedResponse, job runner.Job) (runner.Result, error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer hj.Close()
	stop := context.AfterFunc(ctx, hj.Close)
	defer stop()

	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := runner.WriteFrame(hj.Conn, job); err == nil {
			_ = hj.CloseWrite()
		}
	}()
	pr, pw := io.Pipe()
	diag := &limitedBuffer{max: diagBytes}
	go func() {
		defer wg.Done()
		_, err := stdcopy.StdCopy(pw, diag, hj.Reader)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()

	var res runner.Result
	err := runner.ReadFrame(pr, &res)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		if ctx.Err() != nil {
			return runner.Result{}, fmt.Errorf("hand-off: %w", ctx.Err())
		}
		msg := strings.TrimSpace(diag.String())
		if msg == "" {
			msg = "no diagnostics"
		}
		return runner.Result{}, fmt.Errorf("%w: %v (runner stderr: %s)", ErrNoResult, err, msg)
	}
	return res, nil
}

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
