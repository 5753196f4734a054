package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	// ErrNotStarted marks a hand-off that failed before the runner
	// acknowledged the job (the sandbox was already dead or frozen, the
	// backend refused the stream, the stream broke). The job may be given
	// to another sandbox: this one is destroyed, and even if the frame
	// reached a runner that the daemon can no longer hear, a sandbox has
	// no effects outside itself, so the caller sees one result.
	ErrNotStarted = errors.New("job not started")
	// ErrNoResult means the runner ended without a result frame: the job
	// killed it, the kernel did, or the sandbox died mid-job.
	ErrNoResult = errors.New("sandbox ended without a result")
	// ErrForged means a frame from the runner's side did not answer the
	// request: its token is not the request's. Only a job that reached
	// the runner's stdout writes such frames (docs/SECURITY.md F5); the
	// sandbox must be destroyed and the caller gets no result.
	ErrForged = errors.New("a frame that does not answer the request (forged by the job?)")
)

// diagBytes caps what a Conn keeps of the runner's own stderr.
const diagBytes = 4096

// Conn is the daemon's side of a framed stream to a runner, whatever
// carries it (a Docker attach or exec stream, a Kubernetes pods/attach or
// pods/exec session): frames go out on w and come back on r, and what the
// runner writes to its stderr is kept, capped, for error messages.
type Conn struct {
	w          io.Writer
	r          io.Reader
	closeWrite func() error
	close      func()
	diag       *cappedBuffer
}

// NewConn wraps a transport. closeWrite ends the runner's stdin (exec
// mode: one frame, then end of input); close ends the whole stream,
// unblocking any read or write, and must be safe to call more than once.
func NewConn(w io.Writer, r io.Reader, closeWrite func() error, close func()) *Conn {
	return &Conn{w: w, r: r, closeWrite: closeWrite, close: close, diag: &cappedBuffer{max: diagBytes}}
}

// Stderr is where the transport copies the runner's stderr.
func (c *Conn) Stderr() io.Writer { return c.diag }

// Send writes one frame; an error means the runner did not get it whole.
// When ctx ends first, the stream is closed and ctx.Err() returned.
func (c *Conn) Send(ctx context.Context, v any) error {
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	if err := WriteFrame(c.w, v); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// Receive reads one frame of at most limit bytes (ControlFrameBytes,
// Limits.ResultFrameBytes: the caller knows which reply comes next). When
// ctx ends first, the stream is closed and ctx.Err() returned; a stream
// that ends is ErrNoResult, with what the runner said on stderr. A frame
// over limit is ErrFrameTooLarge, refused before it is allocated; the
// stream, now out of step, is closed.
func (c *Conn) Receive(ctx context.Context, v any, limit int) error {
	stop := context.AfterFunc(ctx, c.close)
	defer stop()
	err := ReadFrameMax(c.r, v, limit)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrFrameTooLarge):
		c.close()
		return fmt.Errorf("runner frame refused: %w", err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%w: %v (runner stderr: %s)", ErrNoResult, err, c.diagnostics())
}

// OutputFunc receives a streamed job's output as the runner sends it:
// stream is StreamStdout or StreamStderr, data the stream's next bytes
// (the callee may keep them). A Conn calls it from the goroutine that
// runs the job, between the acknowledgement and the result, so the
// runner waits while it runs: it must return at once.
type OutputFunc func(stream string, data []byte)

// RunOnce hands a job to an exec'd `runner run`: the run request, end of
// input, output frames if onOutput is not nil (the job is then streamed),
// the result frame.
func (c *Conn) RunOnce(ctx context.Context, job Job, onOutput OutputFunc) (Result, error) {
	token := newToken()
	job.Stream = onOutput != nil
	if err := c.Send(ctx, Request{Op: "run", Token: token, Job: &job}); err != nil {
		return Result{}, fmt.Errorf("%w: send job: %w", ErrNotStarted, err)
	}
	_ = c.closeWrite()
	res, err := awaitResult(ctx, token, job.Limits, onOutput, c.receiveReply)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrNoResult) {
		err = fmt.Errorf("%w: %w", ErrNoResult, err)
	}
	if err != nil {
		return Result{}, fmt.Errorf("hand-off: %w", err)
	}
	return res, nil
}

