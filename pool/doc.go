// Package pool keeps a warm pool of idle, pre-created sandboxes for one
// language and hands them to requests.
//
// A [Pool] owns the bookkeeping of its sandboxes: which are idle, leased,
// being created, reset or destroyed; who is waiting for one; when one has
// lived too long; how often creation has failed. One maintainer goroutine
// per pool keeps Idle+Creating at the idle target plus the number of
// waiters (never above [Config.MaxSize], never more than
// [Config.CreateParallel] creates at once), replaces expired sandboxes and
// backs off exponentially while creation fails. A sandbox that has served a
// job is destroyed and replaced (single use, the default) or, when
// [Config.MaxUses] > 1, reset in the background and reused.
//
// Acquire hands out a [Lease]; the caller ends it with [Lease.Release]
// (normal end of a job) or [Lease.Discard] (the sandbox cannot be trusted).
// Waiters are served first come, first served, directly by whoever makes a
// sandbox available. Creation, reset and destroy never run with the
// caller's context: creation is cancelled only by [Pool.Close].
//
// Locking follows jackc/puddle and database/sql: one mutex guards a
// documented block of fields, helpers that need it end in "Locked", and no
// [Runtime] call runs while it is held.
//
// The package does not know what a sandbox is: the container runtime
// (Docker, later Kubernetes) implements [Runtime] elsewhere, and the pool
// never talks to Docker, never runs jobs, never reaps leftovers by label.
// It does not export metrics either: [Pool.Stats] returns a value snapshot
// and an optional [Observer] receives timings, which telemetry turns into
// Prometheus metrics. Traces use the OpenTelemetry API only
// (otel.Tracer("warmbox/pool")); without an installed SDK they are no-ops.
// The package imports nothing else of warmbox and keeps no package-level
// mutable state.
package pool
