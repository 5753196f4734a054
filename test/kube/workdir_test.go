package kube

import (
	"strings"
	"testing"
)

// TestWorkDirOnKubernetes: a Pod's /tmp is an emptyDir, which Kubernetes
// mounts without noexec, nosuid or nodev and offers no option to add
// them. What holds instead (docs/SECURITY.md, row 22): no job can gain a
// privilege from a file there (no_new_privs ignores setuid and file
// capabilities) or make a device node (no CAP_MKNOD). That a job can run
// a file it wrote there gives it nothing it lacks: it runs any code its
// interpreter can.
func TestWorkDirOnKubernetes(t *testing.T) {
	d := startDaemon(t, "prestart")
	r := d.Post(t, "/execute", map[string]any{"environment": "python", "code": `import os, stat, subprocess
opts = [l.split()[5] for l in open("/proc/self/mountinfo") if l.split()[4] == "/tmp"]
print("options", opts)
open("/tmp/x.sh", "w").write("#!/bin/sh\necho ran\n")
os.chmod("/tmp/x.sh", 0o755)
print(subprocess.run(["/tmp/x.sh"], capture_output=True, text=True).stdout.strip())
print([l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0])
try:
    os.mknod("/tmp/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    print("mknod made a device")
except PermissionError:
    print("mknod refused")
`})
	out, _ := r.Body["stdout"].(string)
	t.Logf("python on Kubernetes: %s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got HTTP %d %v", r.Status, r.Body)
	}
	if lines[1] != "ran" {
		t.Errorf("a program the job wrote to /tmp: %q, want it run (emptyDir has no noexec; docs/SECURITY.md row 22)", lines[1])
	}
	if lines[2] != "1" {
		t.Errorf("NoNewPrivs %q, want 1", lines[2])
	}
	if lines[3] != "mknod refused" {
		t.Errorf("mknod in /tmp: %q, want it refused", lines[3])
	}
}
