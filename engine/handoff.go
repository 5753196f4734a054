package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/docker/docker/api/types/container"

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

// Handoff runs job in sandbox c: through the container's open attach
// stream in prestart mode, through `docker exec` of the runner otherwise.
// ctx bounds the whole exchange; when it ends first, Handoff returns
// ctx.Err() and the caller must destroy the sandbox (a process started
// by exec is not killed when its stream closes).
func (r *Runtime) Handoff(ctx context.Context, c *Container, job runner.Job) (runner.Result, error) {
	if c.attached != nil {
		return c.run(ctx, job)
	}
	s, err := r.execRunner(ctx, c, "run")
	if err != nil {
		return runner.Result{}, err
	}
	defer s.wait()
	if err := s.send(ctx, job); err != nil {
		return runner.Result{}, fmt.Errorf("%w: send job: %w", ErrNotStarted, err)
	}
	_ = s.hj.CloseWrite()
	var res runner.Result
	if err := s.receive(ctx, &res); err != nil {
		return runner.Result{}, fmt.Errorf("hand-off: %w", err)
	}
	return res, nil
}

// execRunner starts `runner <mode>` in c through docker exec and returns
// its stream.
func (r *Runtime) execRunner(ctx context.Context, c *Container, mode string) (*stream, error) {
	created, err := r.e.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		User:         SandboxUser,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		WorkingDir:   WorkDir,
		Cmd:          []string{RunnerMountPath, mode},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: exec create: %w", ErrNotStarted, err)
	}
	hj, err := r.e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: exec attach: %w", ErrNotStarted, err)
	}
	return openStream(hj), nil
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
