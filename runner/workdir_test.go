package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmbox/warmbox/runner/wire"
)

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	files := []wire.File{
		{Name: "main.py", Content: []byte("print(1)\n")},
		{Name: "pkg/sub/mod.py", Content: []byte("x = 1\n")},
		{Name: "pkg/empty"},
	}
	if err := writeFiles(dir, files); err != nil {
		t.Fatalf("writeFiles: %v", err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatalf("read back %s: %v", f.Name, err)
		}
		if string(got) != string(f.Content) {
			t.Errorf("%s: got %q, want %q", f.Name, got, f.Content)
		}
	}
}

// Whatever an earlier job left in the work dir, writing never reaches
// outside it and never overwrites.
func TestWriteFilesHostileWorkDir(t *testing.T) {
	tests := []struct {
		name    string
		plant   func(t *testing.T, dir, outside string)
		file    string
		wantErr string
	}{
		{"symlinked dir out", func(t *testing.T, dir, outside string) {
			symlink(t, outside, filepath.Join(dir, "evil"))
		}, "evil/x", "escapes"},
		{"symlinked file out", func(t *testing.T, dir, outside string) {
			symlink(t, filepath.Join(outside, "x"), filepath.Join(dir, "main.py"))
		}, "main.py", "file exists"},
		{"dangling symlink", func(t *testing.T, dir, outside string) {
			symlink(t, filepath.Join(outside, "new"), filepath.Join(dir, "main.py"))
		}, "main.py", "file exists"},
		{"existing file", func(t *testing.T, dir, outside string) {
			os.WriteFile(filepath.Join(dir, "main.py"), []byte("old"), 0o644)
		}, "main.py", "file exists"},
		{"file where a dir goes", func(t *testing.T, dir, outside string) {
			os.WriteFile(filepath.Join(dir, "pkg"), nil, 0o644)
		}, "pkg/mod.py", "file exists"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			tc.plant(t, dir, outside)
			err := writeFiles(dir, []wire.File{{Name: tc.file, Content: []byte("pwned")}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "write file ") {
				t.Errorf("error %q does not name the step", err)
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 0 {
				t.Errorf("a file was created outside the work dir: %v", entries)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
