package runner

import (
	"io"
	"sync"
	"unicode/utf8"
)

// capped keeps the first limit bytes written to it and counts the rest as
// truncated. Its Write never fails, so a reader copying into it keeps
// draining the pipe after the cap and the writer never blocks on a full
// pipe. One goroutine writes; others may read what it kept meanwhile
// (keptSince): kept bytes are only ever appended, never changed.
type capped struct {
	limit int
	// kept, if not nil, is signalled (without blocking) whenever a
	// write keeps new bytes.
	kept chan<- struct{}

	mu        sync.Mutex
	buf       []byte
	truncated bool
}

func newCapped(limit int, kept chan<- struct{}) *capped {
	return &capped{limit: limit, kept: kept}
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	room := max(c.limit-len(c.buf), 0)
	if len(p) > room {
		c.truncated = true
	}
	keep := p[:min(len(p), room)]
	c.buf = append(c.buf, keep...)
	c.mu.Unlock()
	if len(keep) > 0 && c.kept != nil {
		select {
		case c.kept <- struct{}{}:
		default: // a signal is pending already
		}
	}
	return len(p), nil
}

// Bytes returns what was kept. When the stream was truncated, an
// incomplete UTF-8 sequence cut by the cap is dropped, so a multi-byte
// character is never split (binary output may lose up to 3 bytes).
func (c *capped) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.truncated {
		return c.buf
	}
	return trimPartialRune(c.buf)
}

// keptSince returns the bytes kept from offset off on, as they are now
// (more may follow). The caller may read them while writes go on.
func (c *capped) keptSince(off int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf[min(off, len(c.buf)):len(c.buf):len(c.buf)]
}

// trimPartialRune drops a trailing incomplete UTF-8 sequence from b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return b
			}
			return b[:i]
		}
	}
	return b
}

// drain copies r into w until r fails (EOF once every writer is closed,
// or an error once r is closed), with one fixed buffer: no line splitting,
// so no line is ever too long.
func drain(r io.Reader, w io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}
