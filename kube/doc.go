// Package kube is warmbox's Kubernetes backend: the only package that
// imports client-go. It is the second implementation of the runtime the
// pools consume (the first is package engine, for Docker); pool and
// dispatch do not know which one they have.
//
// A sandbox is a Pod: the runner is copied into a read-only in-memory
// volume by an init container (no host bind mount), the sandbox
// container runs it as PID 1 under the policy Kubernetes can express
// (uid 65534, read-only root, no privilege escalation, no capabilities,
// RuntimeDefault seccomp, Guaranteed CPU and memory, a size-limited
// in-memory work dir, no service-account token, no service links), and
// every Pod names its owning warmbox replica in ownerReferences so that
// the cluster's garbage collector removes the sandboxes of a replica
// that dies.
//
// Jobs go in through pods/exec of the runner (exec mode) or through a
// pods/attach stream opened at warm-up to the runner in serve mode
// (prestart mode), both over WebSocket with SPDY only as the fallback
// when the upgrade fails, with the same frames as on Docker. Recycling
// deletes the Pod with grace period 0.
//
// It does not decide when to create or destroy (the pool does), and it
// never reads or writes a path inside a sandbox: the runner does that,
// inside.
package kube
