package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func load(t *testing.T, yaml string, env map[string]string) (Config, error) {
	t.Helper()
	path := ""
	if yaml != "" {
		path = filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return LoadConfig(path, func(k string) string { return env[k] })
}

func TestEmbeddedDefaults(t *testing.T) {
	cfg, err := LoadConfig("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:8000" || cfg.RateLimit.Requests != 10 || cfg.RateLimit.Window != time.Minute {
		t.Errorf("listen %q rate %+v", cfg.Listen, cfg.RateLimit)
	}
	for _, name := range []string{"python", "node", "bash"} {
		l, ok := cfg.Languages[name]
		if !ok || !l.Enabled || l.Image == "" || l.Limits.Timeout != 30*time.Second || l.Limits.MemoryMB != 256 ||
			l.Limits.Pids != 50 || l.Pool.MaxUses != 250 || l.Pool.MaxWait != 500*time.Millisecond {
			t.Errorf("%s = %+v", name, l)
		}
	}
}

func TestLayering(t *testing.T) {
	cfg, err := load(t, `
limits: {memory_mb: 128}
pool: {min_idle: 3}
languages:
  python:
    limits: {timeout: 10s}
    pool: {max_size: 12}
  tcl:
    image: example/tcl
    command: [tclsh]
    file: main.tcl
    version_code: puts [info patchlevel]
`, map[string]string{"WARMBOX_LISTEN": "127.0.0.1:9000", "WARMBOX_POOL_MAX_SIZE": "20", "WARMBOX_SHUTDOWN_DELAY": "5s"})
	if err != nil {
		t.Fatal(err)
	}
	py := cfg.Languages["python"]
	if py.Limits.Timeout != 10*time.Second || py.Limits.MemoryMB != 128 || py.Limits.Pids != 50 {
		t.Errorf("python limits = %+v: want the language's timeout over the top-level memory over the defaults", py.Limits)
	}
	if py.Pool.MinIdle != 3 || py.Pool.MaxSize != 20 {
		t.Errorf("python pool = %+v: want min_idle 3 from the top level and max_size 20 from the environment", py.Pool)
	}
	if py.Image != "warmbox/python:bookworm" || py.File != "main.py" {
		t.Errorf("python lost its embedded settings: %+v", py)
	}
	if r := cfg.Languages["tcl"]; r.Image != "example/tcl" || r.Limits.MemoryMB != 128 || !r.Enabled {
		t.Errorf("tcl = %+v: a language the config file adds is enabled and layered", r)
	}
	if r := cfg.Languages["ruby"]; r.Enabled || r.Image != "warmbox/ruby:bookworm" {
		t.Errorf("ruby = %+v: an embedded language beyond python, node and bash is off by default", r)
	}
	if cfg.Listen != "127.0.0.1:9000" {
		t.Errorf("listen = %q, want the environment's", cfg.Listen)
	}
	if cfg.Shutdown.Delay != 5*time.Second || cfg.Shutdown.DrainTimeout != 65*time.Second {
		t.Errorf("shutdown = %+v, want the environment's delay and the default drain", cfg.Shutdown)
	}
}

func TestEnableLanguages(t *testing.T) {
	cfg, err := load(t, "", map[string]string{"WARMBOX_LANGUAGES": "c, go"})
	if err != nil {
		t.Fatal(err)
	}
	var on []string
	for name, l := range cfg.Languages {
		if l.Enabled {
			on = append(on, name)
		}
	}
	if slices.Sort(on); !slices.Equal(on, []string{"c", "go"}) {
		t.Errorf("enabled = %v, want exactly c and go", on)
	}
	if c := cfg.Languages["c"]; len(c.Compile) == 0 || !c.ExecWorkDir || c.Limits.CompileTimeout != 30*time.Second {
		t.Errorf("c = %+v: want a compile stage, an exec work dir and the default compile timeout", c)
	}
	cfg, err = load(t, "", map[string]string{"WARMBOX_LANGUAGES": "all"})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range cfg.Languages {
		if !l.Enabled {
			t.Errorf("all: %s stayed off", name)
		}
	}
	if len(cfg.Languages) < 20 {
		t.Errorf("%d languages embedded, want at least 20", len(cfg.Languages))
	}
}

func TestExecOverridesPrestart(t *testing.T) {
	cfg, err := load(t, "languages: {python: {handoff: exec}}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if py := cfg.Languages["python"]; py.Handoff != "exec" {
		t.Errorf("python handoff = %q, want exec", py.Handoff)
	}
	if n := cfg.Languages["node"]; n.Handoff != "prestart" || n.Bootstrap != "node" {
		t.Errorf("node handoff = %q bootstrap %q, want the default prestart with the node bootstrap", n.Handoff, n.Bootstrap)
	}
}

func TestDisableLanguage(t *testing.T) {
	cfg, err := load(t, "languages: {node: {enabled: false}}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Languages["node"].Enabled || !cfg.Languages["python"].Enabled {
		t.Errorf("enabled: node %v python %v", cfg.Languages["node"].Enabled, cfg.Languages["python"].Enabled)
	}
}

// On Kubernetes a language's runtime is a RuntimeClass name, not an OCI
// runtime of the engine.
func TestKubernetesBackend(t *testing.T) {
	cfg, err := load(t, "backend: kubernetes\nlanguages: {python: {runtime: gvisor}}\n",
		map[string]string{"WARMBOX_OWNER_POD": "warmbox-7c9d-x2x9z", "WARMBOX_NAMESPACE": "sandboxes"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Backend != "kubernetes" || cfg.Kubernetes.OwnerPod != "warmbox-7c9d-x2x9z" || cfg.Kubernetes.Namespace != "sandboxes" ||
		cfg.Languages["python"].Runtime != "gvisor" || cfg.Kubernetes.RunnerImage != "warmbox/warmbox:dev" {
		t.Errorf("got backend %q kubernetes %+v python runtime %q", cfg.Backend, cfg.Kubernetes, cfg.Languages["python"].Runtime)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"unknown top-level key", "listne: 127.0.0.1:1\n", nil, `unknown key "listne"`},
		{"unknown nested key", "limits: {memry_mb: 1}\n", nil, `unknown key "memry_mb"`},
		{"unknown language key", "languages: {python: {imgae: x}}\n", nil, `unknown key "imgae" in languages.python`},
		{"memory out of range", "limits: {memory_mb: 1}\n", nil, "limits.memory_mb: must be 16 to 65536, got 1"},
		{"language timeout out of range", "languages: {python: {limits: {timeout: 2m}}}\n", nil, "languages.python.limits.timeout: must be 1s to max_timeout"},
		{"pool sizes", "pool: {min_idle: 5, max_size: 2}\n", nil, "max_size"},
		{"bad listen", "listen: nowhere\n", nil, "listen: must be host:port"},
		{"bad metrics listen", "metrics_listen: nowhere\n", nil, "metrics_listen: must be empty or host:port"},
		{"metrics listen on the API's", "listen: 127.0.0.1:9000\nmetrics_listen: 127.0.0.1:9000\n", nil, "metrics_listen: must differ from listen"},
		{"bad log level", "log_level: loud\n", nil, "log_level: must be one of"},
		{"bad log export endpoint", "log_export: {otlp_endpoint: 'victorialogs:9428'}\n", nil, "log_export.otlp_endpoint: must be an http:// or https:// URL"},
		{"bad handoff", "languages: {bash: {handoff: teleport}}\n", nil, "languages.bash.handoff"},
		{"bad bootstrap", "languages: {bash: {bootstrap: ruby}}\n", nil, "languages.bash.bootstrap"},
		{"gvisor reuse refused", "languages: {bash: {runtime: runsc, pool: {max_uses: 5}}}\n", nil, "languages.bash.pool.max_uses: must be 1 with runtime runsc"},
		{"gvisor with the default reuse refused", "languages: {bash: {runtime: runsc}}\n", nil, "set pool: {max_uses: 1} for this language"},
		{"more jobs than a uid block", "pool: {max_uses: 256}\n", nil, "languages.bash.pool.max_uses: must be at most 255"},
		{"bad runtime", "languages: {bash: {runtime: kata}}\n", nil, "languages.bash.runtime"},
		{"bad language name", "languages: {Py/thon: {image: x}}\n", nil, "a language name must match"},
		{"no language", "languages: {python: {enabled: false}, node: {enabled: false}, bash: {enabled: false}}\n", nil, "at least one language"},
		{"wrong type", "limits: {memory_mb: lots}\n", nil, "memory_mb"},
		{"unknown language to enable", "", map[string]string{"WARMBOX_LANGUAGES": "python,cobol"}, `no language "cobol" is configured`},
		{"no language to enable", "", map[string]string{"WARMBOX_LANGUAGES": " , "}, "must name at least one language"},
		{"preload without the python bootstrap", "languages: {node: {preload: [fs]}}\n", nil, "languages.node.preload: only the python bootstrap preloads modules"},
		{"compile with a bootstrap", "languages: {c: {enabled: true, bootstrap: bash}}\n", nil, "languages.c.bootstrap: a compiled language has no pre-started interpreter"},
		{"compile timeout out of range", "limits: {compile_timeout: 10m}\n", nil, "limits.compile_timeout: must be 1s to 5m"},
		{"not a mapping", "- a\n- b\n", nil, "must be a YAML mapping"},
		{"env not a number", "", map[string]string{"WARMBOX_POOL_MIN_IDLE": "many"}, `WARMBOX_POOL_MIN_IDLE="many": must be a whole number`},
		{"env duration", "", map[string]string{"WARMBOX_RATE_LIMIT_WINDOW": "soon"}, "WARMBOX_RATE_LIMIT_WINDOW"},
		{"concurrent cap negative", "rate_limit: {concurrent: -1}\n", nil, "rate_limit.concurrent: must be 0 (no cap) to 10000, got -1"},
		{"shutdown delay too long", "shutdown: {delay: 6m}\n", nil, "shutdown.delay: must be 0 to 5m, got 6m0s"},
		{"env shutdown delay", "", map[string]string{"WARMBOX_SHUTDOWN_DELAY": "later"}, "WARMBOX_SHUTDOWN_DELAY"},
		{"bad backend", "backend: nomad\n", nil, `backend: must be docker or kubernetes, got "nomad"`},
		{"bad namespace", "backend: kubernetes\nkubernetes: {namespace: Not_DNS}\n", nil, "kubernetes.namespace: must be a DNS label"},
		{"bad owner pod", "", map[string]string{"WARMBOX_BACKEND": "kubernetes", "WARMBOX_OWNER_POD": "-x-"}, "kubernetes.owner_pod: must be a Pod name"},
		{"no runner image", "backend: kubernetes\nkubernetes: {runner_image: \"\"}\n", nil, "kubernetes.runner_image: must name"},
		{"bad toleration", "backend: kubernetes\nkubernetes: {tolerations: [{key: a, operator: Maybe, effect: Never}]}\n", nil, "kubernetes.tolerations[0].operator: must be Exists or Equal"},
		{"bad runtime class", "backend: kubernetes\nlanguages: {bash: {runtime: Bad_Class}}\n", nil, "languages.bash.runtime: must be empty (cluster default) or a RuntimeClass name"},
		{"allowed host with a scheme", "http: {allowed_hosts: [\"https://api.example.com\"]}\n", nil, `http.allowed_hosts: allowed host "https://api.example.com"`},
		{"env allowed host with a port", "", map[string]string{"WARMBOX_ALLOWED_HOSTS": "a.example.com,b.example.com:443"}, `http.allowed_hosts: allowed host "b.example.com:443"`},
		{"bad trusted proxy", "", map[string]string{"WARMBOX_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, `http.trusted_proxies: trusted proxy "proxy.local"`},
		{"bad trace trust", "tracing: {trust_incoming: everyone}\n", nil, "tracing.trust_incoming: must be proxies_and_keys, always or never"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// The keys that guard the HTTP API: defaults, the file, the environment.
func TestHTTPGuardKeys(t *testing.T) {
	cfg, err := LoadConfig("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.HTTP.AllowedHosts) != 0 || cfg.Tracing.TrustIncoming != "proxies_and_keys" {
		t.Errorf("defaults: allowed_hosts %q, trust_incoming %q; want none and proxies_and_keys", cfg.HTTP.AllowedHosts, cfg.Tracing.TrustIncoming)
	}
	cfg, err = load(t, "http: {allowed_hosts: [api.example.com, \"*.internal\"]}\ntracing: {trust_incoming: never}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.HTTP.AllowedHosts, ",") != "api.example.com,*.internal" || cfg.Tracing.TrustIncoming != "never" {
		t.Errorf("from the file: allowed_hosts %q, trust_incoming %q", cfg.HTTP.AllowedHosts, cfg.Tracing.TrustIncoming)
	}
	cfg, err = load(t, "", map[string]string{"WARMBOX_ALLOWED_HOSTS": " warmbox.warmbox.svc, ,*.example.com", "WARMBOX_TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.HTTP.AllowedHosts, ",") != "warmbox.warmbox.svc,*.example.com" || strings.Join(cfg.HTTP.TrustedProxies, ",") != "10.0.0.0/8,fd00::/8" {
		t.Errorf("from the environment: allowed_hosts %q, trusted_proxies %q", cfg.HTTP.AllowedHosts, cfg.HTTP.TrustedProxies)
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "absent.yaml"), noEnv); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}
