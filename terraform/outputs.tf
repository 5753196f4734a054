output "api_url" {
  description = "The API, through the TLS proxy."
  value       = var.https_port == 443 ? "https://${var.domain}" : "https://${var.domain}:${var.https_port}"
}

output "jaeger_url" {
  description = "Jaeger's UI, on the host's loopback (null when off)."
  value       = local.with_jaeger ? "http://127.0.0.1:${var.loopback_ports.jaeger}" : null
}

output "prometheus_url" {
  description = "Prometheus, on the host's loopback (null when off)."
  value       = local.with_prom ? "http://127.0.0.1:${var.loopback_ports.prometheus}" : null
}

output "grafana_url" {
  description = "Grafana, on the host's loopback (null when off)."
  value       = local.with_grafana ? "http://127.0.0.1:${var.loopback_ports.grafana}" : null
}

output "scope" {
  description = "warmbox's engine scope: its sandboxes carry this label."
  value       = var.name
}
