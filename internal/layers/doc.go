// Package layers holds warmbox's import rules, the package table of
// docs/DESIGN.md in checkable form: which of our packages each package
// may import, and which packages alone may import the Docker SDK and the
// Kubernetes client. Its test, run by `make lint`, lists every package of
// the module with `go list` and fails on an import the rules do not
// allow, or on a package they do not name.
package layers
