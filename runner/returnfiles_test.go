package runner

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

func TestCollectFiles(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("out/a.png", "\x89PNG a")
	write("out/b.png", "\x89PNG bb")
	write("out/c.txt", "not a png")
	write("big.png", strings.Repeat("x", 100))
	write("empty.png", "")
	if err := os.WriteFile(outside, []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a job may plant: a symlink out, a symlink to a directory out,
	// a FIFO that would block a read, a directory named like a match.
	if err := os.Symlink(outside, filepath.Join(dir, "out/link.png")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "out/fifo.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "out/dir.png"), 0o755); err != nil {
		t.Fatal(err)
	}

	files, truncated, err := collectFiles(dir, []string{"out/*.png", "*.png", "escape/*", "out/a.png"}, 10, 50)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Name+"="+string(f.Content))
	}
	want := "empty.png=,out/a.png=\x89PNG a,out/b.png=\x89PNG bb"
	if strings.Join(got, ",") != want || !truncated {
		t.Errorf("got %q truncated %v, want %q and truncated (big.png is over the 50 bytes)", got, truncated, want)
	}

	files, truncated, err = collectFiles(dir, []string{"out/*.png"}, 1, 1000)
	if err != nil || len(files) != 1 || files[0].Name != "out/a.png" || !truncated {
		t.Errorf("at most 1 file: got %v truncated %v err %v", files, truncated, err)
	}
	if files, truncated, err := collectFiles(dir, nil, 10, 1000); files != nil || truncated || err != nil {
		t.Errorf("no patterns: %v %v %v", files, truncated, err)
	}
}

func TestReturnPatterns(t *testing.T) {
	for _, p := range []string{"*.png", "out/*", "result.csv", "[a-c]?.txt"} {
		if err := wire.ValidateReturnPattern(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "../*", "/etc/*", "a/../b", "[a", "a//b", ".", "x\x00"} {
		if err := wire.ValidateReturnPattern(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}
