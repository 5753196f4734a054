package daemon

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/warmbox/warmbox/dispatch"
	"github.com/warmbox/warmbox/policy"
	"github.com/warmbox/warmbox/pool"
	"github.com/warmbox/warmbox/runner"
	"github.com/warmbox/warmbox/telemetry"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Config is the whole configuration tree.
type Config struct {
	Listen string `yaml:"listen"`
	// MetricsListen, when set, serves GET /metrics on its own address
	// (an internal port for Prometheus) and not on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	LogLevel      string `yaml:"log_level"`
	// Backend runs the sandboxes: docker (one engine, the default) or
	// kubernetes (warm Pods in a cluster).
	Backend    string                    `yaml:"backend"`
	Engine     EngineConfig              `yaml:"engine"`
	Kubernetes KubernetesConfig          `yaml:"kubernetes"`
	HTTP       HTTPConfig                `yaml:"http"`
	RateLimit  policy.RateLimit          `yaml:"rate_limit"`
	Auth       AuthConfig                `yaml:"auth"`
	Tracing    telemetry.TracingConfig   `yaml:"tracing"`
	Shutdown   ShutdownConfig            `yaml:"shutdown"`
	Sessions   SessionsConfig            `yaml:"sessions"`
	Limits     policy.Limits             `yaml:"limits"`
	Pool       pool.Config               `yaml:"pool"`
	Pools      PoolsConfig               `yaml:"pools"`
	Languages  map[string]LanguageConfig `yaml:"-"`
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

// LoadConfig layers the embedded defaults, the YAML file at path (if
// path is not empty) and the environment, then validates.
func LoadConfig(path string, env func(string) string) (Config, error) {
	var user []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		user = b
	}
	cfg, err := parseConfig(user)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.applyEnv(env); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseConfig merges user YAML over the embedded defaults and decodes it
// strictly: an unknown key is an error that names it.
func parseConfig(user []byte) (Config, error) {
	base, err := parseNode(defaultsYAML, "embedded defaults")
	if err != nil {
		return Config{}, err
	}
	if len(bytes.TrimSpace(user)) > 0 {
		over, err := parseNode(user, "config file")
		if err != nil {
			return Config{}, err
		}
		if err := mergeNode(base, over, ""); err != nil {
			return Config{}, err
		}
	}
	langs := takeKey(base, "languages")
	cfg := defaultConfig()
	if err := strictDecode(base, &cfg, ""); err != nil {
		return Config{}, err
	}
	cfg.Languages = map[string]LanguageConfig{}
	if langs == nil {
		return cfg, nil
	}
	if langs.Kind != yaml.MappingNode {
		return Config{}, errors.New("config: languages: must be a mapping of language name to settings")
	}
	for i := 0; i+1 < len(langs.Content); i += 2 {
		name, node := langs.Content[i].Value, langs.Content[i+1]
		prefix := "languages." + name
		if !languageName.MatchString(name) {
			return Config{}, fmt.Errorf("config: %s: a language name must match %s", prefix, languageName)
		}
		if node.Kind != yaml.MappingNode {
			return Config{}, fmt.Errorf("config: %s: must be a mapping", prefix)
		}
		lc := LanguageConfig{Enabled: true, Env: defaultEnv, Handoff: "exec", Pool: cfg.Pool, Limits: cfg.Limits}
		// lc starts from the top-level limits and pool blocks; the
		// language's own blocks override them key by key.
		if err := strictDecode(node, &lc, prefix); err != nil {
			return Config{}, err
		}
		cfg.Languages[name] = lc
	}
	return cfg, nil
}

func parseNode(b []byte, what string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w", what, err)
	}
	if doc.Kind == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s: must be a YAML mapping", what)
	}
	return doc.Content[0], nil
}

// mergeNode merges over into base: mappings merge key by key, anything
// else is replaced.
func mergeNode(base, over *yaml.Node, path string) error {
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		key := strings.TrimPrefix(path+"."+k.Value, ".")
		if bv := findKey(base, k.Value); bv != nil && bv.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
			if err := mergeNode(bv, v, key); err != nil {
				return err
			}
			continue
		}
		setKey(base, k.Value, v)
	}
	return nil
}

func findKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setKey(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func takeKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return v
		}
	}
	return nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

