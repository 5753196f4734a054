package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/warmbox/warmbox/runner"
)

// stream is a hijacked attach or exec connection to a runner: frames go
// out on its stdin, the runner's frames come back on its demultiplexed
// stdout, and its stderr is kept (capped) for diagnostics.
type stream struct {
	hj     types.HijackedResponse
	frames *io.PipeReader
	diag   *limitedBuffer
	wg     sync.WaitGroup
	once   sync.Once
}

func openStream(hj types.HijackedResponse) *stream {
	pr, pw := io.Pipe()
	s := &stream{hj: hj, frames: pr, diag: &limitedBuffer{max: diagBytes}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, err := stdcopy.StdCopy(pw, s.diag, hj.Reader)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return s
}

// send writes one frame; an error means the runner did not get it whole.
func (s *stream) send(ctx context.Context, v any) error {
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	if err := runner.WriteFrame(s.hj.Conn, v); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// receive reads one frame; when ctx ends first, the stream is closed and
// ctx.Err() returned.
func (s *stream) receive(ctx context.Context, v any) error {
	stop := context.AfterFunc(ctx, s.close)
	defer stop()
	if err := runner.ReadFrame(s.frames, v); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %v (runner stderr: %s)", ErrNoResult, err, s.diagnostics())
	}
	return nil
}

func (s *stream) diagnostics() string {
	msg := strings.TrimSpace(s.diag.String())
	if msg == "" {
		return "none"
	}
	return msg
}

// close ends the connection and waits for the reader goroutine.
func (s *stream) close() {
	s.once.Do(func() {
		s.hj.Close()
		s.frames.CloseWithError(io.ErrClosedPipe)
	})
}

func (s *stream) wait() {
	s.close()
	s.wg.Wait()
}
