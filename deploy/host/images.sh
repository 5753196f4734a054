#!/usr/bin/env bash
# images.sh [LANG...]: build warmbox runtime images offline, without a registry.
# Each image is a Debian bookworm root filesystem made by mmdebstrap from
# Debian's apt repositories, imported with `docker import`. Images carry the
# interpreter only; the runner is bind-mounted at run time.
# Skips images that exist; FORCE=1 rebuilds. Dockerfiles for hosts that can
# pull official images live in deploy/images/.
set -euo pipefail
log() { echo "[images] $*" >&2; }

MIRROR=${WARMBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${WARMBOX_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
SUITE=bookworm
langs=("$@"); [ ${#langs[@]} -gt 0 ] || langs=(python node bash)

packages() {
  case $1 in
    python) echo python3-minimal,libpython3.11-stdlib,python3 ;;
    node) echo nodejs ;;
    bash) echo bash,coreutils ;;
    *) log "unknown language: $1 (known: python node bash)"; return 1 ;;
  esac
}

command -v mmdebstrap >/dev/null || {
  [ "$(id -u)" = 0 ] || { log "mmdebstrap is missing; install it (apt-get install mmdebstrap)"; exit 1; }
  log "installing mmdebstrap"; apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null
}

build() {
  local lang=$1 ref="warmbox/$1:bookworm" tmp
  if [ "${FORCE:-0}" != 1 ] && docker image inspect "$ref" >/dev/null 2>&1; then
    log "$ref present (FORCE=1 rebuilds)"; return 0
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  log "building $ref"
  mmdebstrap --quiet --variant=essential --include="$(packages "$lang")" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$tmp/rootfs.tar" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY $SUITE-security main"
  docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL io.warmbox.runtime=$lang" --change 'CMD ["/bin/sh"]' \
    "$tmp/rootfs.tar" "$ref" >/dev/null
  log "built $ref"
}

pids=()
for l in "${langs[@]}"; do packages "$l" >/dev/null; build "$l" & pids+=($!); done
rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
