package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/warmbox/warmbox/internal/held"
	"github.com/warmbox/warmbox/internal/uids"
)

// Labels every sandbox carries.
const (
	LabelManagedBy = "io.warmbox.managed-by"
	LabelInstance  = "io.warmbox.instance"
	LabelLanguage  = "io.warmbox.language"
	LabelScope     = "io.warmbox.scope"
	managedBy      = "warmbox"
)

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

	// held are the sandboxes the pools hold: reconcile removes this
	// instance's running sandboxes that are not held and are older than
	// orphanAge (a create or a removal that failed while the engine was
	// unwell), and reports the held ones that are gone.
	held *held.Set
	// blocks are the live sandboxes' uid blocks (one each).
	blocks *uids.Blocks
	// orphanAge is how old a sandbox that is created but not started, or
	// running but held by no pool, must be before reconcile removes it:
	// older than any create in flight.
	orphanAge time.Duration
	// etc keeps the name files every sandbox mounts (etc.go).
	etc sandboxEtc
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
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation(),
		client.WithTraceOptions(otelhttp.WithSpanNameFormatter(dockerSpanName))}
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
	return &Engine{cli: cli, opts: opts, logger: logger, held: held.New(), blocks: uids.New(), orphanAge: createTimeout}, nil
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

// LabelPackages is the image label deploy/host/images.sh writes: the
// Debian packages an image was built from, as "name=version" words.
const LabelPackages = "io.warmbox.packages"

// Image is what the daemon learns of a runtime image.
type Image struct {
	// Packages are its LabelPackages words; none for an image built
	// otherwise.
	Packages []string
}

// Image inspects ref, which the engine must hold. The daemon never
// pulls: images are built by `make images`.
func (e *Engine) Image(ctx context.Context, ref string) (Image, error) {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	img, err := e.cli.ImageInspect(ctx, ref)
	if err != nil {
		if client.IsErrNotFound(err) {
			return Image{}, fmt.Errorf("image %s is not on this engine (build it with `make images`; warmbox never pulls)", ref)
		}
		return Image{}, fmt.Errorf("image inspect %s: %w", ref, err)
	}
	var out Image
	if img.Config != nil {
		out.Packages = strings.Fields(img.Config.Labels[LabelPackages])
	}
	return out, nil
}

// Reap force-removes every warmbox sandbox of this scope except those
// of this instance, or all of them when all is true. With all it also
// removes the scope's volume of name files (etc.go), and the engine
// creates no sandbox after that: a create still in flight at shutdown
// fails instead of filling the volume again. It returns how many
// sandboxes it removed. Called at start (orphans of a killed daemon) and
// at shutdown.
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
	if all {
		// Even if a removal failed: a sandbox left reads the files it
		// mounted, which outlive the volume.
		errs = append(errs, e.removeEtcVolume(ctx))
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

// reconcileInterval is how often Watch relists the instance's sandboxes
// besides each (re)connect of the events stream: events are a hint.
const reconcileInterval = 30 * time.Second

// Watch follows the engine's events and calls died with the id of every
// sandbox of this instance that stops. It reconnects with backoff until
// ctx ends. Events are a hint: on every (re)connect and every
// reconcileInterval it also relists the instance's sandboxes (reconcile),
// which catches those that stopped while the stream was down, e.g. all of
// them when the engine restarts without live-restore.
func (e *Engine) Watch(ctx context.Context, died func(id string)) {
	backoff := 100 * time.Millisecond
	since := time.Now()
	relist := time.NewTicker(reconcileInterval)
	defer relist.Stop()
	for ctx.Err() == nil {
		msgs, errs := e.cli.Events(ctx, events.ListOptions{
			Since: fmt.Sprintf("%d", since.Unix()),
			Filters: filters.NewArgs(
				filters.Arg("type", string(events.ContainerEventType)),
				filters.Arg("event", string(events.ActionDie)),
				filters.Arg("label", LabelInstance+"="+e.opts.Instance)),
		})
		// After subscribing: a sandbox that stops from now on is in the
		// stream, one that stopped before is in the list.
		e.reconcile(ctx, died)
	stream:
		for {
			select {
			case <-ctx.Done():
				return
			case <-relist.C:
				e.reconcile(ctx, died)
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

// reconcile lists this instance's sandboxes and removes those that
// cannot serve, calling died for each first so that a pool drops one it
// still holds and replaces it:
//   - exited or dead (the engine stopped them while nobody watched, or
//     their removal failed earlier, e.g. while the engine was down);
//   - created but never started for longer than a create may take (a
//     create whose start and cleanup both failed);
//   - running but held by no pool, and older than a create may take (a
//     create or a removal that failed while the engine was unwell, or a
//     sandbox the engine brought back after a restart).
//
// A sandbox a pool holds that is missing from the list (removed while
// the events stream was down) is reported with died.
func (e *Engine) reconcile(ctx context.Context, died func(id string)) {
	listed := time.Now()
	listCtx, cancel := context.WithTimeout(ctx, inspectTimeout)
	list, err := e.cli.ContainerList(listCtx, container.ListOptions{
		All: true,
		Filters: filters.NewArgs(
			filters.Arg("label", LabelManagedBy+"="+managedBy),
			filters.Arg("label", LabelInstance+"="+e.opts.Instance)),
	})
	cancel()
	if err != nil {
		e.logger.Debug("reconcile: listing sandboxes failed", "err", err)
		return
	}
	ids := make(map[string]bool, len(list))
	var remove []string
	orphans := 0
	for _, c := range list {
		ids[c.ID] = true
		age := time.Since(time.Unix(c.Created, 0))
		switch {
		case c.State == "exited" || c.State == "dead" || (c.State == "created" && age >= e.orphanAge):
			remove = append(remove, c.ID)
		case c.State == "running" && !e.held.Holds(c.ID) && age >= e.orphanAge:
			remove = append(remove, c.ID)
			orphans++
		}
	}
	for _, id := range e.held.Missing(listed, ids) {
		e.logger.Warn("reconcile: a sandbox is gone from the engine; replacing it", "sandbox", shortID(id))
		died(id)
	}
	removed := 0
	for _, id := range remove {
		died(id)
		if err := e.remove(ctx, id); err != nil {
			e.logger.Warn("reconcile: removing a sandbox failed", "sandbox", shortID(id), "err", err)
			continue
		}
		removed++
	}
	if removed > 0 {
		e.logger.Info("reconcile: removed sandboxes that cannot serve", "count", removed, "held_by_no_pool", orphans)
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

var (
	apiVersion = regexp.MustCompile(`^/v[0-9.]+`)
	objectID   = regexp.MustCompile(`/[0-9a-f]{64}`)
)

// dockerSpanName names the SDK's spans by route template
// ("docker POST /containers/{id}/exec"), never the raw path, so traces
// have a bounded set of operation names.
func dockerSpanName(_ string, r *http.Request) string {
	path := objectID.ReplaceAllString(apiVersion.ReplaceAllString(r.URL.Path, ""), "/{id}")
	return "docker " + r.Method + " " + path
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
