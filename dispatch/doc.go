// Package dispatch routes a job to its language's pool, hands it to a
// sandbox and recycles the sandbox: acquire, hand-off, release or
// discard. It is where a backend's error becomes a caller-facing outcome
// (a timeout, a lost sandbox, no capacity).
//
// It is generic over the sandbox type so that the pool and the backends
// (the Docker engine adapter today) stay ignorant of each other. It does
// not parse HTTP, enforce rate limits, or talk to Docker.
package dispatch
