# warmbox and its companions on one Docker host (docs/DEPLOY.md,
# "terraform"): the daemon, caddy in front with TLS, Jaeger, Prometheus
# with the shipped alerts, and optionally Grafana with the shipped
# dashboard. Only the proxy's ports are public; Jaeger's UI and
# Prometheus are published on 127.0.0.1.

locals {
  repo         = "${path.module}/.."
  with_jaeger  = var.enable.jaeger
  with_prom    = var.enable.prometheus
  with_grafana = var.enable.grafana
  # Prometheus scrapes the daemon's internal metrics port.
  prometheus_yml = replace(file("${local.repo}/deploy/prometheus/prometheus.yml"), "\"warmbox:8000\"", "\"warmbox:9464\"")
}

resource "docker_network" "stack" {
  name = var.name
}

resource "docker_volume" "caddy" {
  name = "${var.name}-caddy"
}

resource "docker_container" "warmbox" {
  name    = "${var.name}-daemon"
  image   = var.images.warmbox
  restart = "unless-stopped"
  memory  = var.daemon_memory_mb
  env = compact([
    "WARMBOX_LISTEN=0.0.0.0:8000",
    "WARMBOX_METRICS_LISTEN=0.0.0.0:9464",
    "WARMBOX_SCOPE=${var.name}",
    "WARMBOX_RUNNER_PATH=${var.runner_path}",
    "WARMBOX_API_KEYS=${join(",", var.api_keys)}",
    "WARMBOX_ALLOWED_HOSTS=${var.domain},warmbox",
    # The proxy is the only peer on the stack's network that forwards.
    "WARMBOX_TRUSTED_PROXIES=${join(",", [for c in docker_network.stack.ipam_config : c.subnet])}",
    "WARMBOX_LANGUAGES=${join(",", var.languages)}",
    "WARMBOX_POOL_MIN_IDLE=${var.pool_min_idle}",
    "WARMBOX_POOL_MAX_SIZE=${var.pool_max_size}",
    local.with_jaeger ? "OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318" : "",
    "OTEL_SERVICE_NAME=warmbox",
  ])
  networks_advanced {
    name    = docker_network.stack.id
    aliases = ["warmbox"]
  }
  # The engine's socket is the daemon's one privilege; the runner is
  # bind-mounted by the host's engine, so its path is the host's.
  volumes {
    host_path      = "/var/run/docker.sock"
    container_path = "/var/run/docker.sock"
  }
  volumes {
    host_path      = var.runner_path
    container_path = var.runner_path
    read_only      = true
  }
  read_only     = true
  tmpfs         = { "/tmp" = "rw,noexec,nosuid,size=16m" }
  security_opts = ["no-new-privileges:true"]
  capabilities {
    drop = ["ALL"]
  }
  healthcheck {
    test         = ["CMD", "/usr/local/bin/warmbox", "probe", "http://127.0.0.1:8000/readyz"]
    interval     = "10s"
    timeout      = "5s"
    start_period = "60s"
    retries      = 3
  }
  # SIGTERM drains (shutdown.drain_timeout, 65 s) and removes every sandbox.
  stop_timeout = 90
  log_driver   = "local"
  log_opts     = { "max-size" = "10m", "max-file" = "3" }
}

resource "docker_container" "caddy" {
  name    = "${var.name}-proxy"
  image   = var.images.caddy
  restart = "unless-stopped"
  command = ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
  env = [
    "WARMBOX_DOMAIN=${var.domain}",
    "WARMBOX_UPSTREAM=warmbox:8000",
    "WARMBOX_TLS_ISSUER=${var.tls_issuer}",
    "WARMBOX_HTTP_PORT=80",
    "WARMBOX_HTTPS_PORT=443",
    "XDG_DATA_HOME=/data",
    "XDG_CONFIG_HOME=/config",
  ]
  upload {
    file    = "/etc/caddy/Caddyfile"
    content = file("${local.repo}/deploy/caddy/Caddyfile")
  }
  networks_advanced {
    name = docker_network.stack.id
  }
  ports {
    internal = 80
    external = var.http_port
    ip       = var.bind_address
  }
  ports {
    internal = 443
    external = var.https_port
    ip       = var.bind_address
  }
  volumes {
    volume_name    = docker_volume.caddy.name
    container_path = "/data"
  }
  tmpfs         = { "/config" = "rw,size=4m" }
  security_opts = ["no-new-privileges:true"]
  capabilities {
    drop = ["ALL"]
    add  = ["NET_BIND_SERVICE"]
  }
  log_driver = "local"
  log_opts   = { "max-size" = "10m", "max-file" = "3" }
  depends_on = [docker_container.warmbox]
}

