// Package bench is warmbox's load harness: it drives targets (a running
// daemon over HTTP, and a caller-supplied cold baseline) with built-in or
// user programs, checks every answer, and reports latency percentiles,
// throughput, errors by kind and the server's own timing breakdown, as a
// terminal table, a JSON document and an SVG plot.
//
// Two load models are offered. The closed loop runs N callers that each
// send their next request when the previous one is answered. The open
// loop sends requests at a fixed arrival rate whatever the answers do,
// and measures every latency from the request's intended send time, so a
// stalled server (or a client that could not keep up) shows up as latency
// instead of as requests that were silently never sent (coordinated
// omission).
//
// Targets are interleaved within one run: request slots are grouped in
// rounds holding one slot per target, in a random order per round, and
// every target in a round runs the same program. Drift in the machine
// (page cache, thermal state, background work) then falls on all targets
// alike.
//
// Percentiles are exact, computed from every measured sample by the
// nearest-rank method: the p-th percentile of n sorted samples is the
// sample at rank ceil(p/100*n), so it is always a latency that was
// actually observed.
//
// The package owns load generation, answer checking, statistics and
// rendering. It does not talk to Docker or import the engine: the cold
// baseline is a function the caller (cmd/warmbox) supplies. It talks HTTP
// only to loopback addresses.
package bench