// Run hands a job to a serve-mode runner: a run request, its
// acknowledgement within AckTimeout, output frames if onOutput is not nil
// (the job is then streamed), its result. An error wrapping
// ErrNotStarted means no user code ran; the sandbox must be destroyed
// after any error.
func (c *Conn) Run(ctx context.Context, job Job, onOutput OutputFunc) (Result, error) {
	token := newToken()
	job.Stream = onOutput != nil
	if err := c.Send(ctx, Request{Op: "run", Token: token, Job: &job}); err != nil {
		return Result{}, fmt.Errorf("%w: send job: %w", ErrNotStarted, err)
	}
	res, err := receiveResult(ctx, token, job.Limits, onOutput, c.receiveReply)
	switch {
	case errors.Is(err, ErrNoAck):
		return Result{}, fmt.Errorf("%w: %w", ErrNotStarted, err)
	case err != nil && ctx.Err() == nil && !errors.Is(err, ErrNoResult):
		return Result{}, fmt.Errorf("%w: %w", ErrNoResult, err)
	case err != nil:
		return Result{}, fmt.Errorf("hand-off: %w", err)
	}
	return res, nil
}

// Hello asks a serve-mode runner started with --ready-on-hello for its
// ready frame.
func (c *Conn) Hello(ctx context.Context) error {
	token := newToken()
	if err := c.Send(ctx, Request{Op: "hello", Token: token}); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	return c.ready(ctx, token)
}

// Ready reads the ready frame a serve-mode runner writes when it starts:
// it pre-started its interpreter, or says why not.
func (c *Conn) Ready(ctx context.Context) error {
	return c.ready(ctx, "")
}

func (c *Conn) ready(ctx context.Context, token string) error {
	reply, err := c.reply(ctx, token, ControlFrameBytes)
	if err != nil {
		return fmt.Errorf("waiting for the runner: %w", err)
	}
	if reply.Kind != "ready" || reply.Error != "" {
		return fmt.Errorf("runner not ready: %s %s", reply.Kind, reply.Error)
	}
	return nil
}

// Reset asks a serve-mode runner for a verified reset. Any error means
// the sandbox must be destroyed.
func (c *Conn) Reset(ctx context.Context) error {
	token := newToken()
	if err := c.Send(ctx, Request{Op: "reset", Token: token}); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return c.resetReply(ctx, token)
}

// ResetOnce reads the answer of an exec'd `runner reset`, which needs no
// request (and so has no token). Any error means the sandbox must be
// destroyed.
func (c *Conn) ResetOnce(ctx context.Context) error {
	_ = c.closeWrite()
	return c.resetReply(ctx, "")
}

func (c *Conn) resetReply(ctx context.Context, token string) error {
	reply, err := c.reply(ctx, token, ControlFrameBytes)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if reply.Kind != "reset" || reply.Error != "" {
		return fmt.Errorf("reset: runner answered %q: %s", reply.Kind, reply.Error)
	}
	return nil
}

// reply receives one reply frame of at most limit bytes and checks that
// it answers the request with token ("" for the frames that answer none).
func (c *Conn) reply(ctx context.Context, token string, limit int) (Reply, error) {
	var reply Reply
	if err := c.Receive(ctx, &reply, limit); err != nil {
		return Reply{}, err
	}
	return reply, checkToken(reply, token)
}

func checkToken(reply Reply, token string) error {
	if reply.Token != token {
		return fmt.Errorf("%w: a %q frame", ErrForged, reply.Kind)
	}
	return nil
}

// newToken returns a fresh request token: 128 random bits. The job
// never sees one: it is in the request frame, which the runner has read
// whole before the job starts, and then only in the runner's memory.
func newToken() string {
	return rand.Text()
}

func (c *Conn) diagnostics() string {
	msg := strings.TrimSpace(c.diag.String())
	if msg == "" {
		return "none"
	}
	return msg
}

// cappedBuffer keeps the first max bytes written and drops the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// AckTimeout is how long a daemon waits for a serve-mode runner's
// "accepted" frame after sending a job. A runner that is alive answers
// at once; one that does not (its container frozen or dying) never ran
// the job, so the daemon destroys that sandbox and may try another.
const AckTimeout = 2 * time.Second

