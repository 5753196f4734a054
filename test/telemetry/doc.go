// Package telemetry tests warmbox's observability against the real
// programs: the warmbox binary with its runner against the real Docker
// engine, exporting traces into a real Jaeger (deploy/host/jaeger.sh) and
// scraped by a real Prometheus (deploy/host/prometheus.sh). It asserts
// through Jaeger's and Prometheus' HTTP APIs, never through the daemon's
// own view of itself. Run it with `make test-telemetry`.
package telemetry
