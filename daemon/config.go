package daemon

// The configuration's types and the built-in defaults of every key but
// the languages (defaults.yaml holds those).

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/telemetry"
)

// Config is the whole configuration tree.
type Config struct {
	Listen string `yaml:"listen"`
	// MetricsListen, when set, serves GET /metrics on its own address
	// (an internal port for Prometheus) and not on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	LogLevel      string `yaml:"log_level"`
	// Backend runs the sandboxes: docker (one engine, the default) or
	// kubernetes (warm Pods in a cluster).
	Backend    string                  `yaml:"backend"`
	Engine     EngineConfig            `yaml:"engine"`
	Kubernetes KubernetesConfig        `yaml:"kubernetes"`
	HTTP       HTTPConfig              `yaml:"http"`
	RateLimit  policy.RateLimit        `yaml:"rate_limit"`
	Auth       AuthConfig              `yaml:"auth"`
	Tracing    telemetry.TracingConfig `yaml:"tracing"`
	// LogExport ships the log records to a log store over OTLP as well.
	LogExport telemetry.LogExportConfig `yaml:"log_export"`
	Shutdown  ShutdownConfig            `yaml:"shutdown"`
	Sessions  SessionsConfig            `yaml:"sessions"`
	Limits    policy.Limits             `yaml:"limits"`
	Pool      pool.Config               `yaml:"pool"`
	Pools     PoolsConfig               `yaml:"pools"`
	Languages map[string]LanguageConfig `yaml:"-"`
}

// PoolsConfig bounds what all pools use together on this host.
type PoolsConfig struct {
	// IdleMemoryMB is the host memory idle sandboxes above their pools'
	// min_idle may take together; 0 = unlimited.
	IdleMemoryMB int `yaml:"idle_memory_mb"`
	// SandboxMemoryMB is what one idle sandbox costs the host (its
	// containerd shim and runner: ~14 MB with runc, more with gVisor).
	SandboxMemoryMB int `yaml:"sandbox_memory_mb"`
	// CreateParallel caps sandbox creations in flight across all pools,
	// so refills do not starve running jobs of CPU; 0 = unlimited.
	CreateParallel int `yaml:"create_parallel"`
}

// Host turns the memory budget into the pools' shared limits.
func (p PoolsConfig) Host() pool.HostConfig {
	h := pool.HostConfig{CreateParallel: p.CreateParallel}
	if p.IdleMemoryMB > 0 {
		h.IdleBudget = max(1, p.IdleMemoryMB/p.SandboxMemoryMB)
	}
	return h
}

// EngineConfig locates the Docker engine and the runner binary.
type EngineConfig struct {
	// Host is the Docker API address; empty means DOCKER_HOST or the
	// default socket.
	Host string `yaml:"host"`
	// RunnerPath is the host path of the static runner binary; empty
	// means warmbox-runner next to the warmbox executable.
	RunnerPath string `yaml:"runner_path"`
	// Scope groups daemons that share reaping: at start and shutdown a
	// daemon removes every sandbox of its scope it does not own. Two
	// daemons on one engine need different scopes.
	Scope string `yaml:"scope"`
}

// KubernetesConfig places the sandboxes of the kubernetes backend. The
// reaping scope is engine.scope, as on Docker: each replica needs its
// own (the shipped Deployment sets WARMBOX_SCOPE to the Pod's name).
type KubernetesConfig struct {
	// Kubeconfig is a kubeconfig file; empty means the in-cluster
	// service account.
	Kubeconfig string `yaml:"kubeconfig"`
	// Namespace holds the sandbox Pods.
	Namespace string `yaml:"namespace"`
	// OwnerPod is this replica's own Pod (WARMBOX_OWNER_POD, from the
	// downward API): every sandbox names it in ownerReferences, so the
	// garbage collector removes the sandboxes of a replica that dies.
	// Empty when the daemon runs outside the cluster.
	OwnerPod string `yaml:"owner_pod"`
	// RunnerImage holds the static runner at /usr/local/bin/warmbox-runner
	// (the warmbox image); an init container copies it into each sandbox.
	RunnerImage string `yaml:"runner_image"`
	// NodeSelector and Tolerations place sandbox Pods on sandbox nodes
	// (labelled, and tainted so nothing else lands there).
	NodeSelector map[string]string  `yaml:"node_selector"`
	Tolerations  []TolerationConfig `yaml:"tolerations"`
}

// TolerationConfig is a Pod toleration, as in a Pod spec.
type TolerationConfig struct {
	Key      string `yaml:"key"`
	Operator string `yaml:"operator"` // Exists or Equal ("" = Equal)
	Value    string `yaml:"value"`
	Effect   string `yaml:"effect"` // NoSchedule, PreferNoSchedule, NoExecute or "" (all)
}

// HTTPConfig tunes the HTTP server.
type HTTPConfig struct {
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	CORSOrigins       []string      `yaml:"cors_origins"`
	TrustedProxies    []string      `yaml:"trusted_proxies"`
	AllowedHosts      []string      `yaml:"allowed_hosts"` // Host names answered besides loopback and the listen address (policy.Hosts)
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int           `yaml:"max_header_bytes"`
}

