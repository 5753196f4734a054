package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/engine"
	"github.com/warmbox/warmbox/httpapi"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/telemetry"
)

// closeTimeout bounds destroying every sandbox at shutdown.
const closeTimeout = 30 * time.Second

// Run serves until ctx ends (SIGINT/SIGTERM in the CLI), then drains:
// stop accepting, let in-flight jobs finish (up to the drain timeout, or
// at once on a second signal), destroy every sandbox, flush telemetry.
// ready, if not nil, receives the listening address once serving.
func Run(ctx context.Context, cfg Config, version string, ready chan<- string) error {
	logger, err := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(logger) // the OTel exporter's errors land in the JSON log too
	shutdownTracing, err := telemetry.Setup(ctx, cfg.Tracing, version)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(flushCtx); err != nil {
			logger.Warn("flushing traces", "err", err)
		}
	}()

	runnerPath, err := resolveRunner(cfg.Engine.RunnerPath)
	if err != nil {
		return err
	}
	instance := uuid.NewString()
	eng, err := engine.New(engine.Options{
		Host: cfg.Engine.Host, RunnerPath: runnerPath, Instance: instance, Scope: cfg.Engine.Scope, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.Ping(ctx); err != nil {
		return fmt.Errorf("no Docker engine answers (%w); start one, e.g. with deploy/host/engine.sh", err)
	}
	if err := checkEngine(ctx, eng, cfg, logger); err != nil {
		return err
	}
	if n, err := eng.Reap(ctx, false); err != nil {
		return fmt.Errorf("reaping orphaned sandboxes: %w", err)
	} else if n > 0 {
		logger.Info("removed orphaned sandboxes of an earlier daemon", "count", n)
	}

	var disp *dispatch.Dispatcher[*engine.Container]
	metrics := telemetry.NewMetrics(version, func() []pool.Stats { return disp.Stats() })
	langs, rts := languages(cfg, eng)
	disp, err = dispatch.New(langs, rts, dispatch.Options{
		NotStarted: engine.ErrNotStarted, Logger: logger, PoolObs: metrics, Obs: metrics,
		Host: pool.NewHost(cfg.Pools.Host()),
	})
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go eng.Watch(watchCtx, disp.Evict)

	var draining atomic.Bool
	handler, err := newHandler(cfg, disp, eng, metrics, logger, version, &draining)
	if err != nil {
		_ = closeSandboxes(disp, eng, logger)
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		MaxHeaderBytes:    cfg.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = closeSandboxes(disp, eng, logger)
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	logger.Info("warmbox serving", "addr", ln.Addr().String(), "version", version, "instance", instance, "scope", cfg.Engine.Scope)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	go warmUp(ctx, disp, logger)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		_ = closeSandboxes(disp, eng, logger)
		return fmt.Errorf("serve: %w", err)
	}

	// Drain: refuse new work, let running jobs finish; a second signal
	// cuts the wait short.
	draining.Store(true)
	logger.Info("draining", "timeout", cfg.Shutdown.DrainTimeout)
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), cfg.Shutdown.DrainTimeout)
	defer cancelDrain()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
			logger.Warn("second signal: stopping without waiting for running jobs")
			cancelDrain()
		case <-drainCtx.Done():
		}
	}()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("drain ended before every request finished", "err", err)
		_ = srv.Close()
	}
	stopWatch()
	return closeSandboxes(disp, eng, logger)
}

// warmUp waits for the pools to fill, then runs each language's
// self-test; /readyz turns ready once it has passed.
func warmUp(ctx context.Context, disp *dispatch.Dispatcher[*engine.Container], logger *slog.Logger) {
	if err := disp.WaitReady(ctx); err != nil {
		if ctx.Err() == nil {
			logger.Error("pools did not warm up", "err", err)
		}
		return
	}
	if err := disp.SelfTest(ctx); err != nil {
		logger.Error("self-test failed", "err", err)
		return
	}
	for _, l := range disp.Languages() {
		logger.Info("language ready", "language", l.Name, "version", l.Version, "image", l.Image)
	}
}

