package runner

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wipe and the parsers of reset on the host. The whole reset (kill,
// wipe, verify) runs in containers: see container_reset_test.go.

func TestWipe(t *testing.T) {
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "keep"), "precious")

	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, ".dotfile"), "x")
	mustWrite(t, filepath.Join(dir, "a/b/c/deep.txt"), "x")
	mustWrite(t, filepath.Join(dir, "locked/inner/f"), "x")
	mustWrite(t, filepath.Join(dir, "readonly/f"), "x")
	for _, l := range []struct{ target, name string }{
		{outside, "dirlink"},
		{filepath.Join(outside, "keep"), "filelink"},
		{"/nonexistent", "dangling"},
	} {
		if err := os.Symlink(l.target, filepath.Join(dir, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	// Inner first: a mode-000 parent could not be entered to chmod it.
	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{"locked/inner", 0}, {"locked", 0}, {"readonly", 0o500}} {
		if err := os.Chmod(filepath.Join(dir, c.path), c.mode); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o700) })

	if err := wipe(dir, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("wipe: %v", err)
	}
	if names, _ := dirNames(dir); len(names) != 0 {
		t.Errorf("left in the dir: %q", names)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the dir itself: %v, want it kept", err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(b) != "precious" {
		t.Errorf("a symlink was followed: outside file %q, %v", b, err)
	}
}

func TestWipeLimits(t *testing.T) {
	t.Run("missing dir", func(t *testing.T) {
		err := wipe(filepath.Join(t.TempDir(), "none"), time.Now().Add(time.Second))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want os.ErrNotExist", err)
		}
	})
	t.Run("too deep", func(t *testing.T) {
		dir := t.TempDir()
		deep := filepath.Join(append([]string{dir}, slices.Repeat([]string{"d"}, maxWipeDepth+2)...)...)
		if err := os.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		err := wipe(dir, time.Now().Add(5*time.Second))
		if err == nil || !strings.Contains(err.Error(), "nested deeper than") {
			t.Errorf("got %v, want a depth error", err)
		}
	})
	t.Run("out of time", func(t *testing.T) {
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "f"), "x")
		err := wipe(dir, time.Now().Add(-time.Second))
		if !errors.Is(err, errDeadline) {
			t.Errorf("got %v, want %v", err, errDeadline)
		}
	})
}

// An inode bomb's worth of files goes well within the reset's budget.
func TestWipeManyFiles(t *testing.T) {
	dir := t.TempDir()
	for i := range 10000 {
		f, err := os.Create(filepath.Join(dir, "f"+strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	start := time.Now()
	if err := wipe(dir, time.Now().Add(resetBudget)); err != nil {
		t.Fatalf("wipe: %v", err)
	}
	t.Logf("wiped 10000 files in %v", time.Since(start))
}

func TestParseSysvipc(t *testing.T) {
	shm := "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n" +
		"         0          3   600                  4096    12    12      0 65534 65534 65534 65534          0          0 1764133000                     0                     0\n" +
		"1234567890      32769   666                  8192    13    13      1 65534 65534 65534 65534          0          0 1764133000                  4096                     0\n"
	tests := []struct {
		name string
		data string
		want []int
		bad  bool
	}{
		{"header only", "       key      msqid perms\n", nil, false},
		{"empty", "", nil, false},
		{"two rows", shm, []int{3, 32769}, false},
		{"short row", "key id\n0\n", nil, true},
		{"bad id", "key id\n0 x\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSysvipc([]byte(tc.data))
			if (err != nil) != tc.bad {
				t.Fatalf("error: got %v, want error %v", err, tc.bad)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatusUID(t *testing.T) {
	want(t, "uid", statusUID([]byte("Name:\tsleep\nUid:\t0\t0\t0\t0\nGid:\t0\n")), 0)
	want(t, "uid", statusUID([]byte("Uid:\t65534\t65534\t65534\t65534\n")), 65534)
	want(t, "uid", statusUID([]byte("Name:\tx\n")), -1)
}

func TestParseServe(t *testing.T) {
	tests := []struct {
		args    []string
		boot    string
		env     []string
		command []string
		hello   bool
		err     string
	}{
		{args: []string{"--ready-on-hello", "--", "bash"}, command: []string{"bash"}, hello: true},
		{args: []string{"--bootstrap", "python", "--env", "A=1", "--env", "B=", "--", "python3", "-u"},
			boot: "python", env: []string{"A=1", "B="}, command: []string{"python3", "-u"}},
		{args: []string{"--", "ruby"}, command: []string{"ruby"}},
		{args: []string{"--bootstrap=node", "node"}, boot: "node", command: []string{"node"}},
		{args: []string{"--bootstrap", "ruby", "--", "ruby"}, err: `unknown bootstrap "ruby"`},
		{args: []string{"--env", "NOEQUALS", "--", "bash"}, err: "want KEY=VALUE"},
		{args: []string{"--bootstrap", "bash", "--"}, err: "missing COMMAND"},
		{args: []string{"--nope", "--", "bash"}, err: "not defined"},
		{args: []string{"--runner-uid", "0", "--", "bash"}, err: "runner uid 0: must be 20000 to 65280"},
		{args: []string{"--runner-uid", "65535", "--", "bash"}, err: "must be 20000 to 65280"},
		{args: []string{"--bootstrap", "python", "--preload", "numpy, pandas", "--", "python3"}, boot: "python", command: []string{"python3"}},
		{args: []string{"--bootstrap", "node", "--preload", "fs", "--", "node"}, err: "cannot preload"},
		{args: []string{"--preload", "numpy", "--", "python3"}, err: "--preload needs --bootstrap"},
		{args: []string{"--bootstrap", "python", "--preload", "os;x", "--", "python3"}, err: "not a module name"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseServe(append([]string{"--runner-uid", "30000"}, tc.args...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var boot string
			if cfg.boot != nil {
				boot = cfg.boot.name
			}
			want(t, "bootstrap", boot, tc.boot)
			if tc.boot == "python" && slices.Contains(tc.args, "--preload") {
				want(t, "argv", strings.Join(cfg.boot.argv([]string{"python3"}), " ")[len("python3 -c "):][len(pythonBootstrap):], " numpy pandas")
			}
			if cfg.readyOnHello != tc.hello {
				t.Errorf("readyOnHello: got %v, want %v", cfg.readyOnHello, tc.hello)
			}
			if !slices.Equal(cfg.env, tc.env) || !slices.Equal(cfg.command, tc.command) {
				t.Errorf("got env %q command %q, want %q %q", cfg.env, cfg.command, tc.env, tc.command)
			}
		})
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func FuzzParseSysvipc(f *testing.F) {
	f.Add([]byte("key shmid perms\n0 3 600\n"))
	f.Add([]byte(""))
	f.Add([]byte("h\n\n\n x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := parseSysvipc(data)
		for _, id := range ids {
			if err == nil && id < 0 {
				t.Fatalf("negative id %d", id)
			}
		}
	})
}
