output "api_url" {
  description = "The API, through the TLS proxy."
  value       = var.https_port == 443 ? "https://${var.domain}" : "https://${var.domain}:${var.https_port}"
}

output "companion_urls" {
  description = "The enabled companions on the host's loopback: jaeger (UI), victorialogs (LogsQL; UI at /select/vmui), prometheus, grafana."
  value       = { for k, c in local.enabled : k => "http://127.0.0.1:${var.loopback_ports[k]}" }
}

output "scope" {
  description = "warmbox's engine scope: its sandboxes carry this label."
  value       = var.name
}
