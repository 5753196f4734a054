// Package engine is warmbox's Docker adapter: the only package that
// imports the Docker SDK.
//
// It creates locked-down sandbox containers from policy limits, hands a
// job to a sandbox (docker exec of the runner, job frame on stdin, result
// frame on stdout), destroys sandboxes, reaps containers by ownership
// label, and watches the engine's events for sandboxes that die from
// outside. A Runtime satisfies pool.Runtime for one language. The
// sandboxes have the network disabled; the engine mounts them warmbox's
// own read-only /etc/hosts and /etc/resolv.conf from a volume of the
// daemon's scope, which it fills through the engine's archive API before
// its first create and removes at shutdown (etc.go).
//
// It does not decide when to create or destroy (the pool does), nor what
// a result means for the caller (dispatch and httpapi do). It never reads
// or writes a path inside a sandbox: the runner does that, inside.
package engine
