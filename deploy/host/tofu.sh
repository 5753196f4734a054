#!/usr/bin/env bash
# tofu.sh build|env: OpenTofu and the kreuzwerker/docker provider, built
# from the Go module proxy (no registry is reachable here) and kept in
# /var/cache/warmbox-ci/tofu: bin/tofu, and a filesystem mirror that a
# CLI config (tofurc) points `tofu init` at. Idempotent: a build that is
# there is kept. Cold: about 8 min for tofu and 10 for the provider on
# 2 cores. `env` prints the variables that make `tofu` use them.
#
# OpenTofu's `go install` refuses its replace directives, and the
# provider's module declares another path (its old name), so both are
# built in their downloaded module directories. The proxy serves one
# version of the provider: a commit after v4.6.0, labelled 4.6.0 here.
set -euo pipefail

TOFU_VERSION=v1.12.6
PROVIDER_MODULE=github.com/kreuzwerker/terraform-provider-docker
PROVIDER_PSEUDO=v0.0.0-20260916201441-96d331c98ff4
PROVIDER_VERSION=4.6.0
CACHE=${WARMBOX_CI_CACHE:-/var/cache/warmbox-ci}/tofu
ARCH=$(go env GOOS)_$(go env GOARCH)
MIRROR=$CACHE/mirror
PROVIDER_BIN=$MIRROR/registry.opentofu.org/kreuzwerker/docker/$PROVIDER_VERSION/$ARCH/terraform-provider-docker_v$PROVIDER_VERSION

log() { echo "[tofu] $*" >&2; }

# moddir MODULE@VERSION: the module's source, downloaded through the proxy.
moddir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

build() {
  mkdir -p "$CACHE/bin" "$(dirname "$PROVIDER_BIN")"
  if [ "$(TF_CLI_CONFIG_FILE=/dev/null "$CACHE/bin/tofu" version 2>/dev/null | head -1)" != "OpenTofu $TOFU_VERSION" ]; then
    log "building OpenTofu $TOFU_VERSION from the Go module proxy (~8 min cold)"
    local dir
    dir=$(moddir "github.com/opentofu/opentofu@$TOFU_VERSION")
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags="-s -w -X 'github.com/opentofu/opentofu/version.dev=no'" -o "$CACHE/bin/tofu" ./cmd/tofu)
  fi
  if [ ! -x "$PROVIDER_BIN" ]; then
    log "building the docker provider $PROVIDER_VERSION ($PROVIDER_PSEUDO) from the Go module proxy (~10 min cold)"
    local dir
    dir=$(moddir "$PROVIDER_MODULE@$PROVIDER_PSEUDO")
    (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags="-s -w -X main.version=$PROVIDER_VERSION" -o "$PROVIDER_BIN" .)
  fi
  cat >"$CACHE/tofurc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.opentofu.org/kreuzwerker/docker"]
  }
  direct {
    exclude = ["registry.opentofu.org/kreuzwerker/docker"]
  }
}
RC
  log "ready: OpenTofu $TOFU_VERSION, kreuzwerker/docker $PROVIDER_VERSION"
}

case ${1:-} in
  build) build ;;
  env) echo "export PATH=$CACHE/bin:\$PATH TF_CLI_CONFIG_FILE=$CACHE/tofurc" ;;
  *) echo "usage: $0 build|env" >&2; exit 2 ;;
esac
