package telemetry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile checks docker-compose.yml without running Compose (no
// registry here): the five services, ports published on 127.0.0.1 only,
// and every mounted file of this repo present.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// No default secret: Grafana's admin password must be supplied.
	if pw := f.Services["grafana"].Environment["GF_SECURITY_ADMIN_PASSWORD"]; !strings.HasPrefix(pw, "${GRAFANA_ADMIN_PASSWORD:?") {
		t.Errorf("grafana's GF_SECURITY_ADMIN_PASSWORD = %q: want ${GRAFANA_ADMIN_PASSWORD:?...}, required from the operator", pw)
	}
	// The daemon ships its log records to the stack's log store.
	if u := f.Services["warmbox"].Environment["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"]; u != "http://victorialogs:9428/insert/opentelemetry/v1/logs" {
		t.Errorf("warmbox's OTEL_EXPORTER_OTLP_LOGS_ENDPOINT = %q: want the victorialogs service's OTLP logs URL", u)
	}
	for _, name := range []string{"warmbox", "jaeger", "victorialogs", "prometheus", "grafana"} {
		if _, ok := f.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q: every port must be bound to 127.0.0.1", name, p)
			}
		}
		for _, v := range s.Volumes {
			src := strings.SplitN(v, ":", 2)[0]
			if !strings.HasPrefix(src, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join("..", src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
}

// TestJaegerConfigLocalOnly checks that every listener of the shipped
// Jaeger config defaults to 127.0.0.1.
func TestJaegerConfigLocalOnly(t *testing.T) {
	raw, err := os.ReadFile("../deploy/jaeger/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("deploy/jaeger/config.yaml: %v", err)
	}
	var endpoints []string
	var walk func(any)
	walk = func(n any) {
		switch v := n.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "endpoint" {
					endpoints = append(endpoints, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(endpoints) < 4 { // OTLP gRPC and HTTP, query HTTP and gRPC
		t.Fatalf("got endpoints %v, want the OTLP receivers and the query listeners", endpoints)
	}
	for _, e := range endpoints {
		if !strings.HasPrefix(e, "${env:JAEGER_LISTEN_HOST:-127.0.0.1}:") {
			t.Errorf("endpoint %q must default to 127.0.0.1", e)
		}
	}
	for _, port := range []string{":4317", ":4318", ":16686"} {
		if !strings.Contains(string(raw), port) {
			t.Errorf("config lacks a listener on %s", port)
		}
	}
}
