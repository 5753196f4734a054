package daemon

// Validation: every value checked, every error naming its key and the
// accepted range.

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/runner/wire"
	"github.com/warmbox/warmbox/sandbox"
)

func (p PoolsConfig) validate() error {
	var errs []error
	if p.IdleMemoryMB < 0 || p.IdleMemoryMB > 1<<20 {
		errs = append(errs, fmt.Errorf("pools.idle_memory_mb: must be 0 (unlimited) to 1048576, got %d", p.IdleMemoryMB))
	}
	if p.SandboxMemoryMB < 1 || p.SandboxMemoryMB > 4096 {
		errs = append(errs, fmt.Errorf("pools.sandbox_memory_mb: must be 1 to 4096, got %d", p.SandboxMemoryMB))
	}
	if p.CreateParallel < 0 || p.CreateParallel > 256 {
		errs = append(errs, fmt.Errorf("pools.create_parallel: must be 0 (unlimited) to 256, got %d", p.CreateParallel))
	}
	return errors.Join(errs...)
}

func (k KubernetesConfig) validate() error {
	var errs []error
	if !dnsLabel.MatchString(k.Namespace) {
		errs = append(errs, fmt.Errorf("kubernetes.namespace: must be a DNS label, got %q", k.Namespace))
	}
	if k.OwnerPod != "" && !dnsSubdomain.MatchString(k.OwnerPod) {
		errs = append(errs, fmt.Errorf("kubernetes.owner_pod: must be a Pod name, got %q", k.OwnerPod))
	}
	for i, t := range k.Tolerations {
		if !slices.Contains([]string{"", "Exists", "Equal"}, t.Operator) {
			errs = append(errs, fmt.Errorf("kubernetes.tolerations[%d].operator: must be Exists or Equal, got %q", i, t.Operator))
		}
		if !slices.Contains([]string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}, t.Effect) {
			errs = append(errs, fmt.Errorf("kubernetes.tolerations[%d].effect: must be NoSchedule, PreferNoSchedule or NoExecute, got %q", i, t.Effect))
		}
		if t.Operator == "Exists" && t.Value != "" {
			errs = append(errs, fmt.Errorf("kubernetes.tolerations[%d].value: must be empty with operator Exists", i))
		}
	}
	if k.RunnerImage == "" {
		errs = append(errs, errors.New("kubernetes.runner_image: must name the warmbox image that holds the runner"))
	}
	return errors.Join(errs...)
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// Validate checks every value without side effects.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: must be host:port, got %q", c.Listen))
	}
	if _, _, err := net.SplitHostPort(c.MetricsListen); c.MetricsListen != "" && err != nil {
		errs = append(errs, fmt.Errorf("metrics_listen: must be empty or host:port, got %q", c.MetricsListen))
	}
	if c.MetricsListen != "" && c.MetricsListen == c.Listen {
		errs = append(errs, fmt.Errorf("metrics_listen: must differ from listen (%q); leave it empty to serve /metrics there", c.Listen))
	}
	switch c.Backend {
	case "docker":
	case "kubernetes":
		if err := c.Kubernetes.validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("backend: must be docker or kubernetes, got %q", c.Backend))
	}
	if !languageName.MatchString(c.Engine.Scope) {
		errs = append(errs, fmt.Errorf("engine.scope: must match %s, got %q", languageName, c.Engine.Scope))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		errs = append(errs, fmt.Errorf("log_level: must be one of debug, info, warn, error, got %q", c.LogLevel))
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("http.max_body_bytes: must be 1024 to 67108864, got %d", c.HTTP.MaxBodyBytes))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v < 100*time.Millisecond || d.v > 10*time.Minute {
			errs = append(errs, fmt.Errorf("%s: must be 100ms to 10m, got %s", d.key, d.v))
		}
	}
	if _, err := policy.NewHosts(c.HTTP.AllowedHosts, ""); err != nil {
		errs = append(errs, fmt.Errorf("http.allowed_hosts: %w", err))
	}
	if _, err := policy.NewClientResolver(c.HTTP.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("http.trusted_proxies: %w", err))
	}
	if c.HTTP.MaxHeaderBytes < 1024 || c.HTTP.MaxHeaderBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("http.max_header_bytes: must be 1024 to 1048576, got %d", c.HTTP.MaxHeaderBytes))
	}
	if err := c.Sessions.validate(); err != nil {
		errs = append(errs, fmt.Errorf("sessions.%w", err))
	}
	if c.Shutdown.Delay < 0 || c.Shutdown.Delay > 5*time.Minute {
		errs = append(errs, fmt.Errorf("shutdown.delay: must be 0 to 5m, got %s", c.Shutdown.Delay))
	}
	if c.Shutdown.DrainTimeout < 0 || c.Shutdown.DrainTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("shutdown.drain_timeout: must be 0 to 10m, got %s", c.Shutdown.DrainTimeout))
	}
	if err := c.RateLimit.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("rate_limit.%w", err))
	}
	if err := c.Tracing.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tracing.%w", err))
	}
	if err := c.LogExport.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("log_export.%w", err))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("limits.%w", err))
	}
	if err := c.Pool.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pool.%w", err))
	}
	if err := c.Pools.validate(); err != nil {
		errs = append(errs, err)
	}
	enabled := 0
	for _, name := range slices.Sorted(maps.Keys(c.Languages)) {
		l := c.Languages[name]
		if !l.Enabled {
			continue
		}
		enabled++
		if err := l.validate(c.Backend); err != nil {
			errs = append(errs, fmt.Errorf("languages.%s.%w", name, err))
		}
	}
	if enabled == 0 {
		errs = append(errs, errors.New("languages: at least one language must be enabled"))
	}
	return errors.Join(errs...)
}

