// Package bench is warmbox's load harness: it drives targets (a running
// daemon over HTTP, and caller-supplied baselines) with built-in or
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
// Outside a rate sweep, targets are interleaved within one run: request
// slots are grouped in rounds holding one slot per target, in a random
// order per round, and every target in a round runs the same program.
// Drift in the machine (page cache, thermal state, background work) then
// falls on all targets alike.
//
// A run may have several daemon targets, to compare daemons (isolation
// levels, pool settings) in one run: ParseDaemons reads them from a list
// of NAME=URL pairs; a bare URL is the target "warm".
//
// A rate sweep (Config.Rates) asks where a host saturates. For each
// scenario (one language each, normally hello), for each rate in the
// order given, each target runs an open-loop phase of its own at that
// rate: the warm-up, then the measured time, latency from the intended
// send time as above, at most MaxInFlight requests outstanding. At one
// rate the targets run one after the other, not interleaved: interleaved
// targets would share the host's CPUs, and the point of a sweep is what
// one daemon does with the whole machine. Their order is shuffled at
// each rate (from the seed) so that drift does not always fall on the
// same one. Each point records the offered rate, the served rate, sent
// and right answers, errors by kind (http_503 for a daemon at capacity,
// timeout, ...), and p50, p90, p99 and max latency of the right answers.
// The served rate is right answers per second of measured time, which is
// the longer of sent/offered rate (the time the load was offered) and
// first due time to last answer (when answers lag behind): a daemon past
// its capacity serves less than it is offered, fails the rest, or both.
//
// Every sweep reports the machine's ceiling per scenario: cores
// (runtime.NumCPU) divided by the median CPU time of one request, which
// the daemon reports as cpu_time_ms, over the right answers of the
// warm-up phases of all rates and targets (the measured answers when no
// warm-up answered). For hello that is one interpreter start plus the
// print. It counts only the program's CPU, not the daemon's, the
// runtime's or the engine's, so the host saturates at or below it. Rates
// above 60% of it are marked: there, queueing in front of the CPUs starts
// to show in the latency. The table has one block per scenario, rows
// target by rate; the SVG has one panel per scenario with p50 (solid)
// and p99 (dashed) latency against the offered rate on log scales, a
// colour per target, hollow points where requests failed, and the
// ceiling as a vertical line. Read a sweep from low rates up: where
// served stops following offered, or p99 turns up, or errors appear, the
// target is saturated; compare that rate with the ceiling and with the
// other targets. A sweep's baseline (Config.Baseline, when it names a
// target) runs at the lowest rate only, as a reference: each other
// target's p50 at that rate is compared with its p50 (Report.Comparisons
// with RatePerS set). cmd/warmbox leaves the cold baseline out of a sweep
// (it measures the engine's container start, not a daemon) and uses the
// exec baseline there: a plain docker exec into a warm sandbox.
//
// Percentiles are exact, computed from every measured sample by the
// nearest-rank method: the p-th percentile of n sorted samples is the
// sample at rank ceil(p/100*n), so it is always a latency that was
// actually observed.
//
// The package owns load generation, answer checking, statistics and
// rendering. It does not talk to Docker or import the engine: the cold
// and exec baselines are functions the caller (cmd/warmbox) supplies. It talks HTTP
// only to loopback addresses.
package bench
