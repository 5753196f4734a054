#!/usr/bin/env bash
# jaeger.sh start|stop|build|status: a local Jaeger (v1.76, the "v2"
# collector-based binary) for warmbox, on 127.0.0.1 only, in-memory storage,
# configured by deploy/jaeger/config.yaml:
#   OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318 (point warmbox here),
#   query UI/API http://127.0.0.1:16686, health http://127.0.0.1:13133/status.
# The binary is built from the Go module proxy once and cached in
# /var/cache/warmbox-ci/bin (a cold build takes ~3.5 min and ~2.2 GB RAM).
# Every subcommand is idempotent.
set -euo pipefail

VERSION=1.76.0
CACHE=${WARMBOX_CI_CACHE:-/var/cache/warmbox-ci}
BIN=$CACHE/bin/jaeger-$VERSION
SRC=$CACHE/jaeger-src
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=$HERE/../jaeger/config.yaml
QUERY=http://127.0.0.1:16686
NAME=Jaeger
. "$HERE/service-lib.sh"

log() { echo "[jaeger] $*" >&2; }

files() {
  service_run_dir
  PID_FILE=$RUN_DIR/jaeger.pid
  LOG_FILE=$RUN_DIR/jaeger.log
}

answers() { curl -fsS -o /dev/null --max-time 2 "$QUERY/api/services" 2>/dev/null; }

build() {
  if [ -x "$BIN" ]; then
    return 0
  fi
  command -v go >/dev/null || { log "go is needed to build Jaeger"; exit 1; }
  log "building Jaeger $VERSION from the Go module proxy into $BIN (first time only: ~3.5 min, ~2.2 GB RAM)"
  mkdir -p "$SRC" "$(dirname "$BIN")"
  (
    cd "$SRC"
    [ -f go.mod ] || go mod init warmbox-ci/jaeger >/dev/null 2>&1
    # `go install` refuses Jaeger's module because of a replace line in its
    # go.mod; a tools module with the same replace builds it.
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@v$VERSION"
    go mod edit -replace github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
    go mod tidy
    go build -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mv "$BIN.tmp" "$BIN"
  log "built $BIN"
}

start() {
  files
  local pid
  if pid=$(service_pid "$PID_FILE" "$BIN"); then
    if answers; then
      log "already running (pid $pid), UI $QUERY"
      return 0
    fi
  elif answers; then
    log "something already answers on $QUERY (not started by this script); using it"
    return 0
  fi
  build
  if ! pid=$(service_pid "$PID_FILE" "$BIN"); then
    log "starting (log: $LOG_FILE)"
    # Run from the run dir, so relative paths in Jaeger's defaults land there.
    (cd "$RUN_DIR" && exec nohup "$BIN" --config="file:$CONFIG" >"$LOG_FILE" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  if ! service_wait "$pid" "$LOG_FILE" 60 answers; then
    rm -f "$PID_FILE"
    exit 1
  fi
  log "ready (pid $pid): OTLP http://127.0.0.1:4318 and 127.0.0.1:4317, UI $QUERY"
}

stop() {
  files
  service_stop "$PID_FILE" "$BIN"
}

status() {
  files
  service_status "$PID_FILE" "$BIN" "UI $QUERY" answers
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  build) build ;;
  status) status ;;
  *) echo "usage: $0 start|stop|build|status" >&2; exit 2 ;;
esac
