package engine

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"

	"github.com/warmbox/warmbox/runner/wire"
)

// RunCold runs one job the way the original platform did: a new container
// per request (create, attach, start, wait, remove), with the same
// sandbox settings and the same runner as the warm path. It exists as the
// benchmark baseline; the daemon never uses it on the request path.
func (r *Runtime) RunCold(ctx context.Context, job wire.Job) (wire.Result, error) {
	// One job, so any block will do: the container is gone before the
	// next, and per-uid budgets it shares are shared for one job.
	uid, err := r.e.blocks.Take()
	if err != nil {
		return wire.Result{}, fmt.Errorf("cold create: %w", err)
	}
	defer r.e.blocks.Put(uid)
	cfg, host, err := r.containerConfig(ctx, wire.RunCommand(uid, uid+1))
	if err != nil {
		return wire.Result{}, fmt.Errorf("cold create: %w", err)
	}
	cfg.OpenStdin, cfg.StdinOnce, cfg.AttachStdin = true, true, true
	cfg.AttachStdout, cfg.AttachStderr = true, true
	resp, err := r.e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return wire.Result{}, fmt.Errorf("cold create: %w", r.e.checkEtcGone(err))
	}
	defer func() { _ = r.e.remove(ctx, resp.ID) }()
	hj, err := r.e.cli.ContainerAttach(ctx, resp.ID, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return wire.Result{}, fmt.Errorf("cold attach: %w", err)
	}
	s := openStream(hj)
	defer s.wait()
	if err := r.e.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return wire.Result{}, fmt.Errorf("cold start: %w", err)
	}
	res, err := s.RunOnce(ctx, job, nil)
	if err != nil {
		return wire.Result{}, fmt.Errorf("cold run: %w", err)
	}
	return res, nil
}
