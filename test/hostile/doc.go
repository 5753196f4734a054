// Package hostile is warmbox's hostile-code battery: programs that try
// to exhaust, escape, spy on or outlive their sandbox, run through the
// real HTTP API of a real daemon against the real Docker engine.
//
// The cases live in one data file, cases.yaml: language, program,
// timeout, optional stdin, files and arguments, and an exact expectation
// (HTTP status, status, exit code or signal, flags, output lengths,
// substrings and regular expressions that must or must not appear). A
// case may carry a follow-up job in the same language, run right after
// it, that proves the case left nothing behind for the next job.
//
// After every case the harness checks that the daemon still serves a
// normal program in that language (the canary), that the language's
// labelled containers return to the pool's idle size, and that no
// process of the sandbox user survives on the host outside a live
// container (nor any process carrying the case's marker).
//
// TestHostile runs the single-use cases with the default hand-off,
// TestExecHandoff the hand-off-sensitive ones with the exec hand-off,
// TestReuse the reuse-mode cases (one sandbox per language, reset
// between jobs) and TestGVisor the cases that carry a runsc
// expectation; TestCasesFile checks the file and its citations.
//
// docs/SECURITY.md maps each promise of the threat model to the cases
// that prove it. An expectation that the real engine contradicts is a
// finding: the case keeps the observed behaviour, names the finding, and
// logs it on every run.
package hostile
