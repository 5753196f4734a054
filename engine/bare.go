package engine

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// BareExecResult is what a bare docker exec printed and how it ended.
type BareExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int
}

// BareExec runs argv in sandbox c through one plain docker exec (create,
// attach, inspect: what `docker exec -i` does), as the sandbox's runner
// uid with no capability, stdin as its standard input, and no runner in
// between. It is the reference `warmbox bench` measures warm latency
// against; the daemon never calls it. c should be an exec-mode sandbox
// (a prestart one's runner serves its own stream).
func (r *Runtime) BareExec(ctx context.Context, c *Container, argv []string, stdin []byte) (BareExecResult, error) {
	user := strconv.Itoa(c.runnerUID) + ":" + strconv.Itoa(c.runnerUID)
	created, err := r.e.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{
		User: user, AttachStdin: true, AttachStdout: true, AttachStderr: true, WorkingDir: WorkDir, Cmd: argv,
	})
	if err != nil {
		return BareExecResult{}, fmt.Errorf("exec create: %w", err)
	}
	hj, err := r.e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return BareExecResult{}, fmt.Errorf("exec attach: %w", err)
	}
	defer hj.Close()
	stop := context.AfterFunc(ctx, hj.Close) // unblocks the reads below
	defer stop()
	if _, err := hj.Conn.Write(stdin); err != nil {
		return BareExecResult{}, fmt.Errorf("exec stdin: %w", err)
	}
	if err := hj.CloseWrite(); err != nil {
		return BareExecResult{}, fmt.Errorf("exec stdin: %w", err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, hj.Reader); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return BareExecResult{}, fmt.Errorf("exec output: %w", err)
	}
	ins, err := r.e.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return BareExecResult{}, fmt.Errorf("exec inspect: %w", err)
	}
	return BareExecResult{Stdout: out.Bytes(), Stderr: errOut.Bytes(), ExitCode: ins.ExitCode}, nil
}
