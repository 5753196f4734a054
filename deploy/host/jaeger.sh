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
RUN_DIR=${WARMBOX_RUN_DIR:-/var/run/warmbox-ci}
QUERY=http://127.0.0.1:16686

log() { echo "[jaeger] $*" >&2; }

run_dir() {
  if ! mkdir -p "$RUN_DIR" 2>/dev/null || [ ! -w "$RUN_DIR" ]; then
    RUN_DIR=/tmp/warmbox-ci
    mkdir -p "$RUN_DIR"
  fi
  PID_FILE=$RUN_DIR/jaeger.pid
  LOG_FILE=$RUN_DIR/jaeger.log
}

# running prints the pid of our Jaeger if it is alive.
running() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$BIN" ] || return 1
  echo "$pid"
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
  run_dir
  if pid=$(running); then
    if answers; then
      log "already running (pid $pid), UI $QUERY"
      return 0
    fi
  elif answers; then
    log "something already answers on $QUERY (not started by this script); using it"
    return 0
  fi
  build
  if ! pid=$(running); then
    log "starting (log: $LOG_FILE)"
    # Run from the run dir, so relative paths in Jaeger's defaults land there.
    (cd "$RUN_DIR" && exec nohup "$BIN" --config="file:$CONFIG" >"$LOG_FILE" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  for _ in $(seq 1 120); do
    if answers; then
      log "ready (pid $pid): OTLP http://127.0.0.1:4318 and 127.0.0.1:4317, UI $QUERY"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "Jaeger exited; last log lines:"
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.5
  done
  log "Jaeger did not answer on $QUERY within 60 s; see $LOG_FILE"
  exit 1
}

stop() {
  run_dir
  local pid
  if ! pid=$(running); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  kill "$pid"
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

status() {
  run_dir
  if pid=$(running) && answers; then
    log "running (pid $pid), UI $QUERY"
    return 0
  fi
  log "not running"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  build) build ;;
  status) status ;;
  *) echo "usage: $0 start|stop|build|status" >&2; exit 2 ;;
esac
