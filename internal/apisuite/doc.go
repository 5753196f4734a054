// Package apisuite holds end-to-end API tests that every backend must
// pass: test/e2e runs them against a daemon on Docker, test/kube against
// one on Kubernetes. Each takes a running daemon (internal/testdaemon).
package apisuite
