terraform {
  required_version = ">= 1.8.0"
  required_providers {
    docker = {
      # The one version the Go module proxy serves (deploy/host/tofu.sh
      # builds it into a filesystem mirror).
      source  = "kreuzwerker/docker"
      version = "~> 4.6"
    }
  }
}

provider "docker" {
  host = var.docker_host
}
