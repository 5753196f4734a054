variable "docker_host" {
  description = "The Docker engine to deploy onto, and the one warmbox drives (its socket is mounted into the daemon)."
  type        = string
  default     = "unix:///var/run/docker.sock"
  validation {
    condition     = startswith(var.docker_host, "unix:///")
    error_message = "docker_host must be a unix:///path socket of this host: warmbox drives the same engine through it."
  }
}

variable "name" {
  description = "Prefix of every container, network and volume, and warmbox's engine scope (two stacks on one engine need two names)."
  type        = string
  default     = "warmbox"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1 to 31 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "domain" {
  description = "The public host name the TLS proxy serves (it must resolve to this host for Let's Encrypt), or localhost with tls_issuer internal."
  type        = string
  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$", var.domain)) && length(var.domain) <= 253
    error_message = "domain must be a DNS name such as api.example.com (lowercase, no scheme, port or path)."
  }
}

variable "tls_issuer" {
  description = "acme: a Let's Encrypt certificate for domain; internal: caddy's own local CA (tests, private networks)."
  type        = string
  default     = "acme"
  validation {
    condition     = contains(["acme", "internal"], var.tls_issuer)
    error_message = "tls_issuer must be acme or internal."
  }
}

variable "api_keys" {
  description = "API keys clients send (Authorization: Bearer or X-API-Key). None ships: generate each, e.g. openssl rand -hex 32."
  type        = list(string)
  sensitive   = true
  validation {
    condition     = length(var.api_keys) > 0 && alltrue([for k in var.api_keys : length(k) >= 32 && can(regex("^[A-Za-z0-9._~+/=-]+$", k)) && !strcontains(k, "REPLACE")])
    error_message = "api_keys must hold at least one key, each at least 32 characters of [A-Za-z0-9._~+/=-] and not the example's placeholder: a public endpoint is never open."
  }
}

variable "languages" {
  description = "The languages to serve (their images must be on the engine: make images LANGS=...)."
  type        = list(string)
  default     = ["python", "node", "bash"]
  validation {
    condition     = length(var.languages) > 0 && alltrue([for l in var.languages : can(regex("^[a-z][a-z0-9_-]{0,31}$", l))])
    error_message = "languages must name at least one language, each as docs/LANGUAGES.md spells it."
  }
}

variable "pool_min_idle" {
  description = "Idle sandboxes each language keeps warm."
  type        = number
  default     = 2
  validation {
    condition     = var.pool_min_idle >= 0 && var.pool_min_idle <= 64 && floor(var.pool_min_idle) == var.pool_min_idle
    error_message = "pool_min_idle must be a whole number from 0 to 64."
  }
}

variable "pool_max_size" {
  description = "Sandboxes a language may have at once, idle and busy."
  type        = number
  default     = 8
  validation {
    condition     = var.pool_max_size >= 1 && var.pool_max_size <= 256 && floor(var.pool_max_size) == var.pool_max_size
    error_message = "pool_max_size must be a whole number from 1 to 256."
  }
}

variable "runner_path" {
  description = "Host path of the static warmbox-runner (make install puts it in /usr/local/bin). The host's engine bind-mounts it into every sandbox, so it must exist on the host, at this path."
  type        = string
  default     = "/usr/local/bin/warmbox-runner"
  validation {
    condition     = startswith(var.runner_path, "/")
    error_message = "runner_path must be an absolute host path."
  }
}

variable "images" {
  description = "Images of the parts (deploy/host/stack-images.sh builds all but Grafana's on the host; with a registry, Grafana's is e.g. grafana/grafana:11.3.0). Each enabled companion needs its image."
  type = object({
    warmbox      = string
    caddy        = string
    jaeger       = optional(string)
    victorialogs = optional(string)
    prometheus   = optional(string)
    grafana      = optional(string)
  })
}

variable "enable" {
  description = "Which companions to run besides the daemon and the proxy."
  type = object({
    jaeger       = optional(bool, true)
    victorialogs = optional(bool, true)
    prometheus   = optional(bool, true)
    grafana      = optional(bool, false)
  })
  default = {}
  validation {
    condition     = !(var.enable.grafana && !var.enable.prometheus)
    error_message = "enable.grafana needs enable.prometheus: the dashboard reads its metrics."
  }
  validation {
    condition     = !var.enable.grafana || nonsensitive(var.grafana_admin_password != null)
    error_message = "enable.grafana needs grafana_admin_password: Grafana has no default password here."
  }
}

variable "grafana_admin_password" {
  description = "Password of Grafana's admin user (required with enable.grafana; none ships). Generate it, e.g. openssl rand -hex 16."
  type        = string
  sensitive   = true
  default     = null
  validation {
    condition     = var.grafana_admin_password == null || nonsensitive(length(var.grafana_admin_password) >= 16 && lower(var.grafana_admin_password) != "admin")
    error_message = "grafana_admin_password must be at least 16 characters."
  }
}

variable "log_retention" {
  description = "How long VictoriaLogs keeps the daemon's log records (its -retentionPeriod: 7d, 4w, 1y...)."
  type        = string
  default     = "7d"
  validation {
    condition     = can(regex("^[1-9][0-9]*[hdwy]$", var.log_retention))
    error_message = "log_retention must be a number and a unit h, d, w or y, such as 7d."
  }
}

variable "bind_address" {
  description = "Host address the proxy's ports listen on (0.0.0.0: public)."
  type        = string
  default     = "0.0.0.0"
}

variable "http_port" {
  description = "Host port of plain HTTP (redirects to HTTPS; Let's Encrypt's HTTP challenge needs 80)."
  type        = number
  default     = 80
}

variable "https_port" {
  description = "Host port of HTTPS."
  type        = number
  default     = 443
}

variable "loopback_ports" {
  description = "Host ports, on 127.0.0.1 only, of Jaeger's UI, VictoriaLogs (LogsQL and its UI at /select/vmui), Prometheus and Grafana."
  type = object({
    jaeger       = optional(number, 16686)
    victorialogs = optional(number, 9428)
    prometheus   = optional(number, 9090)
    grafana      = optional(number, 3000)
  })
  default = {}
}

variable "daemon_memory_mb" {
  description = "Memory limit of the daemon's own container (sandboxes are separate containers with their own limits)."
  type        = number
  default     = 512
  validation {
    condition     = var.daemon_memory_mb >= 128
    error_message = "daemon_memory_mb must be at least 128."
  }
}
