package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
)

// A sandbox starts as root with exactly these capabilities; the runner
// drops to its own uid at once and starts every job under a uid of its
// own without any (runner/creds.go, docs/SECURITY.md "Isolation levels").
var sandboxCaps = []string{"CAP_SETUID", "CAP_SETGID", "CAP_KILL"}

// WorkDir is the sandbox's only writable directory (a tmpfs).
const WorkDir = "/tmp"

// Container is one sandbox container.
type Container struct {
	id string
	// runnerUID starts the sandbox's uid block (internal/uids).
	runnerUID int
	// jobs is how many jobs were handed to it (exec mode: job n runs as
	// runnerUID+n; in prestart mode the runner counts for itself).
	jobs int
	// attached is the open stream to a prestart sandbox's runner (PID 1);
	// nil in exec mode.
	attached *stream
}

// ID is the container's full id.
func (c *Container) ID() string { return c.id }

// Runtime creates, hands jobs to and destroys the sandboxes of one
// language. It satisfies pool.Runtime[*Container].
type Runtime struct {
	e    *Engine
	spec sandbox.Spec
}

// Sandboxes returns the Runtime for one language.
func (e *Engine) Sandboxes(spec sandbox.Spec) *Runtime { return &Runtime{e: e, spec: spec} }

// Create creates and starts one sandbox. A container that was created but
// failed to start is removed before Create returns. If the name files
// the sandbox mounts were gone from the engine's host, it writes them
// again and tries once more.
func (r *Runtime) Create(ctx context.Context) (*Container, error) {
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	uid, err := r.e.blocks.Take()
	if err != nil {
		return nil, fmt.Errorf("container create: %w", err)
	}
	create := r.createIdle
	if r.spec.Handoff == sandbox.HandoffPrestart {
		create = r.createAttached
	}
	c, err := create(ctx, uid)
	if errors.Is(err, errEtcGone) {
		c, err = create(ctx, uid)
	}
	if err != nil {
		r.e.blocks.Put(uid)
		return nil, err
	}
	r.e.held.Confirm(c.id)
	return c, nil
}

// createIdle creates and starts an exec-mode sandbox.
func (r *Runtime) createIdle(ctx context.Context, uid int) (*Container, error) {
	cfg, host, err := r.containerConfig(ctx, wire.IdleCommand(uid))
	if err != nil {
		return nil, err
	}
	resp, err := r.e.cli.ContainerCreate(ctx, cfg, host, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("container create: %w", r.e.checkEtcGone(err))
	}
	c := &Container{id: resp.ID, runnerUID: uid}
	if err := r.e.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		rmErr := r.e.remove(ctx, resp.ID)
		return nil, errors.Join(fmt.Errorf("container start: %w", r.e.checkEtcGone(err)), rmErr)
	}
	return c, nil
}

// Destroy force-removes a sandbox: SIGKILL to every process in it, no
// exec inside, so it works even when the sandbox's pids are exhausted.
// If the removal fails, reconcile removes it later: no pool holds it.
func (r *Runtime) Destroy(ctx context.Context, c *Container) error {
	r.e.held.Release(c.id)
	err := r.e.remove(ctx, c.id)
	if c.attached != nil {
		c.attached.wait()
	}
	// Even if the removal failed: reconcile removes the container, and
	// a block shared meanwhile shares only per-uid budgets, never a
	// namespace.
	r.e.blocks.Put(c.runnerUID)
	return err
}

// containerConfig turns the language's spec and limits into the
// sandbox's container settings. Nothing in a request reaches here: the
// network is off and stays off.
func (r *Runtime) containerConfig(ctx context.Context, cmd []string) (*container.Config, *container.HostConfig, error) {
	etc, err := r.e.etcMounts(ctx, r.spec.Image)
	if err != nil {
		return nil, nil, err
	}
	l := r.spec.Limits
	pids := l.Pids
	// A sandbox has nothing to save: a stop (the engine's own shutdown
	// included) kills it at once instead of waiting for its PID 1, which
	// ignores SIGTERM.
	stopNow := 0
	cfg := &container.Config{
		StopTimeout: &stopNow,
		Image:       r.spec.Image,
		User:        "0:0",
		Entrypoint:  []string{},
		Cmd:         cmd,
		WorkingDir:  WorkDir,
		Hostname:    "sandbox",
		// A network namespace of its own with only lo, and no
		// libnetwork-setkey hook (etc.go): the name files are warmbox's.
		NetworkDisabled: true,
		Env:             []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + WorkDir, "LANG=C.UTF-8"},
		Labels: map[string]string{
			LabelManagedBy: managedBy,
			LabelInstance:  r.e.opts.Instance,
			LabelLanguage:  r.spec.Language,
			LabelScope:     r.e.opts.Scope,
		},
	}
	mib := int64(1024 * 1024)
	host := &container.HostConfig{
		// Network mode none as well, so that no engine default attaches
		// the container to a network. /etc/hosts holds the loopback
		// names, so a program can reach its own server as localhost;
		// the resolver is loopback too: the host's resolv.conf stays out
		// of the sandbox, and any other name fails at once
		// (docs/SECURITY.md 19).
		NetworkMode:    "none",
		ReadonlyRootfs: true,
		CapDrop:        []string{"ALL"},
		CapAdd:         sandboxCaps,
		SecurityOpt:    []string{"no-new-privileges"},
		IpcMode:        "private",
		// The job's /proc/self/cgroup then reads "/", not
		// /docker/<container id> (cgroup v1 defaults to the host's
		// namespace): docs/SECURITY.md F4.
		CgroupnsMode: "private",
		Runtime:      r.spec.Runtime,
		ShmSize:      l.ShmMB * mib,
		LogConfig:    container.LogConfig{Type: "none"},
		Tmpfs: map[string]string{
			WorkDir: workDirOptions(r.spec.ExecWorkDir) + ",mode=1777,size=" + strconv.FormatInt(l.TmpfsMB, 10) + "m,nr_inodes=" + strconv.FormatInt(l.TmpfsInodes, 10),
		},
		Mounts: append([]mount.Mount{{
			Type:     mount.TypeBind,
			Source:   r.e.opts.RunnerPath,
			Target:   wire.MountPath,
			ReadOnly: true,
		}}, etc...),
		Resources: container.Resources{
			Memory:     l.SandboxMemoryMB() * mib,
			MemorySwap: l.SandboxMemoryMB() * mib,
			NanoCPUs:   int64(l.CPUs * 1e9),
			PidsLimit:  &pids,
			Ulimits: []*container.Ulimit{
				{Name: "nofile", Soft: l.NoFile, Hard: l.NoFile},
				{Name: "core", Soft: 0, Hard: 0},
				{Name: "fsize", Soft: l.FileSizeMB * mib, Hard: l.FileSizeMB * mib},
			},
		},
	}
	return cfg, host, nil
}

// workDirOptions are the work dir's mount flags: never setuid binaries
// or devices, and no programs either unless the language compiles to one.
func workDirOptions(exec bool) string {
	if exec {
		return "rw,nosuid,nodev,exec"
	}
	return "rw,nosuid,nodev,noexec"
}
