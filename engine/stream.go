package engine

import (
	"io"
	"sync"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/warmbox/warmbox/runner/wire"
)

// stream is a hijacked attach or exec connection to a runner: frames go
// out on its stdin and come back on its demultiplexed stdout (see
// wire.Conn).
type stream struct {
	*wire.Conn
	hj     types.HijackedResponse
	frames *io.PipeReader
	wg     sync.WaitGroup
	once   sync.Once
}

func openStream(hj types.HijackedResponse) *stream {
	pr, pw := io.Pipe()
	s := &stream{hj: hj, frames: pr}
	s.Conn = wire.NewConn(hj.Conn, pr, hj.CloseWrite, s.close)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_, err := stdcopy.StdCopy(pw, s.Stderr(), hj.Reader)
		if err == nil {
			err = io.EOF
		}
		pw.CloseWithError(err)
	}()
	return s
}

// close ends the connection.
func (s *stream) close() {
	s.once.Do(func() {
		s.hj.Close()
		s.frames.CloseWithError(io.ErrClosedPipe)
	})
}

// wait closes the connection and waits for its reader goroutine.
func (s *stream) wait() {
	s.close()
	s.wg.Wait()
}
