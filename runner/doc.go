// Package runner is the in-sandbox agent and its wire protocol.
//
// The runner is a small static binary (cmd/warmbox-runner) that the daemon
// bind-mounts read-only into every sandbox. For each job it writes the
// job's files under the work dir, runs the program as the sandbox user,
// captures stdout and stderr separately with caps, kills every process of
// the sandbox user at the end (or at the deadline), and reports a Result.
// It has three ways to be used:
//
//   - exec mode: `idle` is the sandbox's PID 1, and each job is a docker
//     exec of `run`, which reads one "run" Request frame on stdin and
//     writes one "result" Reply frame on stdout (after the "output"
//     frames of a streamed job).
//   - prestart mode: `serve` is PID 1. It pre-starts the language's
//     interpreter with a bootstrap (bootstrap/*) that waits for a go
//     signal, then answers Request frames on the container's attach
//     stream with Reply frames: "ready" first (or, with --ready-on-hello,
//     in answer to a "hello" request, for Kubernetes whose attach stream
//     connects late), "accepted" then "result" per run, with "output"
//     frames in between for a streamed job (a daemon that gets no
//     "accepted" within AckTimeout knows the job never started), a
//     "reset" per reset. A job whose command or environment differs from
//     the pre-started interpreter's, or any job without a bootstrap, is
//     started cold, still without docker exec.
//   - reuse: `reset` (a docker exec in exec mode, a request in serve
//     mode) kills every process of the sandbox user, wipes /tmp, /dev/shm,
//     /dev/mqueue and SysV IPC, and verifies that nothing is left; any
//     leftover is reported and the daemon destroys the sandbox.
//
// A frame is a 4-byte big-endian length followed by that many bytes of
// JSON. The program's own output goes to pipes, never to the runner's
// stdout, and the program cannot reopen the runner's stdout (under runc;
// gVisor lets it). Every request carries a fresh random token that every
// reply to it carries back, so a frame a program managed to write is
// refused all the same (Conn, ErrForged).
//
// A job with Stream set is streamed: between "accepted" (serve mode) or
// the request (exec mode) and the result, the runner sends "output"
// replies ({kind, token, stream: "stdout"|"stderr", data}) as it reads
// the program's pipes, at most OutputChunkBytes each and never more of a
// stream in all than Limits.OutputBytes (it sends only what the capped
// buffers keep, from a goroutine of its own, so the program never waits
// on the daemon). The result is the same as unstreamed, whole output
// included. A Conn asks for streaming when given an OutputFunc, checks
// the token, the stream name, the chunk size and the totals of every
// output frame, and refuses one it did not ask for.
//
// This package owns the protocol types (Job, Result, Request, Reply,
// frames), file name validation and the agent itself. It imports nothing
// of warmbox: the daemon and the runner binary both depend on it, never
// the other way.
package runner
