package wire

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateFileName(t *testing.T) {
	long := strings.Repeat("a", MaxFileNameComponent)
	tests := []struct {
		name    string
		in      string
		wantErr string // "" means valid
	}{
		{"plain", "main.py", ""},
		{"nested", "pkg/sub/mod.py", ""},
		{"dotfile", ".hidden", ""},
		{"dots inside", "a..b/c...", ""},
		{"unicode", "données/ü.txt", ""},
		{"space", "my file.txt", ""},
		{"component at max", long, ""},
		{"eight components", "a/b/c/d/e/f/g/h", ""},
		{"empty", "", "must not be empty"},
		{"absolute", "/etc/passwd", "must be relative"},
		{"root", "/", "must be relative"},
		{"dotdot", "..", `must not contain ".."`},
		{"dotdot prefix", "../x", `must not contain ".."`},
		{"dotdot inside", "a/../../x", `must not contain ".."`},
		{"dot", ".", `must not contain "." components`},
		{"dot prefix", "./main.py", `must not contain "." components`},
		{"empty component", "a//b", "must not contain empty components"},
		{"trailing slash", "a/", "must not contain empty components"},
		{"NUL", "a\x00b", "control characters or NUL"},
		{"newline", "a\nb", "control characters"},
		{"tab", "a\tb", "control characters"},
		{"DEL", "a\x7fb", "control characters"},
		{"backslash", `a\b`, `must not contain "\"`},
		{"backslash dotdot", `..\x`, `must not contain "\"`},
		{"invalid UTF-8", "a\xffb", "valid UTF-8"},
		{"component too long", long + "a", "at most 255 bytes"},
		{"too long", strings.Repeat("abcdefg/", 128) + "x", "at most 1024 bytes"},
		{"nine components", "a/b/c/d/e/f/g/h/i", "at most 8 path components"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateFileName(tc.in)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ValidateFileName(%q): got %v, want nil", tc.in, err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("ValidateFileName(%q): got nil, want error containing %q", tc.in, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("ValidateFileName(%q): got %q, want it to contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestValidateFileNameMessage(t *testing.T) {
	got := ValidateFileName("../x")
	want := `file name "../x": must not contain ".."`
	if got == nil || got.Error() != want {
		t.Errorf("got %v, want %q", got, want)
	}
	// A hostile name is shortened in the message.
	if err := ValidateFileName(strings.Repeat("/", 5000)); len(err.Error()) > 200 {
		t.Errorf("message for a 5000-byte name is %d bytes, want <= 200", len(err.Error()))
	}
}

func validJob() Job {
	return Job{
		Files:   []File{{Name: "main.py"}, {Name: "lib/helper.py"}},
		Command: []string{"python3"},
		Entry:   "main.py",
		Env:     []string{"PATH=/usr/bin", "EMPTY="},
		Limits:  Limits{TimeoutMs: 1000, OutputBytes: 10240},
	}
}

func TestJobValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Job)
		wantErr string
	}{
		{"valid", func(*Job) {}, ""},
		{"zero output cap", func(j *Job) { j.Limits.OutputBytes = 0 }, ""},
		{"bad file name", func(j *Job) { j.Files[1].Name = "../x" }, `"../x": must not contain ".."`},
		{"duplicate", func(j *Job) { j.Files[1].Name = "main.py" }, `"main.py": duplicate`},
		{"file used as dir", func(j *Job) { j.Files[0].Name = "lib" }, `"lib" is a file, not a directory`},
		{"no entry", func(j *Job) { j.Entry = "" }, "entry must name one of the files"},
		{"entry missing", func(j *Job) { j.Entry = "other.py" }, `entry "other.py": not one of the files`},
		{"entry is option", func(j *Job) { j.Files[0].Name, j.Entry = "-c", "-c" }, `must not start with "-"`},
		{"no files", func(j *Job) { j.Files = nil }, "entry"},
		{"no command", func(j *Job) { j.Command = nil }, "command must not be empty"},
		{"empty command", func(j *Job) { j.Command = []string{""} }, "command must not be empty"},
		{"NUL in arg", func(j *Job) { j.Args = []string{"a\x00"} }, "NUL"},
		{"env without =", func(j *Job) { j.Env = []string{"PATH"} }, "KEY=VALUE"},
		{"env empty key", func(j *Job) { j.Env = []string{"=x"} }, "KEY=VALUE"},
		{"zero timeout", func(j *Job) { j.Limits.TimeoutMs = 0 }, "timeout_ms"},
		{"huge timeout", func(j *Job) { j.Limits.TimeoutMs = 1 << 62 }, "timeout_ms"},
		{"negative output", func(j *Job) { j.Limits.OutputBytes = -1 }, "output_bytes"},
		{"huge output", func(j *Job) { j.Limits.OutputBytes = MaxOutputBytes + 1 }, "output_bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := validJob()
			tc.edit(&j)
			err := j.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("got nil, want error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("got %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func FuzzValidateFileName(f *testing.F) {
	for _, s := range []string{"main.py", "a/b", "../x", "a/./b", "/abs", "a\\b", "a//b", "..", ".a", "a\x00"} {
		f.Add(s)
	}
	const root = "/work/root"
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateFileName(name) != nil {
			return
		}
		if !filepath.IsLocal(name) {
			t.Fatalf("accepted %q, which filepath.IsLocal rejects", name)
		}
		if filepath.Clean(name) != name {
			t.Fatalf("accepted %q, which cleans to %q", name, filepath.Clean(name))
		}
		joined := filepath.Join(root, name)
		if !strings.HasPrefix(joined, root+"/") {
			t.Fatalf("accepted %q, which joins to %q outside %s", name, joined, root)
		}
	})
}
