package wire

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"slices"
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
		Stage: Stage{
			ExitCode: -1, Signal: "SIGKILL", TimedOut: true, Stdout: bytes.Repeat([]byte{0xff}, limits.OutputBytes),
			Stderr: bytes.Repeat([]byte{0xfe}, limits.OutputBytes), StdoutTruncated: true, StderrTruncated: true,
			WallMs: 1e9, CPUTimeMs: 1e9, MemoryPeakKB: 1 << 40,
		},
		OOMKilled: true,
		Error:     strings.Repeat("\x01", 8<<10),
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
		}, func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job, nil); return err }},
		{"16 MiB result", func(req Request) []byte { return append(ack(req), huge...) },
			func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job, nil); return err }},
		{"16 MiB instead of the ack", func(Request) []byte { return huge },
			func(ctx context.Context, c *Conn) error { _, err := c.Run(ctx, job, nil); return err }},
		{"exec-mode result", func(Request) []byte { return huge },
			func(ctx context.Context, c *Conn) error { _, err := c.RunOnce(ctx, job, nil); return err }},
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
	res, err := c.Run(ctx, job, nil)
	if err != nil || len(res.Stdout) != job.Limits.OutputBytes || len(res.Stderr) != job.Limits.OutputBytes {
		t.Fatalf("Run: %d+%d output bytes, %v; want both streams full", len(res.Stdout), len(res.Stderr), err)
	}
	if err := c.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
}

// streamedJob is a job whose streams may keep 100 bytes each.
var streamedJob = Job{Command: []string{"sh"}, Entry: "a", Files: []File{{Name: "a"}}, Limits: Limits{TimeoutMs: 1000, OutputBytes: 100}}

// received collects what a Conn hands to its OutputFunc.
type received struct{ frames []string }

func (r *received) output(stream string, data []byte) {
	r.frames = append(r.frames, stream+":"+string(data))
}

// TestConnStreams: a streamed job's output frames reach the OutputFunc
// in order, then the result comes, in both hand-off modes; the request
// asks for streaming exactly when there is an OutputFunc.
func TestConnStreams(t *testing.T) {
	out := func(token, stream, data string) []byte {
		return frameBytes(t, Reply{Kind: "output", Token: token, Stream: stream, Data: []byte(data)})
	}
	answer := func(ack bool, streamed *[]bool) func(Request) []byte {
		return func(req Request) []byte {
			*streamed = append(*streamed, req.Job.Stream)
			var b []byte
			if ack {
				b = frameBytes(t, Reply{Kind: "accepted", Token: req.Token})
			}
			if req.Job.Stream {
				b = append(b, out(req.Token, StreamStdout, "first\n")...)
				b = append(b, out(req.Token, StreamStderr, "warn\n")...)
				b = append(b, out(req.Token, StreamStdout, "second\n")...)
			}
			res := Result{Stage: Stage{Stdout: []byte("first\nsecond\n"), Stderr: []byte("warn\n")}}
			return append(b, frameBytes(t, Reply{Kind: "result", Token: req.Token, Result: &res})...)
		}
	}
	for _, mode := range []struct {
		name string
		ack  bool
		run  func(*Conn, context.Context, Job, OutputFunc) (Result, error)
	}{{"serve", true, (*Conn).Run}, {"exec", false, (*Conn).RunOnce}} {
		t.Run(mode.name, func(t *testing.T) {
			var streamed []bool
			var got received
			res, err := mode.run(rawConn(t, answer(mode.ack, &streamed)), context.Background(), streamedJob, got.output)
			if err != nil || string(res.Stdout) != "first\nsecond\n" {
				t.Fatalf("streamed: got %+v, %v", res, err)
			}
			if want := []string{"stdout:first\n", "stderr:warn\n", "stdout:second\n"}; !slices.Equal(got.frames, want) {
				t.Errorf("output: got %q, want %q", got.frames, want)
			}
			if res, err := mode.run(rawConn(t, answer(mode.ack, &streamed)), context.Background(), streamedJob, nil); err != nil || string(res.Stdout) != "first\nsecond\n" {
				t.Fatalf("not streamed: got %+v, %v", res, err)
			}
			if !slices.Equal(streamed, []bool{true, false}) {
				t.Errorf("Job.Stream in the requests: got %v, want [true false]", streamed)
			}
		})
	}
}

