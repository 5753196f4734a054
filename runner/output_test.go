package runner

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCapped(t *testing.T) {
	euro := "\u20ac" // 3 bytes: e2 82 ac
	tests := []struct {
		name          string
		limit         int
		writes        []string
		want          string
		wantTruncated bool
	}{
		{"under", 10, []string{"abc", "de"}, "abcde", false},
		{"exactly", 5, []string{"abc", "de"}, "abcde", false},
		{"over in one write", 4, []string{"abcdef"}, "abcd", true},
		{"over across writes", 4, []string{"abc", "def", "ghi"}, "abcd", true},
		{"full then more", 3, []string{"abc", "d"}, "abc", true},
		{"empty write at cap", 3, []string{"abc", ""}, "abc", false},
		{"zero cap", 0, []string{"a"}, "", true},
		{"zero cap no output", 0, nil, "", false},
		{"cap inside rune", 5, []string{"aaaa" + euro}, "aaaa", true},
		{"cap after 2 of 3 bytes", 6, []string{"aaaa" + euro}, "aaaa", true},
		{"cap at rune end", 7, []string{"aaaa" + euro + "b"}, "aaaa" + euro, true},
		{"cap inside 4-byte rune", 3, []string{"a\U0001F600"}, "a", true},
		{"rune split across writes", 5, []string{"aaaa", euro, "x"}, "aaaa", true},
		{"H27", 10240, []string{strings.Repeat("a", 10239) + strings.Repeat(euro, 100)}, strings.Repeat("a", 10239), true},
		{"invalid bytes kept", 4, []string{"a\xff\xfe\xfdz"}, "a\xff\xfe\xfd", true},
		{"untruncated partial kept", 10, []string{"a\xe2\x82"}, "a\xe2\x82", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCapped(tc.limit, nil)
			for _, w := range tc.writes {
				n, err := c.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%d bytes) = %d, %v; want %d, nil", len(w), n, err, len(w))
				}
			}
			if got := string(c.Bytes()); got != tc.want {
				t.Errorf("Bytes: got %q (%d bytes), want %q (%d bytes)", trunc(got), len(got), trunc(tc.want), len(tc.want))
			}
			if c.truncated != tc.wantTruncated {
				t.Errorf("truncated: got %v, want %v", c.truncated, tc.wantTruncated)
			}
		})
	}
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:20] + "..." + s[len(s)-20:]
	}
	return s
}

// drain must read a stream far larger than the cap, with no newline at
// all, to the end.
func TestDrainLongLine(t *testing.T) {
	src := &countingReader{r: iotest.HalfReader(io.LimitReader(zeros{}, 8<<20))}
	c := newCapped(10240, nil)
	drain(src, c)
	if src.n != 8<<20 {
		t.Errorf("drained %d bytes, want %d", src.n, 8<<20)
	}
	if len(c.Bytes()) != 10240 || !c.truncated {
		t.Errorf("kept %d bytes, truncated %v; want 10240, true", len(c.Bytes()), c.truncated)
	}
	if !bytes.Equal(c.Bytes(), make([]byte, 10240)) {
		t.Error("kept bytes differ from the input")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
