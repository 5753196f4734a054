// Package faults injects faults into a running warmbox daemon under load
// and checks what its callers see: the Docker engine restarted, a
// sandbox killed or paused from outside, a language's image removed,
// SIGTERM and SIGKILL with jobs in flight, a pool drained by a burst.
//
// Every test starts its own daemon (its own scope) through
// internal/testdaemon, runs against the real engine, sends traffic only
// to 127.0.0.1, and restores the engine and the images at cleanup
// whatever happened. The tests run one at a time (`make test-faults`,
// -p 1): the engine restart disturbs everything on the engine. README.md
// lists what each test asserts.
package faults
