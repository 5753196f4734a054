# service-lib.sh: what jaeger.sh, victorialogs.sh and prometheus.sh share
# to run one local backend in the background: a run dir for pid files
# and logs, "is our process alive", "wait until it answers", "stop it".
# Sourced, not run. The caller defines log() and sets NAME.

# service_run_dir sets RUN_DIR (WARMBOX_RUN_DIR, /var/run/warmbox-ci, or
# /tmp/warmbox-ci where that is not writable) and creates it.
service_run_dir() {
  RUN_DIR=${WARMBOX_RUN_DIR:-/var/run/warmbox-ci}
  if ! mkdir -p "$RUN_DIR" 2>/dev/null || [ ! -w "$RUN_DIR" ]; then
    RUN_DIR=/tmp/warmbox-ci
    mkdir -p "$RUN_DIR"
  fi
}

# service_pid PID_FILE BIN prints the pid in PID_FILE if that process is
# alive and runs BIN (not some other process that got the pid since).
service_pid() {
  [ -f "$1" ] || return 1
  local pid
  pid=$(cat "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$2")" ] || return 1
  echo "$pid"
}

# service_wait PID LOG_FILE SECONDS CHECK...: waits until the command
# CHECK succeeds; fails, with the log's tail, if PID exits or the time
# runs out.
service_wait() {
  local pid=$1 logfile=$2 seconds=$3
  shift 3
  for _ in $(seq 1 $((seconds * 2))); do
    if "$@"; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$NAME exited; last log lines:"
      tail -n 20 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "$NAME did not answer within $seconds s; see $logfile"
  return 1
}

# service_kill PID: SIGTERM, then SIGKILL after 10 s.
service_kill() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL "$1" 2>/dev/null || true
}

# service_stop PID_FILE BIN: stops our process, if it runs.
service_stop() {
  local pid
  if pid=$(service_pid "$1" "$2"); then
    service_kill "$pid"
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  rm -f "$1"
}

# service_status PID_FILE BIN WHERE CHECK...: succeeds if our process runs
# and CHECK succeeds.
service_status() {
  local pid pid_file=$1 bin=$2 where=$3
  shift 3
  if pid=$(service_pid "$pid_file" "$bin") && "$@"; then
    log "running (pid $pid), $where"
    return 0
  fi
  log "not running"
  return 1
}
