package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// moduleRoot is the repository, two levels up from this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stage runs `make install DESTDIR=...` and returns the staged root.
func stage(t *testing.T) string {
	t.Helper()
	dest := t.TempDir()
	run(t, moduleRoot(t), nil, "make", "--no-print-directory", "install", "DESTDIR="+dest)
	return dest
}

// TestInstall: make install puts the binaries, the unit, the docs and a
// config where the unit expects them, with modes that keep the config
// from other users, and never overwrites a config an operator edited.
func TestInstall(t *testing.T) {
	dest := stage(t)
	for path, mode := range map[string]os.FileMode{
		"usr/local/bin/warmbox":                 0o755,
		"usr/local/bin/warmbox-runner":          0o755,
		"etc/systemd/system/warmbox.service":    0o644,
		"usr/local/share/doc/warmbox/DEPLOY.md": 0o644,
		"etc/warmbox":                           0o750 | os.ModeDir,
		"etc/warmbox/config.yaml":               0o640,
	} {
		fi, err := os.Stat(filepath.Join(dest, path))
		if err != nil {
			t.Errorf("%s not installed: %v", path, err)
			continue
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dest, "etc/systemd/system/warmbox.service"))
	for _, want := range []string{"ExecStart=/usr/local/bin/warmbox serve", "Environment=WARMBOX_CONFIG=/etc/warmbox/config.yaml", "User=warmbox"} {
		if !strings.Contains(string(unit), want+"\n") {
			t.Errorf("the unit lacks %q", want)
		}
	}

	// The installed binary reads the installed config: loopback only,
	// metrics on their own port, the local proxy trusted, and no key
	// (none is shipped: no default secret).
	cfgPath := filepath.Join(dest, "etc/warmbox/config.yaml")
	out := run(t, dest, []string{"WARMBOX_CONFIG=" + cfgPath}, filepath.Join(dest, "usr/local/bin/warmbox"), "config")
	for _, want := range []string{"listen: 127.0.0.1:8000", "metrics_listen: 127.0.0.1:9464", "- 127.0.0.1/32"} {
		if !strings.Contains(out, want) {
			t.Errorf("warmbox config with the installed file lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "api_keys: []\n") {
		t.Errorf("the installed config sets API keys: no secret may ship:\n%s", out)
	}

	// A second install keeps the operator's config.
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:8111\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	run(t, moduleRoot(t), nil, "make", "--no-print-directory", "install", "DESTDIR="+dest)
	if b, _ := os.ReadFile(cfgPath); string(b) != "listen: 127.0.0.1:8111\n" {
		t.Errorf("make install replaced an edited config: %q", b)
	}
}

// TestUnit: systemd accepts the unit without a warning, and its
// security exposure (systemd-analyze security, 0 safest to 10) stays
// low. systemd need not be running: both read the staged root, with
// this host's system units beside it (docker.service among them).
func TestUnit(t *testing.T) {
	dest := stage(t)
	if err := os.MkdirAll(filepath.Join(dest, "lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, dest, nil, "cp", "-a", "/lib/systemd/system", filepath.Join(dest, "lib/systemd/"))
	if _, err := os.Stat(filepath.Join(dest, "lib/systemd/system/docker.service")); err != nil {
		t.Fatalf("docker.service: %v (deploy/host/engine.sh installs Debian's docker.io)", err)
	}
	const unit = "/etc/systemd/system/warmbox.service"
	if out := run(t, dest, nil, "systemd-analyze", "verify", "--root="+dest, unit); strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify warns:\n%s", out)
	}
	out := run(t, dest, nil, "systemd-analyze", "security", "--offline=true", "--root="+dest, unit)
	m := regexp.MustCompile(`Overall exposure level for warmbox.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security: exposure %.1f", level)
	if level > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0 (\"OK\"); what raised it:\n%s", level, out)
	}
}
