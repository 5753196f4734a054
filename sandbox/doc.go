// Package sandbox defines what a sandbox of one language is, the same for
// both backends: its Spec and its hand-off modes. The engine (Docker) and
// kube (Kubernetes) adapters make sandboxes from a Spec; the daemon builds
// the Spec from a language's configuration, once.
package sandbox