// strictDecode decodes node onto out, rejecting unknown keys by name.
func strictDecode(node *yaml.Node, out any, prefix string) error {
	b, err := yaml.Marshal(node)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// Line numbers refer to the re-encoded document: map them
			// back to key paths, which mean something to the user.
			var doc yaml.Node
			_ = yaml.Unmarshal(b, &doc)
			msgs := make([]string, 0, len(te.Errors))
			for _, e := range te.Errors {
				if m := unknownField.FindStringSubmatch(e); m != nil {
					msgs = append(msgs, fmt.Sprintf("unknown key %q%s", m[1], where(prefix)))
					continue
				}
				msg := stripLine(e)
				if m := lineRef.FindStringSubmatch(e); m != nil {
					line, _ := strconv.Atoi(m[1])
					if key := keyAtLine(&doc, line, prefix); key != "" {
						msg = key + ": " + msg
					}
				}
				msgs = append(msgs, msg)
			}
			return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
		}
		return fmt.Errorf("config%s: %w", where(prefix), err)
	}
	return nil
}

var lineRef = regexp.MustCompile(`^line (\d+): `)

// keyAtLine finds the dotted key whose value sits on line.
func keyAtLine(n *yaml.Node, line int, path string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if k := keyAtLine(c, line, path); k != "" {
				return k
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := strings.TrimPrefix(path+"."+n.Content[i].Value, ".")
			v := n.Content[i+1]
			if v.Line == line && v.Kind == yaml.ScalarNode {
				return key
			}
			if k := keyAtLine(v, line, key); k != "" {
				return k
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Line == line && c.Kind == yaml.ScalarNode {
				return path
			}
		}
	}
	return ""
}

func stripLine(s string) string { return lineRef.ReplaceAllString(s, "") }

func where(prefix string) string {
	if prefix == "" {
		return ""
	}
	return " in " + prefix
}

// applyEnv applies the environment variables for the common keys.
func (c *Config) applyEnv(env func(string) string) error {
	set := func(name string, apply func(v string) error) error {
		v := env(name)
		if v == "" {
			return nil
		}
		if err := apply(v); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, v, err)
		}
		return nil
	}
	atoi := func(dst *int) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("must be a whole number")
			}
			*dst = n
			return nil
		}
	}
	// eachPool applies a pool setting to the default and every language.
	eachPool := func(apply func(p *pool.Config)) {
		apply(&c.Pool)
		for name, l := range c.Languages {
			apply(&l.Pool)
			c.Languages[name] = l
		}
	}
	perPool := func(apply func(p *pool.Config, n int)) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return errors.New("must be a whole number")
			}
			eachPool(func(p *pool.Config) { apply(p, n) })
			return nil
		}
	}
	return errors.Join(
		set("WARMBOX_LISTEN", func(v string) error { c.Listen = v; return nil }),
		set("WARMBOX_METRICS_LISTEN", func(v string) error { c.MetricsListen = v; return nil }),
		set("WARMBOX_LOG_LEVEL", func(v string) error { c.LogLevel = v; return nil }),
		set("WARMBOX_SCOPE", func(v string) error { c.Engine.Scope = v; return nil }),
		set("WARMBOX_RUNNER_PATH", func(v string) error { c.Engine.RunnerPath = v; return nil }),
		set("WARMBOX_BACKEND", func(v string) error { c.Backend = v; return nil }),
		set("WARMBOX_NAMESPACE", func(v string) error { c.Kubernetes.Namespace = v; return nil }),
		set("WARMBOX_OWNER_POD", func(v string) error { c.Kubernetes.OwnerPod = v; return nil }),
		set("WARMBOX_RATE_LIMIT_REQUESTS", atoi(&c.RateLimit.Requests)),
		set("WARMBOX_RATE_LIMIT_CONCURRENT", atoi(&c.RateLimit.Concurrent)),
		set("WARMBOX_RATE_LIMIT_WINDOW", func(v string) error {
			d, err := time.ParseDuration(v)
			c.RateLimit.Window = d
			return err
		}),
		set("WARMBOX_SESSIONS_MAX", atoi(&c.Sessions.Max)),
		set("WARMBOX_SHUTDOWN_DELAY", func(v string) error {
			d, err := time.ParseDuration(v)
			c.Shutdown.Delay = d
			return err
		}),
		set("WARMBOX_POOL_MIN_IDLE", perPool(func(p *pool.Config, n int) { p.MinIdle = n })),
		set("WARMBOX_POOL_MAX_SIZE", perPool(func(p *pool.Config, n int) { p.MaxSize = n })),
		set("WARMBOX_POOL_MAX_USES", perPool(func(p *pool.Config, n int) { p.MaxUses = n })),
		set("WARMBOX_POOL_MAX_WAIT", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return errors.New("must be a duration like 500ms")
			}
			eachPool(func(p *pool.Config) { p.MaxWait = d })
			return nil
		}),
		set("WARMBOX_API_KEYS", func(v string) error {
			c.Auth.APIKeys = slices.DeleteFunc(strings.Split(v, ","), func(s string) bool { return strings.TrimSpace(s) == "" })
			return nil
		}),
		set("WARMBOX_ALLOWED_HOSTS", func(v string) error { c.HTTP.AllowedHosts = list(v); return nil }),
		set("WARMBOX_CORS_ORIGINS", func(v string) error { c.HTTP.CORSOrigins = list(v); return nil }),
		set("WARMBOX_TRUSTED_PROXIES", func(v string) error { c.HTTP.TrustedProxies = list(v); return nil }),
		set("WARMBOX_LANGUAGES", c.enableOnly),
	)
}

