package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/warmbox/warmbox/runner/wire"
)

// readyTimeout bounds how long a new prestart sandbox may take to load
// its interpreter.
const readyTimeout = 20 * time.Second

// createAttached creates a prestart sandbox: it attaches to the
// container's stdio before starting it (so no frame is missed), starts
// it, and waits for the runner's "ready" frame.
func (r *Runtime) createAttached(ctx context.Context, uid int) (*Container, error) {
	serve := wire.Serve{RunnerUID: uid, Bootstrap: r.spec.Bootstrap, Preload: r.spec.Preload, Env: r.spec.Env, Command: r.spec.Command}
	cfg, host, err := r.containerConfig(ctx, serve.Args())
	if err != nil {
		return nil, err
	}
	cfg.OpenStdin, cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr = true, true, true, true
	resp, err := r.e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("container create: %w", r.e.checkEtcGone(err))
	}
	fail := func(err error) (*Container, error) {
		return nil, errors.Join(err, r.e.remove(ctx, resp.ID))
	}
	hj, err := r.e.cli.ContainerAttach(ctx, resp.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return fail(fmt.Errorf("container attach: %w", err))
	}
	s := openStream(hj)
	if err := r.e.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		s.wait()
		return fail(fmt.Errorf("container start: %w", r.e.checkEtcGone(err)))
	}
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.Ready(readyCtx); err != nil {
		s.wait()
		return fail(err)
	}
	return &Container{id: resp.ID, runnerUID: uid, attached: s}, nil
}

// Reset makes a used sandbox fit for the next job (reuse mode): the
// runner kills every process of the last job's uid, wipes what it left in
// the work dir, /dev/shm, /dev/mqueue and SysV IPC, and verifies that
// nothing is left; the next job gets the next uid. Any error means the
// sandbox must be destroyed.
func (r *Runtime) Reset(ctx context.Context, c *Container) error {
	if c.attached != nil {
		return c.attached.Reset(ctx)
	}
	s, err := r.execRunner(ctx, c, wire.ResetCommand(c.runnerUID, c.runnerUID+c.jobs))
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer s.wait()
	return s.ResetOnce(ctx)
}
