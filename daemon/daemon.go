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
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/httpapi"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/telemetry"
)

// closeTimeout bounds destroying every sandbox at shutdown.
const closeTimeout = 30 * time.Second

// Run serves until ctx ends (SIGINT/SIGTERM in the CLI), then drains:
// stop accepting, let in-flight jobs finish (up to the drain timeout, or
// at once on a second signal), destroy every sandbox, flush telemetry.
// ready, if not nil, receives the listening address once serving.
func Run(ctx context.Context, cfg Config, version string, ready chan<- string) error {
	// The default logger writes to stderr only: the OTel SDK's own
	// errors go there, never back into a log export that failed.
	stderrLog, err := telemetry.NewLogger(os.Stderr, cfg.LogLevel, nil)
	if err != nil {
		return err
	}
	slog.SetDefault(stderrLog)
	telemetry.LogSDKErrors(stderrLog)
	shutdownTracing, err := telemetry.Setup(ctx, cfg.Tracing, version)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	export, shutdownLogs, err := telemetry.SetupLogExport(ctx, cfg.LogExport, cfg.Tracing.ServiceName, version)
	if err != nil {
		return fmt.Errorf("log export: %w", err)
	}
	logger, err := telemetry.NewLogger(os.Stderr, cfg.LogLevel, export)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(flushCtx); err != nil {
			stderrLog.Warn("flushing traces", "err", err)
		}
		if err := shutdownLogs(flushCtx); err != nil {
			stderrLog.Warn("flushing logs", "err", err)
		}
	}()

	instance := uuid.NewString()
	if cfg.Backend == "kubernetes" {
		b, err := newKubeBackend(ctx, cfg, instance, logger)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, b, version, instance, ready, logger)
	}
	b, err := newDockerBackend(ctx, cfg, instance, logger)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, b, version, instance, ready, logger)
}

// serve runs the pools on backend b and the API until ctx ends, then
// drains.
func serve[S pool.Sandbox](ctx context.Context, cfg Config, b backend[S], version, instance string, ready chan<- string, logger *slog.Logger) error {
	defer b.Close()
	if n, err := b.Reap(ctx, false); err != nil {
		return fmt.Errorf("reaping orphaned sandboxes: %w", err)
	} else if n > 0 {
		logger.Info("removed orphaned sandboxes of an earlier daemon", "count", n)
	}

	var disp *dispatch.Dispatcher[S]
	metrics := telemetry.NewMetrics(version, func() []pool.Stats { return disp.Stats() })
	langs, rts := languages(cfg, b)
	disp, err := dispatch.New(langs, rts, dispatch.Options{
		NotStarted: wire.ErrNotStarted, Logger: logger, PoolObs: metrics, Obs: metrics,
		Host: pool.NewHost(cfg.Pools.Host()),
	})
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	disp.ConfigureSessions(cfg.Sessions.bounds())
	metrics.SessionsOpen(func() int { return len(disp.Sessions("")) })
	go b.Watch(watchCtx, disp.Evict)

	var stopping, draining atomic.Bool
	handler, err := newHandler(cfg, disp, b, metrics, logger, version, &stopping, &draining)
	if err != nil {
		_ = closeSandboxes(disp, b, logger)
		return err
	}
	srv := newServer(cfg.HTTP, handler, logger)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		_ = closeSandboxes(disp, b, logger)
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.MetricsListen != "" {
		msrv, err := serveMetrics(cfg, metrics, logger, serveErr)
		if err != nil {
			_ = srv.Close()
			_ = closeSandboxes(disp, b, logger)
			return err
		}
		// Scraped through the drain; closed last.
		defer msrv.Close()
	}
	logger.Info("warmbox serving", "addr", ln.Addr().String(), "version", version, "instance", instance,
		"backend", cfg.Backend, "scope", cfg.Engine.Scope)
	logBrowserAccess(logger, ln.Addr().String(), cfg.HTTP.CORSOrigins)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	go warmUp(ctx, disp, logger)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		_ = closeSandboxes(disp, b, logger)
		return fmt.Errorf("serve: %w", err)
	}

	// A second signal cuts the delay and the drain short.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	now, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	go func() {
		select {
		case <-sigs:
			logger.Warn("second signal: stopping without waiting for running jobs")
			stopNow()
		case <-now.Done():
		}
	}()

	// Delay: go on serving while /readyz says 503, until load balancers
	// have stopped sending.
	stopping.Store(true)
	if d := cfg.Shutdown.Delay; d > 0 {
		logger.Info("shutting down: serving on while /readyz answers 503", "delay", d)
		select {
		case <-time.After(d):
		case <-now.Done():
		}
	}

	// Drain: refuse new work, let running jobs finish.
	draining.Store(true)
	logger.Info("draining", "timeout", cfg.Shutdown.DrainTimeout)
	drainCtx, cancelDrain := context.WithTimeout(now, cfg.Shutdown.DrainTimeout)
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err != nil {
		logger.Warn("drain ended before every request finished", "err", err)
		_ = srv.Close()
	}
	stopWatch()
	return closeSandboxes(disp, b, logger)
}

