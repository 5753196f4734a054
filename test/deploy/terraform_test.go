package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmbox/warmbox/internal/testdaemon"
)

// tofu runs OpenTofu (deploy/host/tofu.sh's build) in dir.
type tofu struct {
	t   *testing.T
	bin string
	env []string
	dir string
}

func newTofu(t *testing.T, dir string) *tofu {
	t.Helper()
	root := moduleRoot(t)
	out := run(t, root, nil, "deploy/host/tofu.sh", "env")
	var env []string
	bin := ""
	for _, kv := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(out), "export ")) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH":
			bin = filepath.Join(strings.Split(v, ":")[0], "tofu")
		case "TF_CLI_CONFIG_FILE":
			env = append(env, kv)
		}
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("tofu: %v (build it: deploy/host/tofu.sh build; .ci/run does)", err)
	}
	return &tofu{t: t, bin: bin, env: append(env, "TF_IN_AUTOMATION=1", "TF_DATA_DIR="+filepath.Join(dir, ".tofu")), dir: dir}
}

// do runs tofu ARGS and returns its output and whether it succeeded.
func (tf *tofu) do(args ...string) (string, bool) {
	tf.t.Helper()
	cmd := exec.Command(tf.bin, append([]string{"-chdir=" + tf.dir}, args...)...)
	cmd.Env = append(os.Environ(), tf.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func (tf *tofu) must(args ...string) string {
	tf.t.Helper()
	out, ok := tf.do(args...)
	if !ok {
		tf.t.Fatalf("tofu %s:\n%s", strings.Join(args, " "), out)
	}
	return out
}

// module copies terraform/ into a temporary tree beside a link to
// deploy/, which the module reads, so that its state and lock stay out
// of the checkout.
func module(t *testing.T) string {
	t.Helper()
	root, tmp := moduleRoot(t), t.TempDir()
	if err := os.Symlink(filepath.Join(root, "deploy"), filepath.Join(tmp, "deploy")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "terraform")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "terraform", "*.tf"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeVars(t *testing.T, dir string, vars map[string]any) string {
	t.Helper()
	b, _ := json.MarshalIndent(vars, "", "  ")
	path := filepath.Join(dir, "test.tfvars.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTerraform deploys terraform/ onto this host's engine for real:
// init from the filesystem mirror, validate, refuse bad inputs, apply,
// probe the deployed daemon through the TLS proxy with the API key, see
// Prometheus scrape it, Jaeger receive its traces and VictoriaLogs its
// log records, then destroy and
// find nothing left (containers, network, volume, sandboxes).
func TestTerraform(t *testing.T) {
	root := moduleRoot(t)
	dir := module(t)
	tf := newTofu(t, dir)
	if out, ok := tf.do("fmt", "-check", "-recursive", "-diff", filepath.Join(root, "terraform")); !ok {
		t.Errorf("tofu fmt -check: not formatted:\n%s", out)
	}
	tf.must("init", "-input=false", "-no-color")
	tf.must("validate", "-no-color")

	key := make([]byte, 20)
	rand.Read(key)
	name := "wbtf" + hex.EncodeToString(key[:3])
	httpPort, httpsPort, jaegerPort, promPort := testdaemon.FreePort(t), testdaemon.FreePort(t), testdaemon.FreePort(t), testdaemon.FreePort(t)
	logsPort := testdaemon.FreePort(t)
	vars := map[string]any{
		"name": name, "domain": "localhost", "tls_issuer": "internal",
		"api_keys": []string{hex.EncodeToString(key)}, "languages": []string{"python"},
		"pool_min_idle": 1, "pool_max_size": 2,
		"runner_path": filepath.Join(root, "bin", "warmbox-runner"),
		"images": map[string]string{"warmbox": "warmbox/warmbox:local", "caddy": "warmbox/caddy:local",
			"jaeger": "warmbox/jaeger:local", "prometheus": "warmbox/prometheus:local", "victorialogs": "warmbox/victorialogs:local"},
		"bind_address": "127.0.0.1", "http_port": httpPort, "https_port": httpsPort,
		"loopback_ports": map[string]int{"jaeger": jaegerPort, "prometheus": promPort, "victorialogs": logsPort, "grafana": testdaemon.FreePort(t)},
		"log_retention":  "2d",
	}

	// Bad inputs are refused with the variable's own message.
	for _, tc := range []struct {
		key  string
		val  any
		want string
	}{
		{"api_keys", []string{"short"}, "api_keys must hold at least one key"},
		{"api_keys", []string{"REPLACE-WITH-openssl-rand-hex-32-OUTPUT-0000000000"}, "not the example's placeholder"},
		{"domain", "https://api.example.com/", "domain must be a DNS name"},
		{"tls_issuer", "self", "tls_issuer must be acme or internal"},
		{"pool_max_size", 0, "pool_max_size must be a whole number from 1 to 256"},
		{"enable", map[string]bool{"grafana": true, "prometheus": false}, "enable.grafana needs enable.prometheus"},
		{"enable", map[string]bool{"grafana": true}, "enable.grafana needs grafana_admin_password"},
		{"grafana_admin_password", "admin", "grafana_admin_password must be at least 16 characters"},
		{"log_retention", "forever", "log_retention must be a number and a unit"},
		{"images", map[string]string{"warmbox": "warmbox/warmbox:local", "caddy": "warmbox/caddy:local",
			"jaeger": "warmbox/jaeger:local", "prometheus": "warmbox/prometheus:local"}, "enable.victorialogs needs images.victorialogs."},
	} {
		bad := map[string]any{}
		for k, v := range vars {
			bad[k] = v
		}
		bad[tc.key] = tc.val
		out, ok := tf.do("plan", "-input=false", "-no-color", "-var-file="+writeVars(t, dir, bad))
		if ok || !strings.Contains(strings.Join(strings.Fields(out), " "), tc.want) {
			t.Errorf("%s = %v: want the plan refused with %q, got ok=%v:\n%s", tc.key, tc.val, tc.want, ok, out)
		}
	}

	varFile := writeVars(t, dir, vars)
	t.Cleanup(func() {
		if out, ok := tf.do("destroy", "-auto-approve", "-input=false", "-no-color", "-var-file="+varFile); !ok {
			t.Errorf("tofu destroy:\n%s", out)
		}
		// Nothing left: the stack's containers, network and volume, and
		// the sandboxes of its scope and their name files' volume (the
		// daemon removes them when it stops).
		for what, args := range map[string][]string{
			"containers":                {"ps", "-aq", "--filter", "name=^" + name + "-"},
			"sandboxes":                 {"ps", "-aq", "--filter", "label=io.warmbox.scope=" + name},
			"networks":                  {"network", "ls", "-q", "--filter", "name=^" + name + "$"},
			"volumes":                   {"volume", "ls", "-q", "--filter", "name=^" + name + "-"},
			"the sandboxes' name files": {"volume", "ls", "-q", "--filter", "label=io.warmbox.scope=" + name},
		} {
			if out := run(t, root, nil, "docker", args...); strings.TrimSpace(out) != "" {
				t.Errorf("after destroy, %s left: %s", what, strings.Join(strings.Fields(out), " "))
			}
		}
	})
	applied := tf.must("apply", "-auto-approve", "-input=false", "-no-color", "-var-file="+varFile)
	if !strings.Contains(applied, "Apply complete!") {
		t.Fatalf("tofu apply:\n%s", applied)
	}
	var outputs map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(tf.must("output", "-json")), &outputs); err != nil {
		t.Fatal(err)
	}
	if got, want := outputs["api_url"].Value, "https://localhost:"+strconv.Itoa(httpsPort); got != want {
		t.Errorf("output api_url %v, want %s", got, want)
	}

	// The proxy's local CA, from its data volume.
	var pem []byte
	waitUntil(t, 60*time.Second, "caddy's local CA", func() bool {
		out, err := exec.Command("docker", "exec", name+"-proxy", "cat", "/data/caddy/pki/authorities/local/root.crt").Output()
		pem = out
		return err == nil && len(out) > 0
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("caddy's root certificate does not parse")
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
		DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
			return net.Dial(network, "127.0.0.1:"+strconv.Itoa(httpsPort))
		},
	}}
	api := "https://localhost:" + strconv.Itoa(httpsPort)
	waitUntil(t, 120*time.Second, "the deployed daemon ready through the proxy", func() bool {
		resp, err := client.Get(api + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	job := `{"environment":"python","code":"print(6 * 7)"}`
	post := func(auth string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, api+"/execute", strings.NewReader(job))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST /execute: %v", err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := post(""); code != http.StatusUnauthorized {
		t.Errorf("POST /execute without the key: %d, want 401", code)
	}
	code, body := post(hex.EncodeToString(key))
	if code != http.StatusOK || body["stdout"] != "42\n" {
		t.Errorf("POST /execute with the key: %d %v", code, body)
	}
	traceID, _ := body["trace_id"].(string)
	if len(traceID) != 32 {
		t.Errorf("POST /execute: trace_id %q, want 32 hex digits", traceID)
	}

	// Prometheus scrapes the daemon's metrics port, with the shipped alerts.
	prom := "http://127.0.0.1:" + strconv.Itoa(promPort)
	waitUntil(t, 60*time.Second, "Prometheus scraping warmbox", func() bool {
		var r struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		return getJSON(prom+`/api/v1/query?query=up%7Bjob%3D%22warmbox%22%7D`, &r) &&
			len(r.Data.Result) == 1 && len(r.Data.Result[0].Value) == 2 && r.Data.Result[0].Value[1] == "1"
	})
	var rules struct {
		Data struct {
			Groups []struct {
				Rules []any `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if !getJSON(prom+"/api/v1/rules", &rules) || len(rules.Data.Groups) == 0 || len(rules.Data.Groups[0].Rules) == 0 {
		t.Errorf("Prometheus has no alert rules: %+v", rules)
	}

	// VictoriaLogs receives the daemon's log records: the execution's,
	// found by its trace id as Grafana's derived field finds it.
	logs := "http://127.0.0.1:" + strconv.Itoa(logsPort)
	if got, want := outputs["companion_urls"].Value, map[string]any{"jaeger": "http://127.0.0.1:" + strconv.Itoa(jaegerPort),
		"prometheus": prom, "victorialogs": logs}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("output companion_urls %v, want %v", got, want)
	}
	waitUntil(t, 60*time.Second, "the execution's log record in VictoriaLogs", func() bool {
		resp, err := http.PostForm(logs+"/select/logsql/query", url.Values{"query": {fmt.Sprintf("trace_id:=%q _msg:=execution", traceID)}})
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var rec map[string]string
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&rec) == nil &&
			rec["language"] == "python" && rec["status"] == "success" && rec["service.name"] == "warmbox"
	})

	// Jaeger receives the daemon's traces.
	waitUntil(t, 60*time.Second, "warmbox's traces in Jaeger", func() bool {
		var s struct {
			Data []string `json:"data"`
		}
		return getJSON("http://127.0.0.1:"+strconv.Itoa(jaegerPort)+"/api/services", &s) && strings.Contains(fmt.Sprint(s.Data), "warmbox")
	})
}

func getJSON(url string, v any) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && json.NewDecoder(bytes.NewReader(b)).Decode(v) == nil
}

func waitUntil(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
