// Package runner is the in-sandbox agent and its wire protocol.
//
// The runner is a small static binary (cmd/warmbox-runner) that the daemon
// bind-mounts read-only into every sandbox. The daemon hands it one Job
// frame on stdin; the runner writes the job's files under the work dir,
// runs the program as the sandbox user with rlimits, captures stdout and
// stderr separately with caps, kills every process of the job at the end
// (or at the deadline), and answers with one Result frame on stdout.
//
// A frame is a 4-byte big-endian length followed by that many bytes of
// JSON. The program's own output never reaches the runner's stdout, so a
// program cannot forge a result frame.
//
// This package owns the protocol types (Job, Result, frames), file name
// validation and the agent itself. It imports nothing of warmbox: the
// daemon and the runner binary both depend on it, never the other way.
package runner
