package layers

import (
	"slices"
	"strings"
)

// Module is the module path.
const Module = "github.com/warmbox/warmbox"

// Ours lists, for every package of the module outside test/, the
// packages of ours it may import (paths relative to Module). The test
// suites under test/ may import anything.
var Ours = map[string][]string{
	"cmd/warmbox":                    {"bench", "daemon", "dispatch", "engine", "runner/wire", "sandbox"},
	"cmd/warmbox-runner":             {"runner"},
	"daemon":                         {"dispatch", "engine", "httpapi", "kube", "policy", "pool", "runner/wire", "sandbox", "telemetry"},
	"dispatch":                       {"policy", "pool", "runner/wire", "sandbox"},
	"pool":                           nil,
	"engine":                         {"internal/held", "internal/uids", "policy", "runner/wire", "sandbox"},
	"kube":                           {"internal/held", "internal/uids", "policy", "runner/wire", "sandbox"},
	"runner":                         {"runner/wire"},
	"runner/wire":                    nil,
	"policy":                         nil,
	"sandbox":                        {"policy"},
	"httpapi":                        {"dispatch", "policy", "pool", "runner/wire"},
	"telemetry":                      {"pool"},
	"bench":                          nil,
	"internal/uids":                  {"runner/wire"},
	"internal/held":                  nil,
	"internal/testdaemon":            nil,
	"internal/apisuite":              {"internal/testdaemon"},
	"internal/layers":                nil,
	"deploy/kubernetes/cni-loopback": nil,
}

// Foreign names the outside modules only some packages may import: the
// import path prefix, and those packages.
var Foreign = []struct {
	Prefix  string
	Only    []string
	Because string
}{
	{"github.com/docker/docker/", []string{"engine"}, "engine is the only Docker adapter"},
	{"k8s.io/client-go/", []string{"kube"}, "kube is the only Kubernetes adapter"},
	{"k8s.io/", []string{"kube", "daemon"}, "only kube and daemon (its Kubernetes settings) know Kubernetes types"},
}

// Check returns what is wrong with package pkg (relative to Module)
// importing imports (full paths, non-test imports only).
func Check(pkg string, imports []string) []string {
	if pkg == "test" || strings.HasPrefix(pkg, "test/") {
		return nil
	}
	allowed, known := Ours[pkg]
	if !known {
		return []string{pkg + ": not in the import rules: add it to internal/layers and to docs/DESIGN.md \"Packages\""}
	}
	var problems []string
	for _, imp := range imports {
		if rel, ok := strings.CutPrefix(imp, Module+"/"); ok {
			if !slices.Contains(allowed, rel) {
				problems = append(problems, pkg+" imports "+rel+", which docs/DESIGN.md \"Packages\" does not allow")
			}
			continue
		}
		for _, f := range Foreign {
			if strings.HasPrefix(imp, f.Prefix) && !slices.Contains(f.Only, pkg) {
				problems = append(problems, pkg+" imports "+imp+": "+f.Because)
				break
			}
		}
	}
	return problems
}