resource "docker_container" "jaeger" {
  count   = local.with_jaeger ? 1 : 0
  name    = "${var.name}-jaeger"
  image   = var.images.jaeger
  restart = "unless-stopped"
  command = ["--config=file:/etc/jaeger/config.yaml"]
  env     = ["JAEGER_LISTEN_HOST=0.0.0.0"]
  upload {
    file    = "/etc/jaeger/config.yaml"
    content = file("${local.repo}/deploy/jaeger/config.yaml")
  }
  networks_advanced {
    name    = docker_network.stack.id
    aliases = ["jaeger"]
  }
  ports {
    internal = 16686
    external = var.loopback_ports.jaeger
    ip       = "127.0.0.1"
  }
  security_opts = ["no-new-privileges:true"]
  lifecycle {
    precondition {
      condition     = var.images.jaeger != null
      error_message = "enable.jaeger needs images.jaeger."
    }
  }
}

resource "docker_container" "prometheus" {
  count   = local.with_prom ? 1 : 0
  name    = "${var.name}-prometheus"
  image   = var.images.prometheus
  restart = "unless-stopped"
  command = ["prometheus", "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
  "--storage.tsdb.retention.time=7d", "--enable-feature=exemplar-storage", "--web.listen-address=0.0.0.0:9090"]
  upload {
    file    = "/etc/prometheus/prometheus.yml"
    content = local.prometheus_yml
  }
  upload {
    file    = "/etc/prometheus/alerts.yml"
    content = file("${local.repo}/deploy/prometheus/alerts.yml")
  }
  networks_advanced {
    name    = docker_network.stack.id
    aliases = ["prometheus"]
  }
  ports {
    internal = 9090
    external = var.loopback_ports.prometheus
    ip       = "127.0.0.1"
  }
  tmpfs         = { "/prometheus" = "rw,size=256m" }
  security_opts = ["no-new-privileges:true"]
  lifecycle {
    precondition {
      condition     = var.images.prometheus != null && strcontains(local.prometheus_yml, "\"warmbox:9464\"")
      error_message = "enable.prometheus needs images.prometheus, and deploy/prometheus/prometheus.yml must scrape \"warmbox:8000\" (rewritten to the metrics port)."
    }
  }
}

resource "docker_container" "grafana" {
  count   = local.with_grafana ? 1 : 0
  name    = "${var.name}-grafana"
  image   = var.images.grafana
  restart = "unless-stopped"
  env = [
    "GF_AUTH_ANONYMOUS_ENABLED=true",
    "GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer",
    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=/var/lib/grafana/dashboards/warmbox.json",
    "GF_ANALYTICS_REPORTING_ENABLED=false",
    "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
  ]
  dynamic "upload" {
    for_each = fileset("${local.repo}/deploy/grafana", "**")
    content {
      file    = startswith(upload.value, "dashboards/") ? "/var/lib/grafana/${upload.value}" : "/etc/grafana/${upload.value}"
      content = file("${local.repo}/deploy/grafana/${upload.value}")
    }
  }
  networks_advanced {
    name = docker_network.stack.id
  }
  ports {
    internal = 3000
    external = var.loopback_ports.grafana
    ip       = "127.0.0.1"
  }
  lifecycle {
    precondition {
      condition     = var.images.grafana != null
      error_message = "enable.grafana needs images.grafana."
    }
  }
}