// ErrNoAck means a serve-mode runner did not acknowledge a job: it never
// started it.
var ErrNoAck = errors.New("the runner did not acknowledge the job")

// receiver reads one reply frame of at most limit bytes
// (Conn.receiveReply, or a fake in tests).
type receiver func(ctx context.Context, r *Reply, limit int) error

// receiveReply is Receive for a Reply.
func (c *Conn) receiveReply(ctx context.Context, r *Reply, limit int) error {
	return c.Receive(ctx, r, limit)
}

// receiveResult reads a serve-mode runner's answer to the run request
// with token, with receive: the "accepted" frame within AckTimeout (at
// most ControlFrameBytes: a bad request's short result may come instead),
// then what awaitResult reads. An error wrapping ErrNoAck means the job
// never started (the sandbox is unusable and must be destroyed; the job
// may go to another); one wrapping ErrForged or ErrFrameTooLarge, that a
// frame did not answer the request or carried more than the runner
// writes, at any point (the job may have run: it is not given to another
// sandbox). ctx bounds the whole wait.
func receiveResult(ctx context.Context, token string, limits Limits, onOutput OutputFunc, receive receiver) (Result, error) {
	var reply Reply
	ackCtx, cancel := context.WithTimeout(ctx, AckTimeout)
	err := receive(ackCtx, &reply, ControlFrameBytes)
	cancel()
	switch {
	case err != nil && errors.Is(err, ErrFrameTooLarge):
		return Result{}, err
	case err != nil && ctx.Err() != nil:
		return Result{}, err
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		return Result{}, fmt.Errorf("%w within %s", ErrNoAck, AckTimeout)
	case err != nil:
		return Result{}, fmt.Errorf("%w: %w", ErrNoAck, err)
	}
	if err := checkToken(reply, token); err != nil {
		return Result{}, err
	}
	if reply.Kind == "accepted" {
		return awaitResult(ctx, token, limits, onOutput, receive)
	}
	return resultOf(reply)
}

// awaitResult reads the frames that answer the run request with token
// up to its result (at most limits.ResultFrameBytes each: any of them may
// be the result), handing the output frames of a streamed job to
// onOutput (nil: the job is not streamed, and an output frame is not the
// runner's). Every frame must carry the token (ErrForged); an output
// frame with more than OutputChunkBytes, or past limits.OutputBytes of
// its stream in all, is refused as ErrFrameTooLarge.
func awaitResult(ctx context.Context, token string, limits Limits, onOutput OutputFunc, receive receiver) (Result, error) {
	var total [2]int // bytes received of stdout, stderr
	for {
		var reply Reply
		if err := receive(ctx, &reply, limits.ResultFrameBytes()); err != nil {
			return Result{}, err
		}
		if err := checkToken(reply, token); err != nil {
			return Result{}, err
		}
		if reply.Kind != "output" || onOutput == nil {
			return resultOf(reply)
		}
		i := slices.Index([]string{StreamStdout, StreamStderr}, reply.Stream)
		switch {
		case i < 0:
			return Result{}, fmt.Errorf("runner sent output of an unknown stream %.16q", reply.Stream)
		case len(reply.Data) > OutputChunkBytes:
			return Result{}, fmt.Errorf("%w: an output frame of %d bytes, at most %d", ErrFrameTooLarge, len(reply.Data), OutputChunkBytes)
		case total[i]+len(reply.Data) > limits.OutputBytes:
			return Result{}, fmt.Errorf("%w: more than the %d bytes of %s the job may keep", ErrFrameTooLarge, limits.OutputBytes, reply.Stream)
		}
		total[i] += len(reply.Data)
		onOutput(reply.Stream, reply.Data)
	}
}

// resultOf is the result a reply carries, or why it is not a result.
func resultOf(reply Reply) (Result, error) {
	if reply.Kind != "result" || reply.Result == nil {
		return Result{}, fmt.Errorf("runner answered %q: %s", reply.Kind, reply.Error)
	}
	return *reply.Result, nil
}
