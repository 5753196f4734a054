package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
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
		{io.EOF, "bad request frame: no frame before end of input"},
		{io.ErrUnexpectedEOF, "bad request frame: truncated"},
		{wire.ErrFrameTooLarge, "bad request frame: larger than 16777216 bytes"},
		{fmt.Errorf("decode frame: %w", io.ErrShortBuffer), "bad request frame: not a JSON request"},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := frameError(tc.err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInstall(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "runner")
	var stdout, stderr bytes.Buffer
	if got := Main([]string{"install", dest}, strings.NewReader(""), &stdout, &stderr); got != 0 {
		t.Fatalf("exit status %d: %s", got, stderr.String())
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dest)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("installed copy differs from the executable (%d vs %d bytes)", len(got), len(want))
	}
	st, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o555 {
		t.Errorf("mode: got %o, want 555", perm)
	}
	// An existing file is never overwritten.
	stderr.Reset()
	if got := Main([]string{"install", dest}, strings.NewReader(""), &stdout, &stderr); got != 1 {
		t.Errorf("second install: exit status %d, want 1", got)
	}
	if !strings.Contains(stderr.String(), "exists") {
		t.Errorf("second install: stderr %q does not say the file exists", stderr.String())
	}
}
