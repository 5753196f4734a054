package engine

import (
	"context"
	"testing"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
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
		res, err := rt.Handoff(ctx, c, job("print(1)"), nil)
		if err == nil && string(res.Stdout) != "1\n" {
			b.Fatalf("stdout %q", res.Stdout)
		}
		return err
	})
}

func BenchmarkBareExec(b *testing.B) {
	benchExec(b, func(ctx context.Context, rt *Runtime, c *Container) error {
		res, err := rt.BareExec(ctx, c, []string{"python3", "-c", "print(1)"}, nil)
		if err == nil && (string(res.Stdout) != "1\n" || res.ExitCode != 0) {
			b.Fatalf("stdout %q, exit code %d", res.Stdout, res.ExitCode)
		}
		return err
	})
}

func benchExec(b *testing.B, run func(context.Context, *Runtime, *Container) error) {
	e := newEngine(b)
	rt := e.Sandboxes(spec(sandbox.HandoffExec))
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

// BenchmarkHandoffPrestart is the prestart hand-off of hello world, per
// language, into a fresh warm sandbox, with no HTTP in front: the attach
// stream, the runner's job path and the program. It reports the
// program's own run (go signal to exit, as the runner measures it) as
// program-ms, so the rest, ns/op minus program-ms, is the hand-off's own
// cost.
//
//	go test -run '^$' -bench 'Prestart' -benchtime 40x ./engine/
func BenchmarkHandoffPrestart(b *testing.B) {
	for _, l := range []struct{ name, image, command, file, code string }{
		{"python", "warmbox/python:bookworm", "python3", "main.py", "print('hello')"},
		{"node", "warmbox/node:bookworm", "node", "main.js", "console.log('hello')"},
		{"bash", "warmbox/bash:bookworm", "bash", "main.sh", "echo hello"},
	} {
		b.Run(l.name, func(b *testing.B) {
			sp := spec(sandbox.HandoffPrestart)
			sp.Language, sp.Image, sp.Command, sp.Bootstrap = l.name, l.image, []string{l.command}, l.name
			j := job(l.code)
			j.Command, j.Entry, j.Files[0].Name = sp.Command, l.file, l.file
			benchPrestart(b, newEngine(b).Sandboxes(sp), j)
		})
	}
}

func benchPrestart(b *testing.B, rt *Runtime, j wire.Job) {
	ctx := context.Background()
	var programMs float64
	for b.Loop() {
		b.StopTimer()
		c, err := rt.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // let the container settle, as an idle one has
		b.StartTimer()
		res, err := rt.Handoff(ctx, c, j, nil)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if string(res.Stdout) != "hello\n" {
			b.Fatalf("stdout %q, stderr %q, error %q", res.Stdout, res.Stderr, res.Error)
		}
		programMs += res.WallMs
		_ = rt.Destroy(ctx, c)
		b.StartTimer()
	}
	b.ReportMetric(programMs/float64(b.N), "program-ms/op")
}
