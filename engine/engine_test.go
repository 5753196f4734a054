package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
)

// These tests drive the real Docker engine; they fail, never skip, when
// it is missing.

func newEngine(t testing.TB) *Engine {
	t.Helper()
	scope := fmt.Sprintf("enginetest-%d", time.Now().UnixNano()%1e9)
	e, err := New(Options{RunnerPath: testdaemon.Runner(t), Instance: "test-" + scope, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Ping(context.Background()); err != nil {
		t.Fatalf("a Docker engine is required (deploy/host/engine.sh): %v", err)
	}
	t.Cleanup(func() {
		if _, err := e.Reap(context.Background(), true); err != nil {
			t.Errorf("reap: %v", err)
		}
		e.Close()
	})
	return e
}

func spec(handoff string) sandbox.Spec {
	return sandbox.Spec{Language: "python", Image: "warmbox/python:bookworm", Limits: policy.DefaultLimits(), Handoff: handoff,
		Command: []string{"python3"}, Env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}, Bootstrap: "python"}
}

func TestSandboxSettings(t *testing.T) {
	e := newEngine(t)
	rt := e.Sandboxes(spec(sandbox.HandoffExec))
	c, err := rt.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Destroy(context.Background(), c)
	out, err := exec.Command("docker", "inspect", c.ID()).Output()
	if err != nil {
		t.Fatal(err)
	}
	var insp []struct {
		Config struct {
			User            string
			Labels          map[string]string
			NetworkDisabled bool
		}
		HostConfig struct {
			NetworkMode    string
			ReadonlyRootfs bool
			CapDrop        []string
			CapAdd         []string
			SecurityOpt    []string
			Privileged     bool
			PidsLimit      int64
			Memory         int64
			MemorySwap     int64
			NanoCpus       int64
			Tmpfs          map[string]string
			ShmSize        int64
			IpcMode        string
			CgroupnsMode   string
			Ulimits        []struct {
				Name       string
				Soft, Hard int64
			}
			Mounts []inspectMount
		}
		NetworkSettings struct {
			Networks map[string]struct{ IPAddress, GlobalIPv6Address, Gateway string }
		}
	}
	if err := json.Unmarshal(out, &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	h, cfg := insp[0].HostConfig, insp[0].Config
	checks := []struct {
		what string
		ok   bool
		got  any
	}{
		{"network none", h.NetworkMode == "none", h.NetworkMode},
		{"attached to no network but none (lo only, no address)", onlyNone(insp[0].NetworkSettings.Networks), insp[0].NetworkSettings.Networks},
		{"network disabled: no libnetwork-setkey hook, no name files of Docker's", cfg.NetworkDisabled, cfg.NetworkDisabled},
		{"read-only root", h.ReadonlyRootfs, h.ReadonlyRootfs},
		{"all capabilities dropped but the runner's three", len(h.CapDrop) == 1 && h.CapDrop[0] == "ALL" && slices.Equal(slices.Sorted(slices.Values(h.CapAdd)), []string{"CAP_KILL", "CAP_SETGID", "CAP_SETUID"}), [][]string{h.CapDrop, h.CapAdd}},
		{"no-new-privileges, default seccomp", len(h.SecurityOpt) == 1 && h.SecurityOpt[0] == "no-new-privileges", h.SecurityOpt},
		{"not privileged", !h.Privileged, h.Privileged},
		{"pids 50", h.PidsLimit == 50, h.PidsLimit},
		{"memory 256 MB", h.Memory == 256<<20, h.Memory},
		{"no swap", h.MemorySwap == h.Memory, h.MemorySwap},
		{"0.5 CPU", h.NanoCpus == 5e8, h.NanoCpus},
		{"starts as root (the runner drops at once)", cfg.User == "0:0", cfg.User},
		{"tmpfs work dir", strings.Contains(h.Tmpfs["/tmp"], "size=50m") && strings.Contains(h.Tmpfs["/tmp"], "noexec") && strings.Contains(h.Tmpfs["/tmp"], "nosuid") && strings.Contains(h.Tmpfs["/tmp"], "nr_inodes=10000"), h.Tmpfs},
		{"shm 16 MB", h.ShmSize == 16<<20, h.ShmSize},
		{"private IPC", h.IpcMode == "private", h.IpcMode},
		{"private cgroup namespace", h.CgroupnsMode == "private", h.CgroupnsMode},
		{"runner and name files mounted read-only", len(h.Mounts) == 3 && h.Mounts[0].Target == wire.MountPath && h.Mounts[1].Target == "/etc/hosts" && h.Mounts[2].Target == "/etc/resolv.conf" && !slices.ContainsFunc(h.Mounts, func(m inspectMount) bool { return !m.ReadOnly }), h.Mounts},
		{"labels", cfg.Labels[LabelManagedBy] == "warmbox" && cfg.Labels[LabelScope] == e.opts.Scope && cfg.Labels[LabelInstance] == e.opts.Instance && cfg.Labels[LabelLanguage] == "python", cfg.Labels},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: got %v", c.what, c.got)
		}
	}
	ul := map[string]int64{}
	for _, u := range h.Ulimits {
		if u.Soft != u.Hard {
			t.Errorf("ulimit %s soft %d != hard %d", u.Name, u.Soft, u.Hard)
		}
		ul[u.Name] = u.Hard
	}
	if ul["nofile"] != 1024 || ul["core"] != 0 || ul["fsize"] != 50<<20 {
		t.Errorf("ulimits = %v", ul)
	}
}

// TestSandboxNameFiles: a sandbox's /etc/hosts and /etc/resolv.conf are
// warmbox's, read-only; after someone removes their volume the next
// create writes them again, and Reap at shutdown removes the volume for
// good.
func TestSandboxNameFiles(t *testing.T) {
	e := newEngine(t)
	rt := e.Sandboxes(spec(sandbox.HandoffExec))
	ctx := context.Background()
	check := func(c *Container) {
		t.Helper()
		for _, f := range sandboxEtcFiles {
			out, err := exec.Command("docker", "exec", "-u", "12345", c.ID(), "cat", f.target).CombinedOutput()
			if err != nil || string(out) != f.content {
				t.Errorf("%s = %q, %v; want %q", f.target, out, err, f.content)
			}
			// Not only the file's mode (0444, root's): the mount itself
			// is read-only.
			out, err = exec.Command("docker", "exec", c.ID(), "awk", "$2 == \""+f.target+"\" { print $4 }", "/proc/mounts").CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ro,") {
				t.Errorf("%s's mount options = %q, %v; want read-only", f.target, out, err)
			}
		}
	}
	c, err := rt.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check(c)
	if out, err := exec.Command("docker", "volume", "rm", e.etcVolumeName()).CombinedOutput(); err != nil {
		t.Fatalf("docker volume rm: %v %s", err, out)
	}
	check(c) // its mounts hold the files they were made from
	c2, err := rt.Create(ctx)
	if err != nil {
		t.Fatalf("create after the volume was removed: %v", err)
	}
	check(c2)
	for _, c := range []*Container{c, c2} {
		if err := rt.Destroy(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Reap(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("docker", "volume", "inspect", e.etcVolumeName()).Run(); err == nil {
		t.Errorf("volume %s is left after Reap", e.etcVolumeName())
	}
	// A create still in flight at shutdown must not fill it again.
	if c, err := rt.Create(ctx); !errors.Is(err, errEngineReaped) {
		if err == nil {
			rt.Destroy(ctx, c)
		}
		t.Errorf("create after the final Reap: %v, want errEngineReaped", err)
	}
	if err := exec.Command("docker", "volume", "inspect", e.etcVolumeName()).Run(); err == nil {
		t.Errorf("volume %s is back after a create that followed Reap", e.etcVolumeName())
	}
}

func job(code string) wire.Job {
	return wire.Job{Files: []wire.File{{Name: "main.py", Content: []byte(code)}}, Command: []string{"python3"}, Entry: "main.py",
		Env: []string{"PATH=/usr/bin:/bin", "HOME=/tmp"}, Limits: wire.Limits{TimeoutMs: 5000, OutputBytes: 1024}}
}

func TestHandoffBothModes(t *testing.T) {
	e := newEngine(t)
	for _, mode := range []string{sandbox.HandoffExec, sandbox.HandoffPrestart} {
		t.Run(mode, func(t *testing.T) {
			rt := e.Sandboxes(spec(mode))
			c, err := rt.Create(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			res, err := rt.Handoff(context.Background(), c, job("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)"), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
				t.Errorf("result = %+v", res)
			}
			if err := rt.Destroy(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command("docker", "inspect", c.ID()).Run(); err == nil {
				t.Error("container still exists after Destroy")
			}
		})
	}
}

// TestHandoffStreams: in both modes a streamed job's first line reaches
// the OutputFunc while the program runs (the program waits for a file
// the test creates only then), and the result holds the whole output.
func TestHandoffStreams(t *testing.T) {
	e := newEngine(t)
	const code = "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/go'):\n    time.sleep(0.01)\nprint('second')"
	for _, mode := range []string{sandbox.HandoffExec, sandbox.HandoffPrestart} {
		t.Run(mode, func(t *testing.T) {
			rt := e.Sandboxes(spec(mode))
			ctx := context.Background()
			c, err := rt.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Destroy(ctx, c)
			var mu sync.Mutex
			var streamed []string
			released := make(chan error, 1)
			onOutput := func(stream string, data []byte) {
				mu.Lock()
				defer mu.Unlock()
				if len(streamed) == 0 && stream == wire.StreamStdout && strings.HasPrefix(string(data), "first\n") {
					go func() { released <- exec.Command("docker", "exec", c.ID(), "touch", "/tmp/go").Run() }()
				}
				streamed = append(streamed, stream+":"+string(data))
			}
			j := job(code)
			j.Limits.TimeoutMs = 30000
			res, err := rt.Handoff(ctx, c, j, onOutput)
			if err != nil {
				t.Fatal(err)
			}
			if res.TimedOut || string(res.Stdout) != "first\nsecond\n" {
				t.Fatalf("result %+v: the first line did not come out while the program ran", res)
			}
			if err := <-released; err != nil {
				t.Fatalf("docker exec touch: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(streamed) == 0 || !strings.HasPrefix(strings.Join(streamed, ""), "stdout:first\n") {
				t.Errorf("streamed %q, want stdout's first line first", streamed)
			}
		})
	}
}

func TestResetBothModes(t *testing.T) {
	e := newEngine(t)
	for _, mode := range []string{sandbox.HandoffExec, sandbox.HandoffPrestart} {
		t.Run(mode, func(t *testing.T) {
			rt := e.Sandboxes(spec(mode))
			ctx := context.Background()
			c, err := rt.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Destroy(ctx, c)
			plant := "import os, subprocess\nopen('/tmp/.planted', 'w').write('x')\nsubprocess.Popen(['sleep', '1000'], start_new_session=True)\nprint('planted')"
			if res, err := rt.Handoff(ctx, c, job(plant), nil); err != nil || string(res.Stdout) != "planted\n" {
				t.Fatalf("plant: %+v %v", res, err)
			}
			if err := rt.Reset(ctx, c); err != nil {
				t.Fatalf("reset: %v", err)
			}
			probe := "import os\nprint(sorted(os.listdir('/tmp')))\nprint(sorted(open(f'/proc/{p}/comm').read().strip() for p in os.listdir('/proc') if p.isdigit() and int(p) != 1 and int(p) != os.getpid()))"
			res, err := rt.Handoff(ctx, c, job(probe), nil)
			if err != nil {
				t.Fatal(err)
			}
			// The probe's own main.py is all that /tmp holds; no process
			// but PID 1, the runner of this job and the probe remain.
			if got := strings.Split(strings.TrimSpace(string(res.Stdout)), "\n"); len(got) != 2 || got[0] != "['main.py']" || strings.Contains(got[1], "sleep") {
				t.Errorf("after reset the next job sees %q", res.Stdout)
			}
		})
	}
}

func TestReapAndWatch(t *testing.T) {
	e := newEngine(t)
	rt := e.Sandboxes(spec(sandbox.HandoffExec))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	died := make(chan string, 4)
	go e.Watch(ctx, func(id string) { died <- id })
	time.Sleep(200 * time.Millisecond)
	c, err := rt.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("docker", "kill", c.ID()).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v %s", err, out)
	}
	select {
	case id := <-died:
		if id != c.ID() {
			t.Errorf("died %s, want %s", id, c.ID())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no die event for a killed sandbox")
	}
	// A second engine of the same scope reaps the first one's sandboxes.
	other, err := New(Options{RunnerPath: e.opts.RunnerPath, Instance: "other", Scope: e.opts.Scope})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c2, err := rt.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := other.Reap(ctx, false)
	if err != nil || n != 2 {
		t.Errorf("reap removed %d (%v), want the killed and the live sandbox", n, err)
	}
	if err := exec.Command("docker", "inspect", c2.ID()).Run(); err == nil {
		t.Error("reaped container still exists")
	}
	if cnt, err := e.Count(ctx); err != nil || cnt != 0 {
		t.Errorf("count after reap = %d (%v)", cnt, err)
	}
}

func TestImage(t *testing.T) {
	e := newEngine(t)
	_, err := e.Image(context.Background(), "warmbox/absent:nope")
	if err == nil || !strings.Contains(err.Error(), "make images") {
		t.Errorf("err = %v, want a hint to build images", err)
	}
	// images.sh labels each image with its packages and their versions.
	img, err := e.Image(context.Background(), "warmbox/python:bookworm")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range img.Packages {
		name, version, ok := strings.Cut(p, "=")
		found = found || name == "python3-numpy" && ok && version != ""
	}
	if !found {
		t.Errorf("packages %q: want python3-numpy=VERSION (label %s, written by deploy/host/images.sh)", img.Packages, LabelPackages)
	}
}

// TestReconcile: reconcile removes a running sandbox of this instance
// that no pool holds (here: made without Create's tracking, as a create
// whose answer was lost would leave it), reports a held sandbox that
// vanished, and leaves a held one alone.
func TestReconcile(t *testing.T) {
	e := newEngine(t)
	e.orphanAge = 0 // no create is in flight here
	rt := e.Sandboxes(spec(sandbox.HandoffExec))
	ctx := context.Background()
	held, err := rt.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := rt.createIdle(ctx, wire.MinSandboxUID) // not tracked: no pool holds it
	if err != nil {
		t.Fatal(err)
	}
	vanished, err := rt.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.remove(ctx, vanished.id); err != nil { // behind the pool's back
		t.Fatal(err)
	}

	var died []string
	e.reconcile(ctx, func(id string) { died = append(died, id) })

	if err := exec.Command("docker", "inspect", orphan.id).Run(); err == nil {
		t.Error("the sandbox no pool holds is still there")
	}
	if err := exec.Command("docker", "inspect", held.id).Run(); err != nil {
		t.Errorf("the held sandbox was removed: %v", err)
	}
	if !slices.Contains(died, vanished.id) {
		t.Errorf("died = %v: the vanished held sandbox %s was not reported", died, vanished.id[:12])
	}
	if slices.Contains(died, held.id) {
		t.Errorf("died = %v: the held sandbox was reported", died)
	}
	if err := rt.Destroy(ctx, held); err != nil {
		t.Fatal(err)
	}
}

// inspectMount is a mount as docker inspect shows it.
type inspectMount struct {
	Source, Target string
	ReadOnly       bool
}

// onlyNone reports whether a container's networks are at most Docker's
// "none" network, which gives it no interface but lo and no address.
func onlyNone(networks map[string]struct{ IPAddress, GlobalIPv6Address, Gateway string }) bool {
	for name, ep := range networks {
		if name != "none" || ep.IPAddress != "" || ep.GlobalIPv6Address != "" || ep.Gateway != "" {
			return false
		}
	}
	return true
}
