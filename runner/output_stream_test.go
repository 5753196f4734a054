package runner

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/warmbox/warmbox/runner/wire"
)

// sentFrames collects what a streamer sends.
type sentFrames struct {
	mu     sync.Mutex
	frames []wire.Reply
	fail   error // returned by every send when set
}

func (f *sentFrames) send(stream string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.frames = append(f.frames, wire.Reply{Kind: "output", Stream: stream, Data: append([]byte(nil), data...)})
	return nil
}

// stream returns what was sent of one stream, and the largest frame.
func (f *sentFrames) stream(name string) (data []byte, largest int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.frames {
		if r.Stream == name {
			data = append(data, r.Data...)
			largest = max(largest, len(r.Data))
		}
	}
	return data, largest
}

func TestCappedSignalsKeptBytes(t *testing.T) {
	kept := make(chan struct{}, 1)
	c := newCapped(5, kept)
	signalled := func() bool {
		select {
		case <-kept:
			return true
		default:
			return false
		}
	}
	c.Write([]byte("abc"))
	if !signalled() {
		t.Error("no signal after bytes were kept")
	}
	if got := string(c.keptSince(1)); got != "bc" {
		t.Errorf("keptSince(1) = %q, want %q", got, "bc")
	}
	c.Write([]byte("defg")) // keeps "de"
	c.Write([]byte("h"))    // keeps nothing
	if !signalled() || signalled() {
		t.Error("want exactly one pending signal after two writes, one of them past the cap")
	}
	if got := string(c.keptSince(3)); got != "de" {
		t.Errorf("keptSince(3) = %q, want %q", got, "de")
	}
	if got := c.keptSince(9); len(got) != 0 {
		t.Errorf("keptSince past the end = %q, want nothing", got)
	}
}

// TestStreamer: what the buffers keep is sent, in order, in chunks of at
// most OutputChunkBytes, never past the cap.
func TestStreamer(t *testing.T) {
	const limit = 3*wire.OutputChunkBytes + 100
	tests := []struct {
		name   string
		stdout []string // writes, in order
		stderr []string
	}{
		{"small writes", []string{"first\n", "second\n"}, []string{"err\n"}},
		{"one write over a chunk", []string{strings.Repeat("x", 2*wire.OutputChunkBytes+7)}, nil},
		{"past the cap", []string{strings.Repeat("a", limit-1), "bcd", "more"}, []string{strings.Repeat("e", 5*wire.OutputChunkBytes)}},
		{"nothing", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				kept := make(chan struct{}, 1)
				stdout, stderr := newCapped(limit, kept), newCapped(limit, kept)
				var sent sentFrames
				s := startStreamer(sent.send, kept, stdout, stderr)
				for i := range max(len(tc.stdout), len(tc.stderr)) {
					if i < len(tc.stdout) {
						stdout.Write([]byte(tc.stdout[i]))
					}
					if i < len(tc.stderr) {
						stderr.Write([]byte(tc.stderr[i]))
					}
					synctest.Wait() // the streamer has sent what was kept
				}
				s.close()
				for _, c := range []struct {
					name   string
					writes []string
					buf    *capped
				}{{wire.StreamStdout, tc.stdout, stdout}, {wire.StreamStderr, tc.stderr, stderr}} {
					got, largest := sent.stream(c.name)
					if !bytes.Equal(got, c.buf.keptSince(0)) {
						t.Errorf("%s: sent %d bytes, want the %d kept", c.name, len(got), len(c.buf.keptSince(0)))
					}
					if want := strings.Join(c.writes, ""); !strings.HasPrefix(want, string(got)) {
						t.Errorf("%s: sent bytes are not a prefix of what was written", c.name)
					}
					if len(got) > limit || largest > wire.OutputChunkBytes {
						t.Errorf("%s: sent %d bytes, frames up to %d; want at most %d and %d", c.name, len(got), largest, limit, wire.OutputChunkBytes)
					}
				}
			})
		})
	}
}

// A streamer whose frames cannot be written stops sending, and close
// still returns.
func TestStreamerSendFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kept := make(chan struct{}, 1)
		stdout, stderr := newCapped(100, kept), newCapped(100, kept)
		sent := sentFrames{fail: errors.New("broken pipe")}
		s := startStreamer(sent.send, kept, stdout, stderr)
		stdout.Write([]byte("a"))
		synctest.Wait()
		stdout.Write([]byte("b")) // nobody reads the signal any more
		s.close()
	})
}

// TestProcessStreamsOutput: a streamed program's first line reaches the
// sender while the program runs: the program waits for a file that the
// test creates only when that line arrived, so without streaming it
// would run into its deadline.
func TestProcessStreamsOutput(t *testing.T) {
	dir := t.TempDir()
	job := wire.Job{
		Files:   []wire.File{{Name: "main.sh", Content: []byte("echo first\nwhile [ ! -e go ]; do sleep 0.01; done\necho second\necho err >&2\n")}},
		Command: []string{"sh"},
		Entry:   "main.sh",
		Env:     []string{"PATH=/usr/bin:/bin"},
		Limits:  wire.Limits{TimeoutMs: 20000, OutputBytes: 1024},
		Stream:  true,
	}
	if err := writeFiles(dir, job.Files); err != nil {
		t.Fatal(err)
	}
	r := newReaper()
	defer r.stop()
	p, err := startProcess(job, dir, r, nil)
	if err != nil {
		t.Fatalf("startProcess: %v", err)
	}
	var sent sentFrames
	var once sync.Once
	s := p.stream(func(stream string, data []byte) error {
		if stream == wire.StreamStdout && bytes.HasPrefix(data, []byte("first\n")) {
			once.Do(func() { os.WriteFile(filepath.Join(dir, "go"), nil, 0o600) })
		}
		return sent.send(stream, data)
	})
	res := p.finish(time.Duration(job.Limits.TimeoutMs)*time.Millisecond, killSession, t.Logf)
	s.close()
	if res.TimedOut || res.ExitCode != 0 {
		t.Fatalf("got timed out %v exit %d: the first line never reached the sender while the program ran", res.TimedOut, res.ExitCode)
	}
	want(t, "stdout", string(res.Stdout), "first\nsecond\n")
	for _, c := range []struct {
		name string
		res  []byte
	}{{wire.StreamStdout, res.Stdout}, {wire.StreamStderr, res.Stderr}} {
		if got, _ := sent.stream(c.name); !bytes.HasPrefix(c.res, got) {
			t.Errorf("%s: streamed %q, not a prefix of the result's %q", c.name, got, c.res)
		}
	}
}
