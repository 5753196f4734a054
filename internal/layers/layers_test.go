package layers

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules checks every package of the module against the rules.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", Module+"/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := map[string]bool{}
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, Module), "/")
		seen[rel] = true
		for _, problem := range Check(rel, p.Imports) {
			t.Error(problem)
		}
	}
	for pkg := range Ours {
		if !seen[pkg] {
			t.Errorf("the rules name %s, which no longer exists", pkg)
		}
	}
}

// TestCheck shows that the rules catch each kind of mistake.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		pkg     string
		imports []string
		want    string
	}{
		{"pool", []string{"context", Module + "/engine"}, "pool imports engine"},
		{"runner", []string{Module + "/daemon"}, "runner imports daemon"},
		{"engine", []string{Module + "/runner"}, "engine imports runner"}, // the daemon side never links the agent
		{"httpapi", []string{"github.com/docker/docker/client"}, "engine is the only Docker adapter"},
		{"engine", []string{"k8s.io/client-go/kubernetes"}, "kube is the only Kubernetes adapter"},
		{"telemetry", []string{"k8s.io/api/core/v1"}, "only kube and daemon"},
		{"newpkg", nil, "not in the import rules"},
		{"engine", []string{"github.com/docker/docker/client", Module + "/runner/wire"}, ""},
		{"daemon", []string{"k8s.io/api/core/v1"}, ""},
		{"test/e2e", []string{Module + "/daemon", "github.com/docker/docker/client"}, ""},
	} {
		got := strings.Join(Check(c.pkg, c.imports), "; ")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("Check(%s, %v) = %q, want %q", c.pkg, c.imports, got, c.want)
		}
	}
}
