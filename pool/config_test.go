package pool_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/pool"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*pool.Config)
		wantErr []string // substrings, all required; none means valid
	}{
		{"defaults", func(*pool.Config) {}, nil},
		{"no idle, on demand", func(c *pool.Config) { c.MinIdle = 0 }, nil},
		{"max_size equals min_idle", func(c *pool.Config) { c.MinIdle, c.MaxSize = 8, 8 }, nil},
		{"forever", func(c *pool.Config) { c.MaxLifetime = 0 }, nil},
		{"explicit waiters", func(c *pool.Config) { c.MaxWaiters = 100 }, nil},
		{"negative min_idle", func(c *pool.Config) { c.MinIdle = -1 }, []string{"min_idle: must be >= 0, got -1"}},
		{"zero max_size", func(c *pool.Config) { c.MinIdle, c.MaxSize = 0, 0 }, []string{"max_size: must be >= 1, got 0"}},
		{"max_size below min_idle", func(c *pool.Config) { c.MinIdle, c.MaxSize = 2, 1 }, []string{"max_size: must be >= min_idle (2), got 1"}},
		{"zero max_uses", func(c *pool.Config) { c.MaxUses = 0 }, []string{"max_uses: must be >= 1 (1 = single use), got 0"}},
		{"negative max_lifetime", func(c *pool.Config) { c.MaxLifetime = -time.Second }, []string{"max_lifetime: must be >= 0 (0 = forever), got -1s"}},
		{"zero create_parallel", func(c *pool.Config) { c.CreateParallel = 0 }, []string{"create_parallel: must be >= 1, got 0"}},
		{"negative max_waiters", func(c *pool.Config) { c.MaxWaiters = -1 }, []string{"max_waiters: must be >= 0 (0 = 4*max_size), got -1"}},
		{"autosize off", func(c *pool.Config) { c.Autosize = false }, nil},
		{"max_wait 0", func(c *pool.Config) { c.MaxWait = 0 }, []string{"max_wait: must be more than 0 and at most 1m, got 0s"}},
		{"max_wait 2m", func(c *pool.Config) { c.MaxWait = 2 * time.Minute }, []string{"max_wait: must be more than 0 and at most 1m, got 2m0s"}},
		{"headroom 1", func(c *pool.Config) { c.Headroom = 1 }, nil},
		{"headroom 10", func(c *pool.Config) { c.Headroom = 10 }, nil},
		{"headroom below 1", func(c *pool.Config) { c.Headroom = 0.5 }, []string{"headroom: must be 1 to 10, got 0.5"}},
		{"headroom unset", func(c *pool.Config) { c.Headroom = 0 }, []string{"headroom: must be 1 to 10, got 0"}},
		{"headroom above 10", func(c *pool.Config) { c.Headroom = 10.5 }, []string{"headroom: must be 1 to 10, got 10.5"}},
		{"headroom NaN", func(c *pool.Config) { c.Headroom = math.NaN() }, []string{"headroom: must be 1 to 10, got NaN"}},
		{"all reported", func(c *pool.Config) { c.MaxUses, c.CreateParallel, c.Headroom = 0, 0, 11 },
			[]string{"max_uses:", "create_parallel:", "headroom:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pool.DefaultConfig()
			tc.mod(&cfg)
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	got := pool.DefaultConfig()
	want := pool.Config{MinIdle: 2, MaxSize: 8, MaxUses: 250, MaxWait: 500 * time.Millisecond, MaxLifetime: 30 * time.Minute,
		CreateParallel: 2, MaxWaiters: 0, Autosize: true, Headroom: 1.5}
	if got != want {
		t.Errorf("DefaultConfig() = %+v, want %+v", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	bad := pool.DefaultConfig()
	bad.MaxSize = 1
	for _, tc := range []struct {
		name    string
		pool    string
		cfg     pool.Config
		rt      pool.Runtime[*fakeSandbox]
		wantErr string
	}{
		{"invalid config", "python", bad, newFake(), `pool "python": max_size: must be >= min_idle (2), got 1`},
		{"empty name", "", pool.DefaultConfig(), newFake(), "name must not be empty"},
		{"nil runtime", "python", pool.DefaultConfig(), nil, "runtime must not be nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pool.New(tc.pool, tc.cfg, tc.rt, nil, nil)
			if p != nil || err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New() = %v, %v; want nil, error containing %q", p, err, tc.wantErr)
			}
		})
	}
}
