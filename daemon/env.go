package daemon

// The environment variables that override the configuration
// (docs/CONFIG.md, "Environment").

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warmbox/warmbox/pool"
)

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
