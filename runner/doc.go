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
// The wire protocol (frames, Request and Reply, Job and Result, Conn,
// file-name rules, the uid block layout and the runner's command lines)
// is package wire, which the daemon imports without linking the agent.
//
// This package is the agent itself. It imports only wire: the runner
// binary depends on it, the daemon never does.
package runner
