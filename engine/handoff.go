package engine

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/warmbox/warmbox/runner/wire"
)

// Handoff runs job in sandbox c: through the container's open attach
// stream in prestart mode, through `docker exec` of the runner otherwise;
// its output goes to onOutput as it comes when that is not nil. ctx
// bounds the whole exchange; when it ends first, Handoff returns
// ctx.Err() and the caller must destroy the sandbox (a process started
// by exec is not killed when its stream closes).
func (r *Runtime) Handoff(ctx context.Context, c *Container, job wire.Job, onOutput wire.OutputFunc) (wire.Result, error) {
	if c.attached != nil {
		return c.attached.Run(ctx, job, onOutput)
	}
	c.jobs++
	s, err := r.execRunner(ctx, c, wire.RunCommand(c.runnerUID, c.runnerUID+c.jobs))
	if err != nil {
		return wire.Result{}, err
	}
	defer s.wait()
	return s.RunOnce(ctx, job, onOutput)
}

// execRunner starts the runner with cmd in c through docker exec and
// returns its stream. It starts as root, with the sandbox's capabilities,
// and drops to the runner's uid itself.
func (r *Runtime) execRunner(ctx context.Context, c *Container, cmd []string) (*stream, error) {
	created, err := r.e.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		User:         "0:0",
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		WorkingDir:   WorkDir,
		Cmd:          cmd,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: exec create: %w", wire.ErrNotStarted, err)
	}
	hj, err := r.e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: exec attach: %w", wire.ErrNotStarted, err)
	}
	return openStream(hj), nil
}
