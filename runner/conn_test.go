package runner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawConn is a Conn to a fake runner that answers each request with the
// bytes answer(req) returns, frames or not.
func rawConn(t *testing.T, answer func(Request) []byte) *Conn {
	t.Helper()
	toRunner, fromDaemon := io.Pipe()
	toDaemon, fromRunner := io.Pipe()
	go func() {
		defer fromRunner.Close()
		for {
			var req Request
			if err := ReadFrame(toRunner, &req); err != nil {
				return
			}
			if _, err := fromRunner.Write(answer(req)); err != nil {
				return
			}
		}
	}()
	closeAll := func() { fromDaemon.Close(); toDaemon.Close() }
	t.Cleanup(closeAll)
	return NewConn(fromDaemon, toDaemon, fromDaemon.Close, closeAll)
}

func frameBytes(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteFrame(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fullResult is the largest result an honest runner writes for limits:
// both streams at their cap, of the bytes JSON expands most, and a long
// error message of control characters.
func fullResult(limits Limits, token string) Reply {
	res := Result{
		ExitCode: -1, Signal: "SIGKILL", TimedOut: true, OOMKilled: true,
		Stdout: bytes.Repeat([]byte{0xff}, limits.OutputBytes), Stderr: bytes.Repeat([]byte{0xfe}, limits.OutputBytes),
		StdoutTruncated: true, StderrTruncated: true, WallMs: 1e9, CPUTimeMs: 1e9, MemoryPeakKB: 1 << 40,
		Error: strings.Repeat("\x01", 8<<10),
	}
	return Reply{Kind: "result", Token: token, Result: &res}
}

func TestResultFrameBytes(t *testing.T) {
	for _, out := range []int{0, 256, 10240, 1 << 20, MaxOutputBytes} {
		limits := Limits{OutputBytes: out}
		bound := limits.ResultFrameBytes()
		if n := len(frameBytes(t, fullResult(limits, newToken()))) - 4; n > bound {
			t.Errorf("output_bytes %d: an honest full result is %d bytes, over the bound %d", out, n, bound)
		}
		if bound > MaxFrameBytes {
			t.Errorf("output_bytes %d: bound %d over MaxFrameBytes", out, bound)
		}
	}
	if got := (Limits{OutputBytes: 10240}).ResultFrameBytes(); got > 128<<10 {
		t.Errorf("the default 10 KiB caps allow %d-byte result frames, want well under 16 MiB (< 128 KiB)", got)
	}
	if got := (Limits{OutputBytes: -1}).ResultFrameBytes(); got != (Limits{}).ResultFrameBytes() {
		t.Errorf("negative output_bytes: bound %d, want that of 0", got)
	}
	if got := (Limits{OutputBytes: 1 << 30}).ResultFrameBytes(); got > MaxFrameBytes {
		t.Errorf("huge output_bytes: bound %d over MaxFrameBytes", got)
	}
}

func TestReadFrameMax(t *testing.T) {
	small := frameBytes(t, Reply{Kind: "ready"})
	tests := []struct {
		name  string
		input []byte
		limit int
		want  error
	}{
		{"within", small, len(small) - 4, nil},
		{"one over", small, len(small) - 5, ErrFrameTooLarge},
		{"control bound", header(ControlFrameBytes + 1), ControlFrameBytes, ErrFrameTooLarge},
		{"bound above the max is the max", header(MaxFrameBytes + 1), 1 << 30, ErrFrameTooLarge},
		{"negative bound", header(1), -1, ErrFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadFrameMax(bytes.NewReader(tc.input), &Reply{}, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// A header over the reader's bound is refused before anything of its
// size is allocated.
func TestReadFrameMaxDoesNotAllocate(t *testing.T) {
	in := header(MaxFrameBytes)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if err := ReadFrameMax(bytes.NewReader(in), &Reply{}, ControlFrameBytes); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("got %v, want ErrFrameTooLarge", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("10 headers of 16 MiB allocated %d bytes, want < 1 MiB", got)
	}
}

// TestConnFrameBounds: each reply is read with the bound of its kind. A
// longer frame (a job that writes into the runner's stdout under gVisor
// can declare 16 MiB) is refused from its header, whose body never
// comes here, as a lost sandbox: never as a job that did not start.
func TestConnFrameBounds(t *testing.T) {
	job := Job{Command: []string{"sh"}, Entry: "a", Files: []File{{Name: "a"}}, Limits: Limits{TimeoutMs: 1000, OutputBytes: 10240}}
	ack := func(req Request) []byte { return frameBytes(t, Reply{Kind: "accepted", Token: req.Token}) }
	huge := header(MaxFrameBytes) // and no body: reading it would block
	tests := []struct {
		name   string
		answer func(Request) []byte
		call   func(context.Context, *Conn) error
	}{
		{"result over the job's output bound", func(req Request) []byte {
			return append(ack(req), header(uint32(job.Limits.ResultFrameBytes())+1)...)
		}, func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job); return err }},
		{"16 MiB result", func(req Request) []byte { return append(ack(req), huge...) },
			func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job); return err }},
		{"16 MiB instead of the ack", func(Request) []byte { return huge },
			func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job); return err }},
		{"exec-mode result", func(Request) []byte { return huge },
			func(ctx context.Context, c *Conn) error { _, err := c.RunOnce(ctx, job); return err }},
		{"reset", func(Request) []byte { return header(ControlFrameBytes + 1) },
			func(ctx context.Context, c *Conn) error { return c.Reset(ctx) }},
		{"ready", func(Request) []byte { return header(ControlFrameBytes + 1) },
			func(ctx context.Context, c *Conn) error { return c.Hello(ctx) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := tc.call(ctx, rawConn(t, tc.answer))
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("got %v, want ErrFrameTooLarge", err)
			}
			if errors.Is(err, ErrNotStarted) || errors.Is(err, ErrNoAck) {
				t.Errorf("got %v: an over-long frame must not count as a job that never started", err)
			}
		})
	}
}

// An honest runner's largest answers pass the bounds.
func TestConnFrameBoundsHonest(t *testing.T) {
	job := Job{Command: []string{"sh"}, Entry: "a", Files: []File{{Name: "a"}}, Limits: Limits{TimeoutMs: 1000, OutputBytes: 10240}}
	c := rawConn(t, func(req Request) []byte {
		switch req.Op {
		case "run":
			return append(frameBytes(t, Reply{Kind: "accepted", Token: req.Token}), frameBytes(t, fullResult(job.Limits, req.Token))...)
		default:
			return frameBytes(t, Reply{Kind: "reset", Token: req.Token})
		}
	})
	ctx := context.Background()
	res, err := c.Run(ctx, job)
	if err != nil || len(res.Stdout) != job.Limits.OutputBytes || len(res.Stderr) != job.Limits.OutputBytes {
		t.Fatalf("Run: %d+%d output bytes, %v; want both streams full", len(res.Stdout), len(res.Stderr), err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
}
