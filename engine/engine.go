package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// Labels every sandbox carries.
const (
	LabelManagedBy = "io.warmbox.managed-by"
	LabelInstance  = "io.warmbox.instance"
	LabelLanguage  = "io.warmbox.language"
	LabelScope     = "io.warmbox.scope"
	managedBy      = "warmbox"
)

// RunnerMountPath is where the runner binary appears inside a sandbox.
const RunnerMountPath = "/opt/warmbox/runner"

// Per-call timeouts: no Docker call may hang the daemon.
const (
	createTimeout  = 30 * time.Second
	removeTimeout  = 30 * time.Second
	inspectTimeout = 5 * time.Second
)

// Options configure the engine adapter.
type Options struct {
	// Host is the Docker API address; empty means DOCKER_HOST or the
	// default socket.
	Host string
	// RunnerPath is the host path of the static runner binary that is
	// bind-mounted read-only into every sandbox.
	RunnerPath string
	// Instance identifies this daemon process; its sandboxes carry it.
	Instance string
	// Scope names the group of daemons that share reaping: a daemon
	// removes the sandboxes of its scope that it does not own. Two
	// daemons on one engine must use different scopes.
	Scope string
	// Logger receives the adapter's logs.
	Logger *slog.Logger
}

// Engine talks to one Docker engine.
type Engine struct {
	cli    *client.Client
	opts   Options
	logger *slog.Logger
}

// Info describes the engine, for /health and benchmarks.
type Info struct {
	Version    string
	APIVersion string
	Runtimes   []string
	CgroupV    string
	MemTotal   int64
	CPUs       int
}

// New connects to the engine with API version negotiation (the engine
// here speaks 1.41; the SDK is newer).
func New(opts Options) (*Engine, error) {
	if opts.Instance == "" || opts.Scope == "" {
		return nil, errors.New("engine: instance id and scope are required")
	}
	st, err := os.Stat(opts.RunnerPath)
	if err != nil {
		return nil, fmt.Errorf("engine: runner binary: %w (build it with `make build`)", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("engine: runner binary %s is not an executable file", opts.RunnerPath)
	}
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if opts.Host != "" {
		clientOpts = append(clientOpts, client.WithHost(opts.Host))
	}
	cli, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("engine: client: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Engine{cli: cli, opts: opts, logger: logger}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// Ping reports whether the engine answers.
func (e *Engine) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	if _, err := e.cli.Ping(ctx); err != nil {
		return fmt.Errorf("engine ping: %w", err)
	}
	return nil
}

// Info reads the engine's version and runtimes.
func (e *Engine) Info(ctx context.Context) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	info, err := e.cli.Info(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("engine info: %w", err)
	}
	out := Info{Version: info.ServerVersion, APIVersion: e.cli.ClientVersion(), CgroupV: info.CgroupVersion,
		MemTotal: info.MemTotal, CPUs: info.NCPU}
	for name := range info.Runtimes {
		out.Runtimes = append(out.Runtimes, name)
	}
	return out, nil
}

// HasImage reports whether the engine holds ref. The daemon never pulls:
// images are built by `make images`.
func (e *Engine) HasImage(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	if _, err := e.cli.ImageInspect(ctx, ref); err != nil {
		if client.IsErrNotFound(err) {
			return fmt.Errorf("image %s is not on this engine (build it with `make images`; warmbox never pulls)", ref)
		}
		return fmt.Errorf("image inspect %s: %w", ref, err)
	}
	return nil
}

// Reap force-removes every warmbox sandbox of this scope except those
// of this instance, or all of them when all is true. It returns how many
// it removed. Called at start (orphans of a killed daemon) and at
// shutdown.
func (e *Engine) Reap(ctx context.Context, all bool) (int, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All: true,
		Filters: filters.NewArgs(
			filters.Arg("label", LabelManagedBy+"="+managedBy),
			filters.Arg("label", LabelScope+"="+e.opts.Scope)),
	})
	if err != nil {
		return 0, fmt.Errorf("reap list: %w", err)
	}
	removed := 0
	var errs []error
	for _, c := range list {
		if !all && c.Labels[LabelInstance] == e.opts.Instance {
			continue
		}
		if err := e.remove(ctx, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// Count returns how many warmbox sandboxes of this instance exist.
func (e *Engine) Count(ctx context.Context) (int, error) {
	list, err := e.cli.ContainerList(ctx, container.ListOptions{
		All: true,
		Filters: filters.NewArgs(
			filters.Arg("label", LabelManagedBy+"="+managedBy),
			filters.Arg("label", LabelInstance+"="+e.opts.Instance)),
	})
	if err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return len(list), nil
}

// Watch follows the engine's events and calls died with the id of every
// sandbox of this instance that stops. It reconnects with backoff until
// ctx ends. Events are a hint: a sandbox that died unseen fails its
// hand-off before any user code runs, and is then replaced.
func (e *Engine) Watch(ctx context.Context, died func(id string)) {
	backoff := 100 * time.Millisecond
	since := time.Now()
	for ctx.Err() == nil {
		msgs, errs := e.cli.Events(ctx, events.ListOptions{
			Since: fmt.Sprintf("%d", since.Unix()),
			Filters: filters.NewArgs(
				filters.Arg("type", string(events.ContainerEventType)),
				filters.Arg("event", string(events.ActionDie)),
				filters.Arg("label", LabelInstance+"="+e.opts.Instance)),
		})
	stream:
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				backoff = 100 * time.Millisecond
				since = time.Unix(m.Time, 0)
				died(m.Actor.ID)
			case err := <-errs:
				if ctx.Err() == nil {
					e.logger.Warn("engine events stream broke; reconnecting", "err", err, "backoff", backoff)
				}
				break stream
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// remove force-removes a container; a container already gone is success.
func (e *Engine) remove(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	err := e.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !client.IsErrNotFound(err) {
		return fmt.Errorf("remove %s: %w", shortID(id), err)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
