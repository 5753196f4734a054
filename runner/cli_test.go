package runner

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Main's "run" and "idle" change the whole process (prctl, signals), so
// they are exercised through the built binary in container tests; usage
// errors are safe to test in-process.
func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"serve"}, {"run", "extra"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := Main(args, strings.NewReader(""), &stdout, &stderr); got != 2 {
				t.Errorf("exit status: got %d, want 2", got)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: got %q, want nothing", stdout.String())
			}
			if !strings.Contains(stderr.String(), "usage: warmbox-runner") {
				t.Errorf("stderr: got %q, want the usage", stderr.String())
			}
		})
	}
}

func TestFrameError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{io.EOF, "bad job frame: no frame before end of input"},
		{io.ErrUnexpectedEOF, "bad job frame: truncated"},
		{ErrFrameTooLarge, "bad job frame: larger than 16777216 bytes"},
		{fmt.Errorf("decode frame: %w", io.ErrShortBuffer), "bad job frame: not a JSON job"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := frameError(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
