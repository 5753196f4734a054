package kube

import (
	"context"
	"fmt"

	"github.com/warmbox/warmbox/runner/wire"
)

// Handoff runs job in sandbox p: through the Pod's open attach stream in
// prestart mode, through pods/exec of the runner otherwise; its output
// goes to onOutput as it comes when that is not nil. ctx bounds the
// whole exchange; after an error the caller must destroy the sandbox.
func (r *Runtime) Handoff(ctx context.Context, p *Pod, job wire.Job, onOutput wire.OutputFunc) (wire.Result, error) {
	if p.attached != nil {
		return p.attached.Run(ctx, job, onOutput)
	}
	p.jobs++
	s, err := r.c.open(p.name, "exec", wire.RunCommand(p.runnerUID, p.runnerUID+p.jobs), nil)
	if err != nil {
		return wire.Result{}, err
	}
	defer s.wait()
	return s.RunOnce(ctx, job, onOutput)
}

// Reset makes a used sandbox fit for the next job (reuse mode), as on
// Docker: the runner kills every process of the last job's uid, wipes
// what it left in the work dir and IPC, and verifies that nothing is
// left. Any error means
// the sandbox must be destroyed.
func (r *Runtime) Reset(ctx context.Context, p *Pod) error {
	if p.attached != nil {
		return p.attached.Reset(ctx)
	}
	s, err := r.c.open(p.name, "exec", wire.ResetCommand(p.runnerUID, p.runnerUID+p.jobs), nil)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer s.wait()
	return s.ResetOnce(ctx)
}
