#!/usr/bin/env bash
# engine.sh: make sure a Docker engine answers on this host.
# If `docker info` already works, start nothing. Otherwise, on Debian as root,
# install docker.io (and runsc for the optional gVisor runtime), register
# runsc with --network=none, and start dockerd in the background. Either
# way, give the sandboxes' cgroup its CPU weight (weigh_sandboxes).
set -euo pipefail
log() { echo "[engine] $*" >&2; }

# weigh_sandboxes: with the cgroupfs driver, every container sits in one
# "docker" cgroup beside the engine's own processes in the root cgroup,
# where each dockerd, containerd or runc thread weighs as much as all the
# sandboxes together: a sandbox create (about a CPU-second here) then
# takes most of the host from the jobs running beside it. Weigh the
# group as 16 threads (docs/DEPLOY.md "The Docker engine"). The systemd
# driver already puts each container beside docker.service: nothing to do.
weigh_sandboxes() {
  [ "$(id -u)" = 0 ] || return 0
  local how
  how=$(docker info --format '{{.CgroupDriver}} {{.CgroupVersion}}' 2>/dev/null) || return 0
  case "$how" in
    "cgroupfs 1")
      mkdir -p /sys/fs/cgroup/cpu/docker 2>/dev/null && echo 16384 > /sys/fs/cgroup/cpu/docker/cpu.shares 2>/dev/null &&
        log "sandboxes' CPU weight: /sys/fs/cgroup/cpu/docker/cpu.shares = 16384" ;;
    "cgroupfs 2")
      mkdir -p /sys/fs/cgroup/docker 2>/dev/null && echo 1600 > /sys/fs/cgroup/docker/cpu.weight 2>/dev/null &&
        log "sandboxes' CPU weight: /sys/fs/cgroup/docker/cpu.weight = 1600" ;;
  esac
  return 0
}

if docker info >/dev/null 2>&1; then
  weigh_sandboxes
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
  docker info >/dev/null 2>&1 && { log "engine ready: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"; weigh_sandboxes; exit 0; }
  sleep 0.5
done
log "dockerd did not answer within 60 s; see /var/log/warmbox-dockerd.log"
exit 1
