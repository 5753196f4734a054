// Package wire is the protocol between the daemon and the runner (the
// in-sandbox agent, package runner): what the daemon sends, what the
// runner answers, and the facts both sides must agree on.
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
// It also holds what both sides must agree on besides frames: Job
// validation and file-name rules (ValidateFileName), the return-file
// bounds, each sandbox's uid block (UIDBlock, ValidRunnerUID), and the
// runner's mount path and command lines (MountPath, RunCommand, Serve).
// It imports nothing of warmbox and nothing platform-specific, so the
// daemon builds on any platform Go does.
package wire
