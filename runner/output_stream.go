package runner

import "github.com/warmbox/warmbox/runner/wire"

// sendOutput sends one "output" frame: the next bytes of stream.
type sendOutput func(stream string, data []byte) error

// streamer sends a streamed job's output while the program runs: each
// time a stream's capped buffer keeps new bytes, it sends them in
// "output" frames of at most OutputChunkBytes. It sends only what the
// buffers keep, so no stream sends more than Limits.OutputBytes in all,
// and the program never waits for it: the pipes drain into the buffers
// whatever happens to the frames. What is still unsent when it stops
// reaches the daemon in the result, which carries the whole output.
type streamer struct {
	send    sendOutput
	kept    <-chan struct{} // signalled by the buffers when they keep bytes
	sources [2]outputSource
	stop    chan struct{}
	done    chan struct{}
}

// outputSource is one stream of a job and how much of it was sent.
type outputSource struct {
	stream string
	out    *capped
	sent   int
}

// startStreamer starts sending what stdout and stderr keep; kept is the
// channel both signal.
func startStreamer(send sendOutput, kept <-chan struct{}, stdout, stderr *capped) *streamer {
	s := &streamer{
		send:    send,
		kept:    kept,
		sources: [2]outputSource{{stream: wire.StreamStdout, out: stdout}, {stream: wire.StreamStderr, out: stderr}},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go s.run()
	return s
}

func (s *streamer) run() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kept:
			if s.sendKept() != nil {
				// The runner's stdout is broken: the result frame
				// fails the same way, and the runner reports it.
				return
			}
		}
	}
}

// sendKept sends what the buffers kept since it last ran.
func (s *streamer) sendKept() error {
	for i := range s.sources {
		src := &s.sources[i]
		data := src.out.keptSince(src.sent)
		for len(data) > 0 {
			n := min(len(data), wire.OutputChunkBytes)
			if err := s.send(src.stream, data[:n]); err != nil {
				return err
			}
			src.sent += n
			data = data[n:]
		}
	}
	return nil
}

// close stops the streamer, waiting for a frame it is sending: once it
// returns, the result may follow on the same stream.
func (s *streamer) close() {
	close(s.stop)
	<-s.done
}