// AuthConfig holds API keys; none means the API is open.
type AuthConfig struct {
	APIKeys []string `yaml:"api_keys"`
}

// ShutdownConfig shapes what SIGTERM does.
type ShutdownConfig struct {
	// Delay is how long the daemon goes on serving after SIGTERM while
	// /readyz answers 503, so that a load balancer (a Kubernetes Service)
	// stops sending before the drain refuses new requests. 0 drains at
	// once.
	Delay time.Duration `yaml:"delay"`
	// DrainTimeout is how long in-flight jobs may run once the drain
	// begins.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// LanguageConfig describes one language's sandboxes.
type LanguageConfig struct {
	Enabled bool     `yaml:"enabled"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	File    string   `yaml:"file"`
	Env     []string `yaml:"env"`
	// Handoff is exec (docker exec of the runner per job) or prestart
	// (the runner is PID 1 and holds the interpreter loaded, reached
	// through the container's attach stream).
	Handoff string `yaml:"handoff"`
	// Bootstrap names the runner's built-in bootstrap that pre-loads the
	// interpreter in prestart mode: python, node or bash. Empty: the
	// runner spawns the interpreter per job (still no docker exec).
	// Ignored in exec mode.
	Bootstrap string `yaml:"bootstrap"`
	// Preload are modules the bootstrap imports before each job, so a
	// job's import of them costs nothing (python only).
	Preload []string `yaml:"preload"`
	// Compile is a compiled language's compiler command; the entry file
	// is appended. The program then runs as Command + args, with the
	// element "{stem}" standing for the entry without its extension.
	Compile []string `yaml:"compile"`
	// ExecWorkDir lets programs in the work dir run (a compiler's
	// output); the work dir is noexec otherwise (docs/SECURITY.md 22).
	ExecWorkDir bool   `yaml:"exec_work_dir"`
	Runtime     string `yaml:"runtime"`
	VersionCode string `yaml:"version_code"`
	// Pool and Limits start from the top-level pool and limits blocks;
	// a language's own blocks override them key by key.
	Pool   pool.Config   `yaml:"pool"`
	Limits policy.Limits `yaml:"limits"`
}

// defaultConfig holds the built-in values that defaults.yaml does not set.
func defaultConfig() Config {
	return Config{
		Listen:     "127.0.0.1:8000",
		LogLevel:   "info",
		Backend:    "docker",
		Engine:     EngineConfig{Scope: "default"},
		Kubernetes: KubernetesConfig{Namespace: "warmbox", RunnerImage: "warmbox/warmbox:dev"},
		RateLimit:  policy.RateLimit{Requests: 10, Window: 60 * time.Second},
		Sessions: SessionsConfig{Max: 16, MaxPerClient: 4, IdleTTL: 5 * time.Minute,
			MaxIdleTTL: time.Hour, MaxLifetime: time.Hour},
		HTTP: HTTPConfig{
			MaxBodyBytes:      2 << 20,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    32 << 10,
		},
		Tracing:  telemetry.DefaultTracingConfig(),
		Shutdown: ShutdownConfig{DrainTimeout: 65 * time.Second},
		Limits:   policy.DefaultLimits(),
		Pool:     pool.DefaultConfig(),
		Pools:    PoolsConfig{IdleMemoryMB: 448, SandboxMemoryMB: 14, CreateParallel: 3},
	}
}

// defaultEnv is a sandboxed program's environment.
var defaultEnv = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1"}

// Effective returns the configuration as a YAML-ready tree, languages
// included, for `warmbox config`.
func (c Config) Effective() map[string]any {
	var top map[string]any
	b, _ := yaml.Marshal(c)
	_ = yaml.Unmarshal(b, &top)
	langs := map[string]any{}
	for name, l := range c.Languages {
		langs[name] = l
	}
	top["languages"] = langs
	return top
}

// SessionsConfig bounds sessions (POST /sessions, the E2B routes): each
// holds a sandbox of its language's pool while it is open.
type SessionsConfig struct {
	// Max is how many may be open at once, all clients together; 0
	// turns sessions off.
	Max int `yaml:"max"`
	// MaxPerClient is how many one client (its rate-limit key) may have.
	MaxPerClient int `yaml:"max_per_client"`
	// IdleTTL closes a session unused this long, unless its opener asked
	// for another (up to MaxIdleTTL).
	IdleTTL    time.Duration `yaml:"idle_ttl"`
	MaxIdleTTL time.Duration `yaml:"max_idle_ttl"`
	// MaxLifetime closes a session this long after it opened, used or not.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
}

// bounds converts the config for the dispatcher.
func (c SessionsConfig) bounds() dispatch.SessionConfig {
	return dispatch.SessionConfig{Max: c.Max, MaxPerClient: c.MaxPerClient, IdleTTL: c.IdleTTL,
		MaxIdleTTL: c.MaxIdleTTL, MaxLifetime: c.MaxLifetime}
}
