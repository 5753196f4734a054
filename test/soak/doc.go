// Package soak runs the real daemon under a mixed load of normal and
// hostile programs at concurrency 32 for a while (WARMBOX_SOAK, default
// 60s; `make soak` runs 10 minutes) and checks that every request got a
// well-formed answer, that no container leaked and that the daemon's
// memory, goroutines and file descriptors stayed flat. It prints the
// figures; docs/SECURITY.md quotes a run.
package soak
