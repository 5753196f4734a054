// Package testdaemon starts the real warmbox daemon as a subprocess for
// end-to-end tests: it builds the warmbox and runner binaries once,
// writes a config with a scope of its own (so concurrent test daemons do
// not reap each other's sandboxes), waits until the daemon is ready and
// stops it at cleanup, checking that no sandbox of its scope is left.
//
// It needs a Docker engine and the runtime images (`make images`); it
// fails the test, never skips, when either is missing.
package testdaemon
