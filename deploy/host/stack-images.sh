#!/usr/bin/env bash
# stack-images.sh: the images terraform/ deploys, built offline on this
# host (no registry is reachable): the daemon from this checkout, and
# caddy, Prometheus, Jaeger and VictoriaLogs from their binaries on the
# host (Debian's caddy and prometheus packages, deploy/host/jaeger.sh's and
# victorialogs.sh's builds), each on the Debian base of
# warmbox/bash:bookworm (make images), which holds the C library they
# link. Tags: warmbox/{warmbox,caddy,prometheus,jaeger,victorialogs}:local.
# Rebuilt every run (a few seconds each; Docker's cache keeps it cheap).
set -euo pipefail
cd "$(dirname "$0")/../.."
log() { echo "[stack-images] $*" >&2; }

need() { command -v "$1" >/dev/null || { log "$1 is missing: $2"; exit 1; }; }
need caddy "apt-get install caddy"
need prometheus "apt-get install prometheus"
docker image inspect warmbox/bash:bookworm >/dev/null 2>&1 || { log "warmbox/bash:bookworm is missing: make images"; exit 1; }
cache=${WARMBOX_CI_CACHE:-/var/cache/warmbox-ci}/bin
jaeger=$(deploy/host/jaeger.sh build >/dev/null && ls "$cache"/jaeger-* | head -1)
victorialogs=$(deploy/host/victorialogs.sh build >/dev/null && ls "$cache"/victoria-logs-* | head -1)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# image TAG DOCKERFILE: build TAG from the files already in $ctx/TAG.
image() {
  printf '%s\n' "$2" >"$ctx/$1/Dockerfile"
  # The classic builder (docker.io 20.10 has no buildx): its deprecation
  # notice is shown only when the build fails.
  if ! docker build -q -t "warmbox/$1:local" "$ctx/$1" >"$ctx/$1.log" 2>&1; then
    cat "$ctx/$1.log" >&2
    exit 1
  fi
  log "warmbox/$1:local ($(docker image inspect -f '{{.Size}}' "warmbox/$1:local" | awk '{printf "%d MB", $1/1e6}'))"
}

mkdir -p "$ctx/warmbox"
version=$(git describe --always --dirty 2>/dev/null || echo dev)
for c in warmbox warmbox-runner; do
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$ctx/warmbox/$c" "./cmd/$c"
done
printf 'root:x:0:0:root:/:/sbin/nologin\n' >"$ctx/warmbox/passwd"
printf 'root:x:0:\n' >"$ctx/warmbox/group"
image warmbox 'FROM scratch
COPY warmbox warmbox-runner /usr/local/bin/
COPY passwd group /etc/
ENTRYPOINT ["/usr/local/bin/warmbox", "serve"]'

mkdir -p "$ctx/caddy"
cp "$(command -v caddy)" /etc/ssl/certs/ca-certificates.crt "$ctx/caddy/"
image caddy 'FROM warmbox/bash:bookworm
COPY caddy /usr/bin/caddy
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENTRYPOINT []
CMD ["caddy", "version"]'

mkdir -p "$ctx/prometheus"
cp "$(command -v prometheus)" "$ctx/prometheus/"
image prometheus 'FROM warmbox/bash:bookworm
COPY prometheus /usr/bin/prometheus
ENTRYPOINT []
CMD ["prometheus", "--version"]'

mkdir -p "$ctx/jaeger"
cp "$jaeger" "$ctx/jaeger/jaeger"
image jaeger 'FROM warmbox/bash:bookworm
COPY jaeger /usr/local/bin/jaeger
ENTRYPOINT ["/usr/local/bin/jaeger"]'

mkdir -p "$ctx/victorialogs"
cp "$victorialogs" "$ctx/victorialogs/victoria-logs"
image victorialogs 'FROM warmbox/bash:bookworm
COPY victoria-logs /usr/local/bin/victoria-logs
ENTRYPOINT []
CMD ["victoria-logs", "-version"]'