// warmUp waits for the pools to fill, then runs each language's
// self-test; /readyz turns ready once it has passed.
func warmUp[S pool.Sandbox](ctx context.Context, disp *dispatch.Dispatcher[S], logger *slog.Logger) {
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

func closeSandboxes[S pool.Sandbox](disp *dispatch.Dispatcher[S], b backend[S], logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := disp.Close(ctx)
	n, rerr := b.Reap(ctx, true)
	if n > 0 {
		logger.Warn("removed sandboxes left after the pools closed", "count", n)
	}
	if err = errors.Join(err, rerr); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped; every sandbox removed")
	return nil
}

func languages[S pool.Sandbox](cfg Config, b backend[S]) ([]dispatch.Language, map[string]dispatch.Runtime[S]) {
	var langs []dispatch.Language
	rts := map[string]dispatch.Runtime[S]{}
	for _, name := range sortedLanguages(cfg) {
		l := cfg.Languages[name]
		lang := l.DispatchLanguage(name)
		lang.Packages = b.Packages(l.Image)
		langs = append(langs, lang)
		rts[name] = b.Runtime(name, l)
	}
	return langs, rts
}

func newHandler[S pool.Sandbox](cfg Config, disp *dispatch.Dispatcher[S], b backend[S], metrics *telemetry.Metrics,
	logger *slog.Logger, version string, stopping, draining *atomic.Bool) (http.Handler, error) {
	clients, err := policy.NewClientResolver(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	hosts, err := policy.NewHosts(cfg.HTTP.AllowedHosts, cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.allowed_hosts: %w", err)
	}
	var limiter *policy.Limiter
	if cfg.RateLimit.Requests > 0 {
		limiter = policy.NewLimiter(cfg.RateLimit)
	}
	return httpapi.New(httpapi.Options{
		Service: disp,
		Ping: func(ctx context.Context) error {
			err := b.Ping(ctx)
			metrics.EngineUp(err == nil)
			return err
		},
		Recorder:     metrics,
		Limiter:      limiter,
		Concurrency:  policy.NewConcurrency(cfg.RateLimit.Concurrent),
		RateLimit:    cfg.RateLimit,
		Clients:      clients,
		Auth:         policy.Auth{Keys: cfg.Auth.APIKeys},
		CORSOrigins:  cfg.HTTP.CORSOrigins,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
		Metrics:      apiMetrics(cfg, metrics),
		Version:      version,
		Logger:       logger,
		Stopping:     stopping.Load,
		Draining:     draining.Load,
		Middleware:   telemetry.Middleware,
		Hosts:        hosts,
		TrustTrace:   cfg.Tracing.TrustsIncoming,
	}), nil
}

// newServer is an HTTP server with the http section's bounds.
func newServer(c HTTPConfig, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// apiMetrics is what the API serves at /metrics: the metrics, unless
// they have a listener of their own (then 404).
func apiMetrics(cfg Config, metrics *telemetry.Metrics) http.Handler {
	if cfg.MetricsListen != "" {
		return nil
	}
	return metrics.Handler()
}

// serveMetrics serves GET /metrics alone on cfg.MetricsListen; a serve
// error goes to serveErr, as the API's does.
func serveMetrics(cfg Config, metrics *telemetry.Metrics, logger *slog.Logger, serveErr chan<- error) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler())
	srv := newServer(cfg.HTTP, mux, logger)
	ln, err := net.Listen("tcp", cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics_listen %s: %w", cfg.MetricsListen, err)
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			select {
			case serveErr <- fmt.Errorf("metrics: %w", err):
			default:
			}
		}
	}()
	logger.Info("metrics serving", "addr", ln.Addr().String())
	return srv, nil
}

// ResolveRunner is the absolute path of the runner binary to mount into
// sandboxes: engine.runner_path, or warmbox-runner next to this
// executable when that is empty.
func ResolveRunner(configured string) (string, error) {
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

// logBrowserAccess says at start where the playground is and which other
// origins' pages may call the API from a browser (http.cors_origins), so
// that nobody has to discover the setting from a blocked request.
func logBrowserAccess(logger *slog.Logger, addr string, origins []string) {
	playground := "http://" + addr + "/playground"
	if len(origins) == 0 {
		logger.Info("browser access: the playground is served; pages on other origins cannot call this API",
			"playground", playground,
			"to_allow_a_page", "set http.cors_origins or WARMBOX_CORS_ORIGINS, e.g. WARMBOX_CORS_ORIGINS=http://localhost:3000")
		return
	}
	logger.Info("browser access: the playground is served; pages on these origins may call this API",
		"playground", playground, "cors_origins", origins)
}
