package engine

import (
	"context"
	"io"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// BenchmarkHandoffExec is the daemon's exec hand-off of python hello world
// (runner, job frame, result frame) into a fresh warm sandbox;
// BenchmarkBareExec is a bare SDK docker exec of `python3 -c print(1)` into
// the same kind of sandbox. Their ratio is the runner's overhead.
// Container creation is outside the timed region. Run with
//
//	go test -run '^$' -bench 'Exec$' -benchtime 30x ./engine/
func BenchmarkHandoffExec(b *testing.B) {
	benchExec(b, func(ctx context.Context, rt *Runtime, c *Container) error {
		res, err := rt.Handoff(ctx, c, job("print(1)"))
		if err == nil && string(res.Stdout) != "1\n" {
			b.Fatalf("stdout %q", res.Stdout)
		}
		return err
	})
}

func BenchmarkBareExec(b *testing.B) {
	benchExec(b, func(ctx context.Context, rt *Runtime, c *Container) error {
		created, err := rt.e.cli.ContainerExecCreate(ctx, c.id, container.ExecOptions{
			User: SandboxUser, AttachStdout: true, AttachStderr: true, WorkingDir: WorkDir,
			Cmd: []string{"python3", "-c", "print(1)"},
		})
		if err != nil {
			return err
		}
		hj, err := rt.e.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
		if err != nil {
			return err
		}
		defer hj.Close()
		_, err = stdcopy.StdCopy(io.Discard, io.Discard, hj.Reader)
		return err
	})
}

func benchExec(b *testing.B, run func(context.Context, *Runtime, *Container) error) {
	e := newEngine(b)
	rt := e.Sandboxes(spec(HandoffExec))
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		c, err := rt.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := run(ctx, rt, c); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = rt.Destroy(ctx, c)
		b.StartTimer()
	}
}
