#!/usr/bin/env bash
# clients.sh: what the client-compatibility tests (test/clients) need:
# Node.js and npm, Debian's Chromium (driven by playwright-core, never a
# downloaded browser), and the pinned npm clients of test/clients/js
# (package-lock.json), installed with `npm ci` from an npm cache kept in
# /var/cache/warmbox-ci/npm. Idempotent; fast when everything is there.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JS=$HERE/../../test/clients/js
CACHE=${WARMBOX_CI_CACHE:-/var/cache/warmbox-ci}

log() { echo "[clients] $*" >&2; }

need=()
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi

# npm ci again only when the lock file changed since the last install.
stamp=$JS/node_modules/.warmbox-lock.sha256
want=$(sha256sum "$JS/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci (pinned by test/clients/js/package-lock.json)"
  mkdir -p "$CACHE/npm"
  (cd "$JS" && npm ci --no-audit --no-fund --cache "$CACHE/npm" --prefer-offline)
  echo "$want" >"$stamp"
fi
log "node $(node --version), $(/usr/bin/chromium --version 2>/dev/null | head -1)"