func closeSandboxes(disp *dispatch.Dispatcher[*engine.Container], eng *engine.Engine, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := disp.Close(ctx)
	n, rerr := eng.Reap(ctx, true)
	if n > 0 {
		logger.Warn("removed sandboxes left after the pools closed", "count", n)
	}
	if err = errors.Join(err, rerr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped; every sandbox removed")
	return nil
}

// checkEngine fails closed on what the configuration needs but the
// engine lacks: an image (warmbox never pulls) or a runtime such as runsc
// (never a silent fallback to runc).
func checkEngine(ctx context.Context, eng *engine.Engine, cfg Config, logger *slog.Logger) error {
	info, err := eng.Info(ctx)
	if err != nil {
		return err
	}
	// Admission: every sandbox of every pool at its memory limit must fit
	// in the host, or one tenant's memory bomb becomes everyone's OOM.
	var worst int64
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		worst += int64(l.Pool.MaxSize) * (l.Limits.MemoryMB + l.Limits.ShmMB + int64(cfg.Pools.SandboxMemoryMB)) << 20
	}
	if info.MemTotal > 0 && worst > info.MemTotal {
		logger.Warn("the pools at max_size could use more memory than the host has; lower max_size or memory_mb",
			"worst_case_mb", worst>>20, "host_mb", info.MemTotal>>20)
	}
	var errs []error
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		if err := eng.HasImage(ctx, l.Image); err != nil {
			errs = append(errs, fmt.Errorf("languages.%s: %w", name, err))
		}
		if l.Runtime != "" && !slices.Contains(info.Runtimes, l.Runtime) {
			errs = append(errs, fmt.Errorf("languages.%s.runtime: the engine has no %q runtime (it has %v); install it or remove the setting", name, l.Runtime, info.Runtimes))
		}
	}
	return errors.Join(errs...)
}

func languages(cfg Config, eng *engine.Engine) ([]dispatch.Language, map[string]dispatch.Runtime[*engine.Container]) {
	var langs []dispatch.Language
	rts := map[string]dispatch.Runtime[*engine.Container]{}
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		langs = append(langs, dispatch.Language{
			Name: name, Image: l.Image, Runtime: l.Runtime, Handoff: l.Handoff, Command: l.Command,
			File: l.File, Env: l.Env, Limits: l.Limits, Pool: l.Pool, VersionCode: l.VersionCode,
		})
		rts[name] = eng.Sandboxes(engine.Spec{
			Language: name, Image: l.Image, Runtime: l.Runtime, Limits: l.Limits,
			Handoff: l.Handoff, Command: l.Command, Env: l.Env, Bootstrap: l.Bootstrap,
		})
	}
	return langs, rts
}

func newHandler(cfg Config, disp *dispatch.Dispatcher[*engine.Container], eng *engine.Engine, metrics *telemetry.Metrics,
	logger *slog.Logger, version string, draining *atomic.Bool) (http.Handler, error) {
	clients, err := policy.NewClientResolver(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	var limiter *policy.Limiter
	if cfg.RateLimit.Requests > 0 {
		limiter = policy.NewLimiter(cfg.RateLimit)
	}
	return httpapi.New(httpapi.Options{
		Service: disp,
		Ping: func(ctx context.Context) error {
			err := eng.Ping(ctx)
			metrics.EngineUp(err == nil)
			return err
		},
		Recorder:     metrics,
		Limiter:      limiter,
		RateLimit:    cfg.RateLimit,
		Clients:      clients,
		Auth:         policy.Auth{Keys: cfg.Auth.APIKeys},
		CORSOrigins:  cfg.HTTP.CORSOrigins,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		Metrics:      metrics.Handler(),
		Version:      version,
		Logger:       logger,
		Draining:     draining.Load,
		Middleware:   telemetry.Middleware,
	}), nil
}

// resolveRunner finds the runner binary: the configured path, or
// warmbox-runner next to the warmbox executable.
func resolveRunner(configured string) (string, error) {
	path := configured
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("engine.runner_path: locating the warmbox executable: %w", err)
		}
		path = filepath.Join(filepath.Dir(exe), "warmbox-runner")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("engine.runner_path: %w", err)
	}
	return abs, nil
}

func sortedLanguages(cfg Config) []string {
	var names []string
	for n, l := range cfg.Languages {
		if l.Enabled {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
