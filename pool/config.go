package pool

import (
	"errors"
	"fmt"
	"time"
)

// Config sizes one pool. The zero value is not useful; start from
// [DefaultConfig] and override what the language needs.
type Config struct {
	// MinIdle is the number of idle sandboxes kept ready (default 2).
	MinIdle int `yaml:"min_idle"`
	// MaxSize caps idle+busy+creating sandboxes (default 8). Sandboxes
	// being destroyed are not counted.
	MaxSize int `yaml:"max_size"`
	// MaxUses is the number of jobs a sandbox serves; 1 means single use.
	// Above 1 (default 250), the sandbox is reset between jobs.
	MaxUses int `yaml:"max_uses"`
	// MaxLifetime replaces idle sandboxes older than this (default 30m;
	// 0 keeps them forever). Age is measured on the monotonic clock from
	// the end of creation.
	MaxLifetime time.Duration `yaml:"max_lifetime"`
	// CreateParallel caps concurrent creates in this pool (default 2).
	CreateParallel int `yaml:"create_parallel"`
	// MaxWait bounds how long Acquire waits for a sandbox when none is
	// idle (default 500ms): past it the caller is told at once that the
	// pool is saturated, instead of queueing for seconds.
	MaxWait time.Duration `yaml:"max_wait"`
	// MaxWaiters caps callers waiting in Acquire; beyond it Acquire fails
	// at once with ErrExhausted. 0 means 4*MaxSize (the default).
	MaxWaiters int `yaml:"max_waiters"`
	// Autosize lets the idle target follow demand (default true):
	// ceil(arrival rate x turnaround x Headroom), within [MinIdle,
	// MaxSize], where the turnaround is the time a sandbox is away
	// between two jobs (the create time for single use; the reset time
	// plus the create time shared by MaxUses jobs otherwise). False keeps
	// the target at MinIdle.
	Autosize bool `yaml:"autosize"`
	// Headroom multiplies the demand estimate, to absorb bursts (default
	// 1.5, accepted 1 to 10).
	Headroom float64 `yaml:"headroom"`
}

// Defaults used by [DefaultConfig].
const (
	defaultMinIdle        = 2
	defaultMaxSize        = 8
	defaultMaxUses        = 250
	defaultMaxWait        = 500 * time.Millisecond
	maxMaxWait            = time.Minute
	defaultMaxLifetime    = 30 * time.Minute
	defaultCreateParallel = 2
	waitersPerSlot        = 4 // MaxWaiters = waitersPerSlot*MaxSize when 0
	defaultHeadroom       = 1.5
	maxHeadroom           = 10
)

// DefaultConfig returns the defaults: 2 idle, at most 8, 250 jobs per
// sandbox, a 500ms wait for a busy pool, 30 minute lifetime, 2 parallel creates, 4*MaxSize waiters, an idle
// target that follows demand with 1.5x headroom.
func DefaultConfig() Config {
	return Config{
		MinIdle:        defaultMinIdle,
		MaxSize:        defaultMaxSize,
		MaxUses:        defaultMaxUses,
		MaxWait:        defaultMaxWait,
		MaxLifetime:    defaultMaxLifetime,
		CreateParallel: defaultCreateParallel,
		MaxWaiters:     0, // 4*MaxSize, so it follows max_size
		Autosize:       true,
		Headroom:       defaultHeadroom,
	}
}

// Validate reports every invalid field, each error naming the yaml key and
// the accepted range. It has no side effects.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, want string, got any) {
		errs = append(errs, fmt.Errorf("%s: must be %s, got %v", key, want, got))
	}
	if c.MinIdle < 0 {
		bad("min_idle", ">= 0", c.MinIdle)
	}
	switch {
	case c.MaxSize < 1:
		bad("max_size", ">= 1", c.MaxSize)
	case c.MaxSize < c.MinIdle:
		bad("max_size", fmt.Sprintf(">= min_idle (%d)", c.MinIdle), c.MaxSize)
	}
	if c.MaxUses < 1 {
		bad("max_uses", ">= 1 (1 = single use)", c.MaxUses)
	}
	if c.MaxLifetime < 0 {
		bad("max_lifetime", ">= 0 (0 = forever)", c.MaxLifetime)
	}
	if c.MaxWait <= 0 || c.MaxWait > maxMaxWait {
		bad("max_wait", "more than 0 and at most 1m", c.MaxWait)
	}
	if c.CreateParallel < 1 {
		bad("create_parallel", ">= 1", c.CreateParallel)
	}
	if c.MaxWaiters < 0 {
		bad("max_waiters", ">= 0 (0 = 4*max_size)", c.MaxWaiters)
	}
	if !(c.Headroom >= 1 && c.Headroom <= maxHeadroom) { // also rejects NaN
		bad("headroom", fmt.Sprintf("1 to %d", maxHeadroom), c.Headroom)
	}
	return errors.Join(errs...)
}

// maxWaiters resolves the 0 default of MaxWaiters.
func (c Config) maxWaiters() int {
	if c.MaxWaiters == 0 {
		return waitersPerSlot * c.MaxSize
	}
	return c.MaxWaiters
}
