package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
)

// readyTimeout bounds how long a new prestart sandbox may take to load
// its interpreter.
const readyTimeout = 20 * time.Second

// Hand-off modes.
const (
	HandoffExec     = "exec"
	HandoffPrestart = "prestart"
)

// serveCommand is PID 1 of a prestart sandbox: the runner in serve mode,
// holding the language's interpreter pre-started.
func (s Spec) serveCommand() []string {
	cmd := []string{RunnerMountPath, "serve"}
	if s.Bootstrap != "" {
		cmd = append(cmd, "--bootstrap", s.Bootstrap)
	}
	for _, e := range s.Env {
		cmd = append(cmd, "--env", e)
	}
	return append(append(cmd, "--"), s.Command...)
}

// createAttached creates a prestart sandbox: it attaches to the
// container's stdio before starting it (so no frame is missed), starts
// it, and waits for the runner's "ready" frame.
func (r *Runtime) createAttached(ctx context.Context) (*Container, error) {
	cfg, host := r.containerConfig(r.spec.serveCommand())
	cfg.OpenStdin, cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr = true, true, true, true
	resp, err := r.e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("container create: %w", err)
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
		return fail(fmt.Errorf("container start: %w", err))
	}
	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := s.Ready(readyCtx); err != nil {
		s.wait()
		return fail(err)
	}
	return &Container{id: resp.ID, attached: s}, nil
}

// Reset makes a used sandbox fit for the next job (reuse mode): the
// runner kills every process of the sandbox user, wipes the work dir,
// /dev/shm, /dev/mqueue and SysV IPC, and verifies that nothing is left.
// Any error means the sandbox must be destroyed.
func (r *Runtime) Reset(ctx context.Context, c *Container) error {
	if c.attached != nil {
		return c.attached.Reset(ctx)
	}
	s, err := r.execRunner(ctx, c, "reset")
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer s.wait()
	return s.ResetOnce(ctx)
}
