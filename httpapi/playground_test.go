package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestPlaygroundPage(t *testing.T) {
	a := newAPI(t)
	rec := a.get("/playground")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /playground: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	page := rec.Body.String()
	// The ids scripts and tests rely on (issue 12's contract).
	for _, id := range []string{"language", "code", "run", "stdout", "stderr", "status", "stdin", "args", "exit-code"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("the page has no element with id %q", id)
		}
	}
	// Self-contained: nothing is loaded from another host.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the page loads from another host: %s", m)
	}
	if strings.Contains(page, "@import") || strings.Contains(page, "url(") {
		t.Error("the page's style fetches a resource")
	}
}

func TestPlaygroundCSPAllowsOnlyItsOwnBlocks(t *testing.T) {
	a := newAPI(t)
	rec := a.get("/playground")
	csp := rec.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows unsafe code: %q", csp)
	}
	page := rec.Body.String()
	for _, tag := range []string{"script", "style"} {
		start := strings.Index(page, "<"+tag+">")
		end := strings.Index(page, "</"+tag+">")
		if start < 0 || end < start {
			t.Fatalf("no inline <%s> in the page", tag)
		}
		sum := sha256.Sum256([]byte(page[start+len(tag)+2 : end]))
		hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		if !strings.Contains(csp, tag+"-src "+hash) {
			t.Errorf("CSP does not allow the page's %s by its hash %s: %q", tag, hash, csp)
		}
	}
	// An inline event handler would be blocked by the policy: none may exist.
	if m := regexp.MustCompile(`(?i)\son[a-z]+\s*=`).FindString(page); m != "" {
		t.Errorf("inline event handler %q would be blocked by the CSP", m)
	}
	if m := regexp.MustCompile(`(?i)<[a-z]+[^>]*\sstyle\s*=`).FindString(page); m != "" {
		t.Errorf("inline style attribute %q would be blocked by the CSP", m)
	}
}
