#!/usr/bin/env bash
# engine.sh: make sure a Docker engine answers on this host.
# If `docker info` already works, do nothing. Otherwise, on Debian as root,
# install docker.io (and runsc for the optional gVisor runtime), register
# runsc with --network=none, and start dockerd in the background.
set -euo pipefail
log() { echo "[engine] $*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "no Docker engine answers, and this is not Debian with root."
  log "install Docker (https://docs.docker.com/engine/install/) and start it, then run this again."
  exit 1
fi
if ! command -v dockerd >/dev/null; then
  log "installing Debian's docker.io (and runsc for gVisor)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io runsc >/dev/null
fi
if command -v runsc >/dev/null && [ ! -s /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker
  cat > /etc/docker/daemon.json <<JSON
{
  "runtimes": {
    "runsc": {"path": "$(command -v runsc)", "runtimeArgs": ["--network=none"]}
  }
}
JSON
fi
# A dockerd killed earlier can leave its pid file behind; the next start then refuses.
if ! pgrep -x dockerd >/dev/null; then
  rm -f /var/run/docker.pid
  pgrep -x containerd >/dev/null || rm -f /run/docker/containerd/containerd.pid
  log "starting dockerd (log: /var/log/warmbox-dockerd.log)"
  nohup dockerd >/var/log/warmbox-dockerd.log 2>&1 &
fi
for _ in $(seq 1 120); do
  docker info >/dev/null 2>&1 && { log "engine ready: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"; exit 0; }
  sleep 0.5
done
log "dockerd did not answer within 60 s; see /var/log/warmbox-dockerd.log"
exit 1
