# warmbox and its companions on one Docker host (docs/DEPLOY.md,
# "terraform"): the daemon, caddy in front with TLS, Jaeger (traces),
# VictoriaLogs (the daemon's log records, shipped over OTLP), Prometheus
# with the shipped alerts, and optionally Grafana with the shipped
# dashboard and datasources. Only the proxy's ports are public; the
# companions are published on 127.0.0.1.

locals {
  repo = "${path.module}/.."
  # Prometheus scrapes the daemon's internal metrics port.
  prometheus_yml = replace(file("${local.repo}/deploy/prometheus/prometheus.yml"), "\"warmbox:8000\"", "\"warmbox:9464\"")

  # The companions, each reached on the stack's network by its key (the
  # host names deploy/grafana's datasources and the daemon use) and
  # published on the host's loopback at loopback_ports[key]. problem is
  # why the plan refuses one that is enabled ("" when nothing is wrong).
  companions = {
    jaeger = {
      image   = var.images.jaeger
      port    = 16686
      command = ["--config=file:/etc/jaeger/config.yaml"]
      env     = ["JAEGER_LISTEN_HOST=0.0.0.0"]
      uploads = { "/etc/jaeger/config.yaml" = file("${local.repo}/deploy/jaeger/config.yaml") }
      tmpfs   = {}
      volume  = null
      problem = var.images.jaeger == null ? "enable.jaeger needs images.jaeger." : ""
    }
    victorialogs = {
      image   = var.images.victorialogs
      port    = 9428
      command = ["victoria-logs", "-httpListenAddr=:9428", "-storageDataPath=/data", "-retentionPeriod=${var.log_retention}"]
      env     = []
      uploads = {}
      tmpfs   = {}
      volume  = "/data"
      problem = var.images.victorialogs == null ? "enable.victorialogs needs images.victorialogs." : ""
    }
    prometheus = {
      image = var.images.prometheus
      port  = 9090
      command = ["prometheus", "--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
      "--storage.tsdb.retention.time=7d", "--enable-feature=exemplar-storage", "--web.listen-address=0.0.0.0:9090"]
      env = []
      uploads = {
        "/etc/prometheus/prometheus.yml" = local.prometheus_yml
        "/etc/prometheus/alerts.yml"     = file("${local.repo}/deploy/prometheus/alerts.yml")
      }
      tmpfs  = { "/prometheus" = "rw,size=256m" }
      volume = null
      problem = (var.images.prometheus == null ? "enable.prometheus needs images.prometheus." :
      !strcontains(local.prometheus_yml, "\"warmbox:9464\"") ? "deploy/prometheus/prometheus.yml must scrape \"warmbox:8000\" (rewritten to the metrics port)." : "")
    }
    grafana = {
      image   = var.images.grafana
      port    = 3000
      command = null
      env = [
        "GF_AUTH_ANONYMOUS_ENABLED=true",
        "GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer",
        "GF_INSTALL_PLUGINS=victoriametrics-logs-datasource 0.30.1",
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=/var/lib/grafana/dashboards/warmbox.json",
        "GF_ANALYTICS_REPORTING_ENABLED=false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
      ]
      uploads = { for f in fileset("${local.repo}/deploy/grafana", "**") :
        (startswith(f, "dashboards/") ? "/var/lib/grafana/${f}" : "/etc/grafana/${f}") => file("${local.repo}/deploy/grafana/${f}")
      }
      tmpfs   = {}
      volume  = null
      problem = var.images.grafana == null ? "enable.grafana needs images.grafana." : ""
    }
  }
  enabled = { for k, c in local.companions : k => c if var.enable[k] }
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
    var.enable.jaeger ? "OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318" : "",
    # The log records go to VictoriaLogs as well as to the container's log.
    var.enable.victorialogs ? "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=http://victorialogs:9428/insert/opentelemetry/v1/logs" : "",
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
  # SIGTERM drains (shutdown.drain_timeout, 65 s) and removes every sandbox
  # and the scope's volume. stop_timeout is what `docker stop` waits;
  # destroy_grace_seconds is what the provider waits on destroy, where it
  # would otherwise send SIGKILL at once (the daemon then leaves its
  # scope's volume, and a sandbox whose removal it had not yet asked for).
  stop_timeout          = 90
  destroy_grace_seconds = 90
  log_driver            = "local"
  log_opts              = { "max-size" = "10m", "max-file" = "3" }
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

resource "docker_volume" "companion" {
  for_each = { for k, c in local.enabled : k => c if c.volume != null }
  name     = "${var.name}-${each.key}"
}

resource "docker_container" "companion" {
  for_each = local.enabled
  name     = "${var.name}-${each.key}"
  image    = each.value.image
  restart  = "unless-stopped"
  command  = each.value.command
  # Grafana's admin password stays out of the companions map: a sensitive
  # value there would make the whole map unusable in for_each.
  env = each.key == "grafana" ? concat(each.value.env, ["GF_SECURITY_ADMIN_PASSWORD=${var.grafana_admin_password}"]) : each.value.env
  dynamic "upload" {
    for_each = each.value.uploads
    content {
      file    = upload.key
      content = upload.value
    }
  }
  networks_advanced {
    name    = docker_network.stack.id
    aliases = [each.key]
  }
  ports {
    internal = each.value.port
    external = var.loopback_ports[each.key]
    ip       = "127.0.0.1"
  }
  dynamic "volumes" {
    for_each = each.value.volume == null ? [] : [each.value.volume]
    content {
      volume_name    = docker_volume.companion[each.key].name
      container_path = volumes.value
    }
  }
  tmpfs         = each.value.tmpfs
  security_opts = ["no-new-privileges:true"]
  log_driver    = "local"
  log_opts      = { "max-size" = "10m", "max-file" = "3" }
  lifecycle {
    precondition {
      condition     = each.value.problem == ""
      error_message = each.value.problem
    }
  }
}
