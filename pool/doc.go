// Package pool keeps a warm pool of idle, pre-created sandboxes for one
// language and hands them to requests.
//
// A [Pool] owns the bookkeeping of its sandboxes: which are idle, leased,
// being created, reset or destroyed; who is waiting for one; when one has
// lived too long; how often creation has failed. One maintainer goroutine
// per pool keeps Idle+Creating+Resetting at the idle target plus the number of
// waiters (never above [Config.MaxSize], never more than
// [Config.CreateParallel] creates at once), replaces expired sandboxes and
// backs off exponentially while creation fails (until a create begun after
// the last failure succeeds: one begun before it, say before an image was
// removed, proves nothing). A sandbox that has served a
// job is destroyed and replaced (single use, the default) or, when
// [Config.MaxUses] > 1, reset in the background and reused.
//
// # Sizing
//
// The idle target follows demand ([Config.Autosize], on by default). The
// pool smooths its arrival rate (Acquire calls per second, exponentially
// decaying counts on the monotonic clock: a slow one with a 20 s time
// constant and a fast one with 2 s, of which it takes the larger, so the
// target rises within seconds and falls slowly; below one call a minute
// it reads as 0), its create time and its reset time (each success moves
// the average a quarter of the way). The turnaround is how long a sandbox
// is away between two jobs: the create time in single use, the reset time
// plus the create time shared by MaxUses jobs with reuse. By Little's
// law, rate x turnaround is the number of sandboxes in flight back to
// idle at steady demand, so
//
//	target = clamp(ceil(rate x turnaround x Headroom), MinIdle, MaxSize)
//
// keeps that many in flight or idle, and [Config.Headroom] - 1 times as
// many more for bursts. When demand falls, surplus idle sandboxes are
// destroyed ([ReasonSurplus]), the oldest first, at most one per maintainer
// tick (1 s) and never below MinIdle, and only when more than the highest
// target of the last minute stayed idle through every tick of the last
// 10 s: a burst that just ended, a reused sandbox coming back while its
// replacement was being created, or a target that swings with a loaded
// host's reset times (for seconds or for tens of seconds) does not make
// the pool destroy and recreate (a create, start and remove cost the
// engine about as much CPU as a dozen warm jobs). Autosize off keeps the
// target at MinIdle.
//
// Recycles are spread out: sandboxes created together and handed out in
// turn would all reach MaxUses together, and their creates would run at
// once while the pool is short of all of them. The first of several
// sandboxes in the last quarter of their MaxUses goes early
// ([ReasonUsed]), the next one a create time after the last recycle at
// the soonest and never while a create is in flight; a sandbox alone
// there serves MaxUses.
//
// # Host limits
//
// Pools may share a [Host] ([WithHost]); without one each pool has its own
// with no limits. The Host bounds creates across its pools
// ([HostConfig.CreateParallel], handed out first come, first served, on top
// of each pool's own limit) so that refills do not starve running jobs of
// CPU, and bounds idle sandboxes beyond MinIdle ([HostConfig.IdleBudget],
// for memory). MinIdle is never charged (whoever sets the budget checks that
// the pools' MinIdle fit the host), nor are creates for waiting callers.
// Every other idle sandbox or create in flight holds a budget slot, taken
// before the create starts and given back when the sandbox leaves idle
// (leased, destroyed). A sandbox that comes back to idle (reused, or
// created for a caller who gave up) without a slot to be had is destroyed
// at once as surplus, unless the pool is below MinIdle.
//
// Fairness: each pool is entitled to a max-min fair share of the budget,
// computed from what the pools want (their target above MinIdle; nothing
// while their creates fail). A pool wanting no more than an equal share
// gets all it wants; the rest is split equally among the pools wanting
// more (the integer remainder to the later-joined). A pool may also use
// budget that no other pool is entitled to and has not taken, so one busy
// language can hold the whole budget while the others are quiet; when
// another pool claims its share, the Host refuses the busy pool new slots
// and it sheds surplus idle sandboxes, one per tick, until the other has
// its share.
//
// # Use and locking
//
// Acquire hands out a [Lease]; the caller ends it with [Lease.Release]
// (normal end of a job) or [Lease.Discard] (the sandbox cannot be trusted).
// Waiters are served first come, first served, directly by whoever makes a
// sandbox available. Creation, reset and destroy never run with the
// caller's context: creation is cancelled only by [Pool.Close].
//
// Locking follows jackc/puddle and database/sql: one mutex guards a
// documented block of fields, helpers that need it end in "Locked", and no
// [Runtime] call runs while it is held. A pool calls its Host with its own
// mutex held (lock order: pool, then host); the Host never calls back into a
// pool except to wake its maintainer without blocking.
//
// The package does not know what a sandbox is: the container runtime
// (Docker or Kubernetes) implements [Runtime] elsewhere, and the pool
// never talks to Docker, never runs jobs, never reaps leftovers by label.
// It does not export metrics either: [Pool.Stats] and [Host.Stats] return
// value snapshots and an optional [Observer] receives timings, which
// telemetry turns into Prometheus metrics. Traces use the OpenTelemetry API
// only (otel.Tracer("warmbox/pool")); without an installed SDK they are
// no-ops. The package imports nothing else of warmbox and keeps no
// package-level mutable state.
package pool
