// Package kube tests the Kubernetes backend against a real single-node
// cluster (deploy/kubernetes/testbed.sh, started by `make test-kube`):
// the same end-to-end API suite as on Docker (internal/apisuite) through
// a daemon with backend kubernetes, a sandbox Pod killed mid-job, two
// in-cluster replicas (garbage collection of a dead replica's sandboxes
// while the other serves, reaping after a crash), the replicas' RBAC
// (kubectl auth can-i), the shipped manifests (server-side dry run), and
// the figures of docs/KUBERNETES.md (TestMeasure, which only fails when
// something does not work).
//
// KUBECONFIG must name the cluster's admin kubeconfig; the tests fail,
// never skip, when it does not answer.
package kube
