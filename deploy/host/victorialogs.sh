#!/usr/bin/env bash
# victorialogs.sh start|stop|build|status: a local VictoriaLogs, the log
# store warmbox ships its log records to over OTLP (log_export), on
# 127.0.0.1:9428 only:
#   OTLP logs   http://127.0.0.1:9428/insert/opentelemetry (log_export.otlp_endpoint)
#   LogsQL      http://127.0.0.1:9428/select/logsql/query (Grafana's
#               victoriametrics-logs-datasource queries this)
# Data lives in the run dir for 7 days. The binary (Apache-2.0) is built
# from the Go module proxy once and cached in /var/cache/warmbox-ci/bin
# (~1 min cold). Every subcommand is idempotent.
set -euo pipefail

VERSION=1.52.2
CACHE=${WARMBOX_CI_CACHE:-/var/cache/warmbox-ci}
BIN=$CACHE/bin/victoria-logs-$VERSION
LISTEN=127.0.0.1:9428
URL=http://$LISTEN
NAME=VictoriaLogs
. "$(dirname "${BASH_SOURCE[0]}")/service-lib.sh"

log() { echo "[victorialogs] $*" >&2; }

files() {
  service_run_dir
  PID_FILE=$RUN_DIR/victorialogs.pid
  LOG_FILE=$RUN_DIR/victorialogs.log
  DATA=$RUN_DIR/victorialogs-data
}

answers() { curl -fsS -o /dev/null --max-time 2 "$URL/health" 2>/dev/null; }

build() {
  if [ -x "$BIN" ]; then
    return 0
  fi
  command -v go >/dev/null || { log "go is needed to build VictoriaLogs"; exit 1; }
  log "building VictoriaLogs v$VERSION from the Go module proxy into $BIN (first time only: ~1 min)"
  mkdir -p "$(dirname "$BIN")"
  local gobin
  gobin=$(mktemp -d)
  GOBIN=$gobin go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v$VERSION"
  mv "$gobin/victoria-logs" "$BIN"
  rmdir "$gobin"
  log "built $BIN"
}

start() {
  files
  local pid
  if pid=$(service_pid "$PID_FILE" "$BIN") && answers; then
    log "already running (pid $pid), $URL"
    return 0
  fi
  if answers; then
    log "something already answers on $URL (not started by this script); using it"
    return 0
  fi
  build
  if ! pid=$(service_pid "$PID_FILE" "$BIN"); then
    log "starting (log: $LOG_FILE, data: $DATA)"
    nohup "$BIN" -httpListenAddr="$LISTEN" -storageDataPath="$DATA" -retentionPeriod=7d \
      -loggerFormat=json >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  if ! service_wait "$pid" "$LOG_FILE" 30 answers; then
    rm -f "$PID_FILE"
    exit 1
  fi
  log "ready (pid $pid): $URL"
}

stop() {
  files
  service_stop "$PID_FILE" "$BIN"
}

status() {
  files
  service_status "$PID_FILE" "$BIN" "$URL" answers
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  build) build ;;
  status) status ;;
  *) echo "usage: $0 start|stop|build|status" >&2; exit 2 ;;
esac