var languageName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (l LanguageConfig) validate(backend string) error {
	switch {
	case l.Image == "":
		return errors.New("image: must be set")
	case len(l.Command) == 0 || l.Command[0] == "":
		return errors.New("command: must name the interpreter, e.g. [python3]")
	case l.File == "" || strings.ContainsAny(l.File, "/\x00") || l.File == "." || l.File == "..":
		return fmt.Errorf("file: must be a plain file name like main.py, got %q", l.File)
	case l.Handoff != sandbox.HandoffExec && l.Handoff != sandbox.HandoffPrestart:
		return fmt.Errorf("handoff: must be exec or prestart, got %q", l.Handoff)
	case !slices.Contains([]string{"", "python", "node", "bash"}, l.Bootstrap):
		return fmt.Errorf("bootstrap: must be empty, python, node or bash, got %q", l.Bootstrap)
	case backend == "docker" && l.Runtime != "" && l.Runtime != "runc" && l.Runtime != "runsc":
		return fmt.Errorf("runtime: must be empty (engine default), runc or runsc, got %q", l.Runtime)
	case backend == "kubernetes" && l.Runtime != "" && !dnsSubdomain.MatchString(l.Runtime):
		return fmt.Errorf("runtime: must be empty (cluster default) or a RuntimeClass name, got %q", l.Runtime)
	case backend == "docker" && l.Runtime == "runsc" && l.Pool.MaxUses > 1:
		// On Kubernetes the RuntimeClass's handler tells (checkRuntimeClasses).
		return l.checkGVisorReuse("runtime runsc")
	case l.Pool.MaxUses > wire.UIDBlock-1:
		return fmt.Errorf("pool.max_uses: must be at most %d (every job of a sandbox gets a uid of its own from a block of %d), got %d", wire.UIDBlock-1, wire.UIDBlock, l.Pool.MaxUses)
	case len(l.Compile) > 0 && l.Compile[0] == "":
		return errors.New("compile: must name the compiler, e.g. [gcc, -o, a.out]")
	case len(l.Preload) > 0 && l.Bootstrap != "python":
		return fmt.Errorf("preload: only the python bootstrap preloads modules; this language's bootstrap is %q", l.Bootstrap)
	case len(l.Compile) > 0 && l.Bootstrap != "":
		return errors.New("bootstrap: a compiled language has no pre-started interpreter; leave it empty")
	case l.VersionCode == "":
		return errors.New("version_code: must be a program that prints the interpreter version")
	}
	if err := l.Limits.Validate(); err != nil {
		return fmt.Errorf("limits.%w", err)
	}
	if err := l.Pool.Validate(); err != nil {
		return fmt.Errorf("pool.%w", err)
	}
	return nil
}

func (c SessionsConfig) validate() error {
	switch {
	case c.Max < 0 || c.Max > 10000:
		return fmt.Errorf("max: must be 0 to 10000, got %d", c.Max)
	case c.Max > 0 && (c.MaxPerClient < 1 || c.MaxPerClient > c.Max):
		return fmt.Errorf("max_per_client: must be 1 to max (%d), got %d", c.Max, c.MaxPerClient)
	case c.Max > 0 && (c.IdleTTL < time.Second || c.IdleTTL > c.MaxIdleTTL):
		return fmt.Errorf("idle_ttl: must be 1s to max_idle_ttl (%s), got %s", c.MaxIdleTTL, c.IdleTTL)
	case c.Max > 0 && (c.MaxIdleTTL > c.MaxLifetime):
		return fmt.Errorf("max_idle_ttl: must be at most max_lifetime (%s), got %s", c.MaxLifetime, c.MaxIdleTTL)
	case c.Max > 0 && (c.MaxLifetime < time.Second || c.MaxLifetime > 24*time.Hour):
		return fmt.Errorf("max_lifetime: must be 1s to 24h, got %s", c.MaxLifetime)
	}
	return nil
}

// checkGVisorReuse refuses job-level reuse of gVisor sandboxes (runtime
// names how the language runs under gVisor). docs/SECURITY.md F5: forged
// frames are refused (request tokens), but this gVisor release has no
// /proc/sysvipc or /dev/mqueue, so the verified reset cannot verify and
// every reused sandbox would be destroyed after its first job anyway.
func (l LanguageConfig) checkGVisorReuse(runtime string) error {
	if l.Pool.MaxUses <= 1 {
		return nil
	}
	return fmt.Errorf("pool.max_uses: must be 1 with %s (gVisor sandboxes cannot be verified clean for reuse: docs/SECURITY.md F5); set pool: {max_uses: 1} for this language, got %d", runtime, l.Pool.MaxUses)
}
