package runner

import (
	"io"
	"unicode/utf8"
)

// capped keeps the first limit bytes written to it and counts the rest as
// truncated. Its Write never fails, so a reader copying into it keeps
// draining the pipe after the cap and the writer never blocks on a full
// pipe.
type capped struct {
	limit     int
	buf       []byte
	truncated bool
}

func newCapped(limit int) *capped {
	return &capped{limit: limit}
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.limit - len(c.buf)
	if len(p) > room {
		c.truncated = true
		c.buf = append(c.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Bytes returns what was kept. When the stream was truncated, an
// incomplete UTF-8 sequence cut by the cap is dropped, so a multi-byte
// character is never split (binary output may lose up to 3 bytes).
func (c *capped) Bytes() []byte {
	if !c.truncated {
		return c.buf
	}
	return trimPartialRune(c.buf)
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
