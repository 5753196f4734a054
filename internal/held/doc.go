// Package held tracks the sandboxes a backend's pools hold, so that the
// backend's reconcile can tell its own sandboxes from orphans (a create
// or a removal that failed while the engine or API server was unwell)
// and notice held ones that vanished while its watch was down. Both
// backends (engine, kube) use it.
package held
