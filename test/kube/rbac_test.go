package kube

import (
	"strings"
	"testing"
)

// The replicas' service account can do exactly what the backend needs
// (deploy/kubernetes/rbac.yaml) and nothing else.
func TestRBACLeastPrivilege(t *testing.T) {
	requireCluster(t)
	applyBase(t)
	sa := "system:serviceaccount:" + namespace + ":warmbox"
	cases := []struct {
		verb, resource, ns string
		allowed            bool
	}{
		{"create", "pods", namespace, true},
		{"get", "pods", namespace, true},
		{"list", "pods", namespace, true},
		{"watch", "pods", namespace, true},
		{"delete", "pods", namespace, true},
		{"create", "pods/exec", namespace, true},
		{"create", "pods/attach", namespace, true},
		{"get", "pods/exec", namespace, true},
		{"get", "pods/attach", namespace, true},
		{"get", "runtimeclasses.node.k8s.io", "", true},

		{"update", "pods", namespace, false},
		{"patch", "pods", namespace, false},
		{"deletecollection", "pods", namespace, false},
		{"create", "pods/portforward", namespace, false},
		{"create", "pods/eviction", namespace, false},
		{"get", "pods/log", namespace, false},
		{"create", "pods/ephemeralcontainers", namespace, false},
		{"get", "secrets", namespace, false},
		{"list", "secrets", namespace, false},
		{"get", "configmaps", namespace, false},
		{"create", "serviceaccounts/token", namespace, false},
		{"create", "deployments.apps", namespace, false},
		{"create", "networkpolicies.networking.k8s.io", namespace, false},
		{"delete", "networkpolicies.networking.k8s.io", namespace, false},
		{"create", "roles.rbac.authorization.k8s.io", namespace, false},
		{"create", "pods", "default", false},
		{"create", "pods/exec", "default", false},
		{"list", "pods", "kube-system", false},
		{"get", "nodes", "", false},
		{"list", "runtimeclasses.node.k8s.io", "", false},
		{"create", "runtimeclasses.node.k8s.io", "", false},
		{"delete", "namespaces", "", false},
		{"*", "*", namespace, false},
	}
	for _, tc := range cases {
		// "pods/exec" would mean a Pod named exec to can-i: subresources
		// go in their own flag.
		resource, sub, _ := strings.Cut(tc.resource, "/")
		args := []string{"auth", "can-i", tc.verb, resource, "--as", sa}
		if sub != "" {
			args = append(args, "--subresource", sub)
		}
		if tc.ns != "" {
			args = append(args, "-n", tc.ns)
		}
		out, _ := kubectlErr(args...) // exit 1 means "no"
		got := strings.TrimSpace(out) == "yes"
		if got != tc.allowed {
			t.Errorf("can-i %s %s -n %q: got %q, want allowed=%v", tc.verb, tc.resource, tc.ns, strings.TrimSpace(out), tc.allowed)
		}
	}
}
