package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// TestTLSProxy runs Debian's caddy with deploy/caddy/Caddyfile in front of
// a real daemon, with caddy's local CA for the certificate, and talks to
// it over TLS with a client that verifies that CA: security headers,
// HTTP to HTTPS, /metrics kept private, the daemon's own JSON errors
// through the proxy, and each client's own address reaching warmbox (its
// per-client rate limit), whatever X-Forwarded-For the client sends.
func TestTLSProxy(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatalf("caddy: %v (apt-get install caddy; .ci/run installs it)", err)
	}
	caddyfile := filepath.Join(moduleRoot(t), "deploy/caddy/Caddyfile")
	if out, err := exec.Command(caddy, "fmt", caddyfile).Output(); err != nil {
		t.Fatalf("caddy fmt: %v", err)
	} else if b, _ := os.ReadFile(caddyfile); !bytes.Equal(out, b) {
		t.Errorf("deploy/caddy/Caddyfile is not as caddy fmt writes it:\n%s", out)
	}
	d := testdaemon.Start(t, testdaemon.Options{
		Config: "rate_limit: {requests: 1, window: 60s}\nhttp: {trusted_proxies: [127.0.0.1/32]}\npool: {min_idle: 1, max_size: 2}\n",
		Env:    []string{"WARMBOX_LANGUAGES=python"},
	})
	httpPort, httpsPort := testdaemon.FreePort(t), testdaemon.FreePort(t)
	state := t.TempDir()
	cmd := exec.Command(caddy, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+state+"/data", "XDG_CONFIG_HOME="+state+"/config", "HOME="+state,
		"WARMBOX_TLS_ISSUER=internal", "WARMBOX_DOMAIN=localhost", "WARMBOX_UPSTREAM="+strings.TrimPrefix(d.URL, "http://"),
		"WARMBOX_HTTP_PORT="+strconv.Itoa(httpPort), "WARMBOX_HTTPS_PORT="+strconv.Itoa(httpsPort))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("caddy's log:\n%s", logs.String())
		}
	})

	root := filepath.Join(state, "data/caddy/pki/authorities/local/root.crt")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(root); err == nil {
			if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(httpsPort)); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not serve HTTPS on %d within 30 s:\n%s", httpsPort, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pem, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("caddy's root certificate does not parse")
	}
	https := "https://localhost:" + strconv.Itoa(httpsPort)
	// from is a client at its own loopback address that trusts only
	// caddy's local CA.
	from := func(ip string, roots *x509.CertPool) *http.Client {
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(httpsPort))
				},
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	a, b, c := from("127.0.0.2", pool), from("127.0.0.3", pool), from("127.0.0.4", pool)

	// The root exists before caddy has issued the site's certificate:
	// wait for a verified handshake.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r, err := a.Get(https + "/health")
		if err == nil {
			r.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verified TLS answer within 30 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp := do(t, a, http.MethodGet, https+"/health", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("GET /health over TLS: %d (TLS %v)", resp.StatusCode, resp.TLS != nil)
	}
	for header, want := range map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Server":                    "",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}

	// A client that does not trust the local CA is refused: real TLS.
	if _, err := from("127.0.0.2", x509.NewCertPool()).Get(https + "/health"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client without caddy's CA: %v, want a certificate error", err)
	}

	// Plain HTTP is redirected to HTTPS.
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/health", nil)
	req.Host = "localhost"
	if r, err := plain.Do(req); err != nil || r.StatusCode != http.StatusPermanentRedirect || !strings.HasPrefix(r.Header.Get("Location"), "https://localhost") {
		t.Errorf("plain HTTP: %v %v, want 308 to https://localhost", r, err)
	} else {
		r.Body.Close()
	}

	// /metrics: the daemon serves it on its own port; the proxy does not.
	if r, err := http.Get(d.URL + "/metrics"); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("the daemon's own /metrics: %v %v", r, err)
	} else {
		r.Body.Close()
	}
	if r := do(t, a, http.MethodGet, https+"/metrics", nil, nil); r.StatusCode != http.StatusNotFound || errorCode(t, r) != "not_found" {
		t.Errorf("/metrics through the proxy: %d, want 404 not_found", r.StatusCode)
	}

	// The daemon's own JSON errors come through: a body over its 2 MiB
	// (from a third client: it spends that client's one execution).
	big := `{"environment":"python","code":"` + strings.Repeat("x", 3<<20) + `"}`
	if r := do(t, c, http.MethodPost, https+"/execute", []byte(big), nil); r.StatusCode != http.StatusRequestEntityTooLarge || errorCode(t, r) == "" {
		t.Errorf("a 3 MiB body: %d, want 413 with warmbox's JSON error", r.StatusCode)
	}

	// Each client's own address: one execution per client per minute.
	// b forges a's address in X-Forwarded-For; the proxy replaces it.
	job := []byte(`{"environment":"python","code":"print(6 * 7)"}`)
	if r := do(t, a, http.MethodPost, https+"/execute", job, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("client 127.0.0.2, first run: %d", r.StatusCode)
	}
	if r := do(t, a, http.MethodPost, https+"/execute", job, nil); r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("client 127.0.0.2, second run in the minute: %d, want 429 (warmbox must see the client, not the proxy)", r.StatusCode)
	}
	if r := do(t, b, http.MethodPost, https+"/execute", job, map[string]string{"X-Forwarded-For": "127.0.0.2"}); r.StatusCode != http.StatusOK {
		t.Errorf("client 127.0.0.3 forging 127.0.0.2: %d, want 200 (its own budget)", r.StatusCode)
	}
}

func do(t *testing.T, c *http.Client, method, url string, body []byte, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp
}

// errorCode is a JSON error answer's error.code ("" when it is none).
func errorCode(t *testing.T, r *http.Response) string {
	t.Helper()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
		return ""
	}
	return e.Error.Code
}
