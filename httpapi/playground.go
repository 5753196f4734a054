package httpapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
)

// playgroundPage is GET /playground: one self-contained page (its style
// and script inline, nothing fetched from another host) that lists the
// languages from /environments and runs code through /execute, as any
// other client, so auth, rate limits and validation apply unchanged.
//
//go:embed playground.html
var playgroundPage []byte

// playgroundCSP allows exactly the page's own inline style and script
// (by hash) and requests to this server only: no other script, frame,
// form target or host can be reached from it.
var playgroundCSP = contentSecurityPolicy(playgroundPage)

// inlineBlock matches the page's inline <style> and <script> elements.
var inlineBlock = regexp.MustCompile(`(?s)<(style|script)>(.*?)</(?:style|script)>`)

// contentSecurityPolicy builds the policy for page, hashing each inline
// block, so that the policy cannot drift from the page.
func contentSecurityPolicy(page []byte) string {
	hashes := map[string][]string{}
	for _, m := range inlineBlock.FindAllSubmatch(page, -1) {
		sum := sha256.Sum256(m[2])
		hashes[string(m[1])] = append(hashes[string(m[1])], "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(hashes["script"], " "),
		"style-src " + strings.Join(hashes["style"], " "),
		"connect-src 'self'",
		"img-src 'self' data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// GET /playground
func (s *server) playground(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", playgroundCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(playgroundPage)
}