// TestConnOutputRefused: an output frame the runner would not send loses
// the sandbox (never a job that did not start, so never retried): one
// without the request's token is forged, one with more than a chunk or
// past the stream's cap is too large, and one that was not asked for, or
// names no stream, or comes before the acknowledgement, is not an
// answer.
func TestConnOutputRefused(t *testing.T) {
	result := func(token string) []byte {
		return frameBytes(t, Reply{Kind: "result", Token: token, Result: &Result{}})
	}
	output := func(token, stream string, n int) []byte {
		return frameBytes(t, Reply{Kind: "output", Token: token, Stream: stream, Data: bytes.Repeat([]byte("x"), n)})
	}
	ack := func(token string) []byte { return frameBytes(t, Reply{Kind: "accepted", Token: token}) }
	tests := []struct {
		name     string
		frames   func(token string) [][]byte // after the acknowledgement, if any
		noAck    bool
		noOutput bool // the job is not streamed
		want     error
	}{
		{name: "forged: no token", frames: func(tok string) [][]byte {
			return [][]byte{output("", StreamStdout, 1), result(tok)}
		}, want: ErrForged},
		{name: "forged: another token", frames: func(tok string) [][]byte {
			return [][]byte{output(tok, StreamStdout, 1), output("guess", StreamStdout, 1), result(tok)}
		}, want: ErrForged},
		{name: "more than a chunk", frames: func(tok string) [][]byte {
			return [][]byte{output(tok, StreamStdout, OutputChunkBytes+1), result(tok)}
		}, want: ErrFrameTooLarge},
		{name: "past the cap", frames: func(tok string) [][]byte {
			return [][]byte{output(tok, StreamStderr, 60), output(tok, StreamStdout, 60), output(tok, StreamStderr, 41), result(tok)}
		}, want: ErrFrameTooLarge},
		{name: "not streamed", noOutput: true, frames: func(tok string) [][]byte {
			return [][]byte{output(tok, StreamStdout, 1), result(tok)}
		}, want: ErrNoResult},
		{name: "unknown stream", frames: func(tok string) [][]byte {
			return [][]byte{output(tok, "stdin", 1), result(tok)}
		}, want: ErrNoResult},
		{name: "before the acknowledgement", noAck: true, frames: func(tok string) [][]byte {
			return [][]byte{output(tok, StreamStdout, 1), ack(tok), result(tok)}
		}, want: ErrNoResult},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			modes := []struct {
				name string
				ack  bool
				run  func(*Conn, context.Context, Job, OutputFunc) (Result, error)
			}{{"serve", !tc.noAck, (*Conn).Run}, {"exec", false, (*Conn).RunOnce}}
			for _, m := range modes {
				if tc.noAck && m.name == "exec" {
					continue // exec mode has no acknowledgement
				}
				t.Run(m.name, func(t *testing.T) {
					c := rawConn(t, func(req Request) []byte {
						var b []byte
						if m.ack {
							b = ack(req.Token)
						}
						return append(b, bytes.Join(tc.frames(req.Token), nil)...)
					})
					var got received
					onOutput := got.output
					if tc.noOutput {
						onOutput = nil
					}
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					res, err := m.run(c, ctx, streamedJob, onOutput)
					if !errors.Is(err, tc.want) {
						t.Fatalf("got %+v, %v; want %v", res, err, tc.want)
					}
					if !errors.Is(err, ErrNoResult) && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, ErrForged) {
						t.Errorf("got %v, want a lost sandbox", err)
					}
					if errors.Is(err, ErrNotStarted) || errors.Is(err, ErrNoAck) {
						t.Errorf("got %v: output frames mean the job started", err)
					}
				})
			}
		})
	}
}

// An honest output frame, a full chunk of the bytes JSON expands most,
// fits within the smallest bound the frames after the acknowledgement
// are read with.
func TestOutputFrameFitsResultBound(t *testing.T) {
	full := Reply{Kind: "output", Token: newToken(), Stream: StreamStderr, Data: bytes.Repeat([]byte{0xff}, OutputChunkBytes)}
	if n, bound := len(frameBytes(t, full))-4, (Limits{}).ResultFrameBytes(); n > bound {
		t.Errorf("a full output frame is %d bytes, over the smallest result bound %d", n, bound)
	}
}
