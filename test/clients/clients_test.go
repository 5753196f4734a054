package clients

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// chromium is Debian's browser, the only one the tests drive.
const chromium = "/usr/bin/chromium"

// TestRealClients runs every js/*.test.mjs suite against one daemon whose
// CORS origins name the page server the suites start (a docs site on
// another origin, like a real embedder).
func TestRealClients(t *testing.T) {
	requireTools(t)
	pagePort := testdaemon.FreePort(t)
	origin := fmt.Sprintf("http://127.0.0.1:%d", pagePort)
	d := testdaemon.Start(t, testdaemon.Options{Config: `
http:
  cors_origins: ["` + origin + `"]
rate_limit:
  requests: 0
`})
	artifacts := artifactsDir(t)
	suites, err := filepath.Glob("js/*.test.mjs")
	if err != nil || len(suites) == 0 {
		t.Fatalf("no js/*.test.mjs suites found (%v)", err)
	}
	for _, suite := range suites {
		name := strings.TrimSuffix(filepath.Base(suite), ".test.mjs")
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("node", "--test", "--test-reporter=spec", filepath.Base(suite))
			cmd.Dir = "js"
			cmd.Env = append(os.Environ(),
				"WARMBOX_URL="+d.URL,
				fmt.Sprintf("WARMBOX_PAGE_PORT=%d", pagePort),
				"WARMBOX_ARTIFACTS="+artifacts,
				"CHROMIUM="+chromium,
			)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			t.Logf("node --test %s (%.1f s):\n%s", filepath.Base(suite), time.Since(start).Seconds(), out.String())
			if err != nil {
				t.Fatalf("%s failed: %v", suite, err)
			}
		})
	}
	t.Logf("screenshots and page captures are in %s", artifacts)
}

// requireTools fails (never skips) when node, Chromium or the pinned npm
// packages are missing, saying how to get them.
func requireTools(t *testing.T) {
	t.Helper()
	const fix = "; run deploy/host/clients.sh (make test does)"
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed" + fix)
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Debian's Chromium is not installed at %s%s", chromium, fix)
	}
	for _, pkg := range []string{"piston-client", "@antonz/codapi", "playwright-core", "@seriousme/openapi-schema-validator"} {
		if _, err := os.Stat(filepath.Join("js", "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed in test/clients/js%s", pkg, fix)
		}
	}
}

// artifactsDir is where suites keep screenshots: $WARMBOX_ARTIFACTS, or
// test-results/clients at the module root (kept after the run).
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WARMBOX_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-results", "clients")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatalf("artifacts dir: %v", err)
	}
	return dir
}