// enableOnly enables exactly the languages of a comma-separated list
// ("all": every configured one) and disables the others.
func (c *Config) enableOnly(v string) error {
	names := list(v)
	all := slices.Equal(names, []string{"all"})
	for _, n := range names {
		if _, ok := c.Languages[n]; !ok && !all {
			return fmt.Errorf("no language %q is configured (configured: %s)", n,
				strings.Join(slices.Sorted(maps.Keys(c.Languages)), ", "))
		}
	}
	if len(names) == 0 {
		return errors.New("must name at least one language, or all")
	}
	for name, l := range c.Languages {
		l.Enabled = all || slices.Contains(names, name)
		c.Languages[name] = l
	}
	return nil
}

// list splits a comma-separated environment value, dropping blanks.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

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
	case l.Handoff != "exec" && l.Handoff != "prestart":
		return fmt.Errorf("handoff: must be exec or prestart, got %q", l.Handoff)
	case !slices.Contains([]string{"", "python", "node", "bash"}, l.Bootstrap):
		return fmt.Errorf("bootstrap: must be empty, python, node or bash, got %q", l.Bootstrap)
	case backend == "docker" && l.Runtime != "" && l.Runtime != "runc" && l.Runtime != "runsc":
		return fmt.Errorf("runtime: must be empty (engine default), runc or runsc, got %q", l.Runtime)
	case backend == "kubernetes" && l.Runtime != "" && !dnsSubdomain.MatchString(l.Runtime):
		return fmt.Errorf("runtime: must be empty (cluster default) or a RuntimeClass name, got %q", l.Runtime)
	case l.Runtime == "runsc" && l.Pool.MaxUses > 1:
		// docs/SECURITY.md F5: forged frames are refused (request
		// tokens), but this gVisor release has no /proc/sysvipc or
		// /dev/mqueue, so the verified reset cannot verify and every
		// reused sandbox would be destroyed after its first job anyway.
		return fmt.Errorf("pool.max_uses: must be 1 with runtime runsc (gVisor sandboxes cannot be verified clean for reuse: docs/SECURITY.md F5); set pool: {max_uses: 1} for this language, got %d", l.Pool.MaxUses)
	case l.Pool.MaxUses > runner.UIDBlock-1:
		return fmt.Errorf("pool.max_uses: must be at most %d (every job of a sandbox gets a uid of its own from a block of %d), got %d", runner.UIDBlock-1, runner.UIDBlock, l.Pool.MaxUses)
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

// bounds converts the config for the dispatcher.
func (c SessionsConfig) bounds() dispatch.SessionConfig {
	return dispatch.SessionConfig{Max: c.Max, MaxPerClient: c.MaxPerClient, IdleTTL: c.IdleTTL,
		MaxIdleTTL: c.MaxIdleTTL, MaxLifetime: c.MaxLifetime}
}
