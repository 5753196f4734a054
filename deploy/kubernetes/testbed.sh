#!/usr/bin/env bash
# testbed.sh build|up|down|env|images: a real single-node Kubernetes for CI.
#
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubelet,
# built from the Go module proxy, with a private containerd (Debian's 1.6,
# CRI enabled; Docker's own containerd has CRI off) and images imported
# without a registry. Root only (kubelet, containerd).
#
#   build   compile the pinned versions into the cache (no-op when cached)
#   up      start the cluster (calls down first if a previous one is left)
#   images  import the runtime images from Docker and a fresh warmbox/warmbox:dev
#   env     print the exports for kubectl and tests: eval "$(testbed.sh env)"
#   down    stop everything and remove what up put on the host; safe any time
#
# The node is a sandbox node with a loopback-only network: the only CNI
# network is cni-loopback (this directory), which creates no interface, so
# pods have nothing but lo. Pods that need the network (the warmbox
# replicas) use hostNetwork and reach the apiserver on 127.0.0.1:6443; set
# KUBERNETES_SERVICE_HOST=127.0.0.1 and KUBERNETES_SERVICE_PORT=6443 in
# them, as there is no kube-proxy behind the kubernetes Service.
# Pods use local image names with imagePullPolicy: Never; the warmbox
# image's user is root (as for compose), so set runAsUser: 65534 in pods.
set -euo pipefail

ETCD_VERSION=v3.7.3
K8S_VERSION=v1.37.2 # kubelet 1.38 drops containerd 1.6: stay on 1.37
STAGING_VERSION=v0.${K8S_VERSION#v1.} # v1.37.2 -> v0.37.2, the published staging modules
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)

CACHE=/var/cache/warmbox-ci/k8s # slow builds: binaries, module and build caches, debs
BIN=$CACHE/bin                  # etcd and the Kubernetes binaries (the PATH of `env`)
STAMP=$BIN/VERSIONS
# Run state: on disk rather than /run, as containerd's images and snapshots
# would not fit a tmpfs /run on a small runner. down removes it all.
STATE=/var/lib/warmbox-k8s
SOCK=$STATE/containerd/containerd.sock
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
NODE=warmbox-ci
PAUSE_IMAGE=localhost/warmbox/pause:ci
WARMBOX_IMAGE=warmbox/warmbox:dev
RUNTIME_IMAGES=(warmbox/python:bookworm warmbox/node:bookworm warmbox/bash:bookworm)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { echo "[testbed $(date +%T)] $*" >&2; }
die() { log "$*"; exit 1; }
ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
kubectl_() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# waitfor SECONDS CMD...: retry CMD every 0.2 s.
waitfor() {
  local t=$1; shift
  for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timeout after ${t}s waiting for: $*"; return 1
}

# --- build ---------------------------------------------------------------

stamp() { printf 'etcd %s\nkubernetes %s\ncomponents %s\n' "$ETCD_VERSION" "$K8S_VERSION" "${COMPONENTS[*]}"; }

built() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp)" ] || return 1
  local b
  for b in etcd "${COMPONENTS[@]}"; do [ -x "$BIN/$b" ] || return 1; done
  [ -x "$CACHE/cni/loopback" ] && [ -x "$CACHE/pause/pause" ]
}

build() {
  [ "$(id -u)" = 0 ] || die "build needs root (it may apt-get install containerd, runc and jq)"
  if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! command -v jq >/dev/null; then
    log "installing Debian's containerd, runc and jq"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containerd runc jq >/dev/null
  fi
  if built; then log "binaries cached in $BIN ($(tr '\n' ' ' <"$STAMP"))"; return 0; fi
  mkdir -p "$BIN" "$CACHE"/{src,debs,cni,pause}
  export GOMODCACHE=$CACHE/gomod GOCACHE=$CACHE/gocache GOFLAGS=-buildvcs=false CGO_ENABLED=0
  rm -f "$STAMP"

  # Debian's reference `loopback` CNI plugin: containerd's CRI runs it itself
  # (its built-in cni-loopback network) to bring lo up in each pod.
  if [ ! -x "$CACHE/cni/loopback" ]; then
    log "fetching containernetworking-plugins (for loopback)"
    (cd "$CACHE/debs" && { apt-get download containernetworking-plugins >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get download containernetworking-plugins >/dev/null; }; })
    rm -rf "$CACHE/debs/x"
    local debs=("$CACHE"/debs/containernetworking-plugins_*.deb)
    dpkg -x "${debs[-1]}" "$CACHE/debs/x"
    install -m 0755 "$CACHE/debs/x/usr/lib/cni/loopback" "$CACHE/cni/loopback"
    rm -rf "$CACHE/debs/x"
  fi

  # etcd: `go install` fails on its replace directives; a tools module
  # with explicit requires builds it.
  log "building etcd $ETCD_VERSION"
  mkdir -p "$CACHE/src/etcd"
  (
    cd "$CACHE/src/etcd"
    cat >go.mod <<EOF
module warmbox.ci/etcd

go 1.26.0

require (
	go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/server/v3 $ETCD_VERSION
)
EOF
    printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
    go mod tidy
    go build -trimpath -ldflags='-s -w' -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )

  # Kubernetes: k8s.io/kubernetes replaces its staging modules with local
  # paths; re-point every one at the published v0.X.Y module.
  log "building Kubernetes $K8S_VERSION: ${COMPONENTS[*]}"
  mkdir -p "$CACHE/src/k8s"
  (
    cd "$CACHE/src/k8s"
    local gomod m replaces="" minor c
    gomod=$(cd / && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    while read -r m; do
      # only the published ones (sample-* are not, and are not needed)
      if (cd / && go list -m "$m@$STAGING_VERSION" >/dev/null 2>&1); then
        replaces+=$'\t'"$m => $m $STAGING_VERSION"$'\n'
      fi
    done < <(sed -n '/^replace (/,/^)/p' "$gomod" | awk '/=>/{print $1}')
    printf 'module warmbox.ci/k8s\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n%s)\n' "$K8S_VERSION" "$replaces" >go.mod
    {
      printf '//go:build tools\n\npackage tools\n\n'
      for c in "${COMPONENTS[@]}"; do echo "import _ \"k8s.io/kubernetes/cmd/$c\""; done
    } >tools.go
    go mod tidy
    minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    local x="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
    x+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    x+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
    x+=" -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    go build -trimpath -ldflags="-s -w $x" -o "$BIN/" "${COMPONENTS[@]/#/k8s.io/kubernetes/cmd/}"
  )

  # pause: the pod sandbox's process. Reaps children, exits on TERM/INT.
  mkdir -p "$CACHE/src/pause"
  (
    cd "$CACHE/src/pause"
    printf 'module warmbox.ci/pause\n\ngo 1.26.0\n' >go.mod
    cat >main.go <<'EOF'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range ch {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
}
EOF
    go build -trimpath -ldflags='-s -w' -o "$CACHE/pause/pause" .
  )
  stamp >"$STAMP"
  log "built etcd ${COMPONENTS[*]} in $BIN"
}

# --- images ----------------------------------------------------------------

# mkimage ROOTFS REF ENTRYPOINT_JSON CMD_JSON OUT: a one-layer docker-archive
# tarball (the format `docker save` writes) for `ctr images import`.
mkimage() {
  local rootfs=$1 ref=$2 entrypoint=$3 cmd=$4 out=$5 t d c
  t=$(mktemp -d)
  tar --numeric-owner --owner=0 --group=0 --mtime=2000-01-01 -C "$rootfs" -cf "$t/layer.tar" .
  d=$(sha256sum "$t/layer.tar" | cut -d' ' -f1)
  mkdir "$t/$d" && mv "$t/layer.tar" "$t/$d/"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "$cmd" "$d" >"$t/config.json"
  c=$(sha256sum "$t/config.json" | cut -d' ' -f1)
  mv "$t/config.json" "$t/$c.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$c" "$ref" "$d" >"$t/manifest.json"
  tar -C "$t" -cf "$out" manifest.json "$c.json" "$d"
  rm -rf "$t"
}

# import_pause: the sandbox image containerd's CRI starts every pod with.
import_pause() {
  local t; t=$(mktemp -d)
  mkdir "$t/rootfs" && cp "$CACHE/pause/pause" "$t/rootfs/"
  mkimage "$t/rootfs" "$PAUSE_IMAGE" '["/pause"]' null "$t/pause.tar"
  ctr_ images import "$t/pause.tar" >/dev/null
  rm -rf "$t"
}

# import_runtime REF: Docker's image into containerd, skipped when the one
# there is labelled with the same Docker image ID (FORCE=1 re-imports).
import_runtime() {
  local ref=$1 full=docker.io/$1 id have
  id=$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null) ||
    die "$ref is not in Docker: run make images"
  have=$(ctr_ images ls "name==$full" 2>/dev/null | awk -v id="io.warmbox.docker-id=$id" 'NR>1 && index($0, id) {print "y"}')
  if [ "${FORCE:-0}" != 1 ] && [ -n "$have" ]; then log "$full present"; return 0; fi
  log "importing $ref from Docker"
  docker save "$ref" | ctr_ images import - >/dev/null
  ctr_ images label "$full" "io.warmbox.docker-id=$id" >/dev/null
}

# import_warmbox: static warmbox and warmbox-runner from this checkout in a
# scratch-like image (the same content as deploy/images/warmbox.Dockerfile).
# Rebuilt and re-imported every time: the code changes between runs.
import_warmbox() {
  local t version
  t=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$t'" RETURN
  version=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo dev)
  mkdir -p "$t/rootfs/usr/local/bin" "$t/rootfs/etc" "$t/rootfs/tmp"
  log "building warmbox $version for $WARMBOX_IMAGE"
  (cd "$REPO" && for c in warmbox warmbox-runner; do
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$t/rootfs/usr/local/bin/$c" "./cmd/$c"
  done)
  printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$t/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$t/rootfs/etc/group"
  chmod 1777 "$t/rootfs/tmp"
  mkimage "$t/rootfs" "$WARMBOX_IMAGE" '["/usr/local/bin/warmbox","serve"]' null "$t/warmbox.tar"
  ctr_ images import "$t/warmbox.tar" >/dev/null
  log "imported docker.io/$WARMBOX_IMAGE"
}

images() {
  ctr_ version >/dev/null 2>&1 || die "the testbed's containerd is not running: run up first"
  local r
  for r in "${RUNTIME_IMAGES[@]}"; do import_runtime "$r"; done
  import_warmbox
  ctr_ images ls -q | grep -v '^sha256:' | sed 's/^/  /' >&2
}

# --- up --------------------------------------------------------------------

# start NAME CMD...: run in the background, log to $STATE/log/NAME.log, pid in $STATE/pid/NAME.
start() {
  local n=$1; shift
  nohup "$@" >"$STATE/log/$n.log" 2>&1 </dev/null &
  echo $! >"$STATE/pid/$n"
}

# kubeconfig FILE TOKEN: a kubeconfig for the apiserver on 127.0.0.1:6443.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: warmbox-ci, cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$STATE/pki/ca.crt"}}]
users: [{name: u, user: {token: "$2"}}]
contexts: [{name: warmbox-ci, context: {cluster: warmbox-ci, user: u}}]
current-context: warmbox-ci
EOF
}

token() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# pki NODE_IP: a CA, the apiserver's serving cert, the apiserver's client
# cert for the kubelet, the service-account keys, and static tokens.
pki() {
  local ip=$1 p=$STATE/pki admin kubelet cm sched
  mkdir -p "$p"
  openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$p/ca.key" -out "$p/ca.crt" -days 7 -subj /CN=warmbox-ci-ca 2>/dev/null
  # cert NAME SUBJECT EXTENSIONS
  cert() {
    openssl req -new -nodes -newkey rsa:2048 -keyout "$p/$1.key" -out "$p/$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" >"$p/$1.ext"
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -out "$p/$1.crt" -days 7 -extfile "$p/$1.ext" 2>/dev/null
  }
  cert apiserver /CN=kube-apiserver "subjectAltName=IP:127.0.0.1,IP:$ip,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  admin=$(token) kubelet=$(token) cm=$(token) sched=$(token)
  {
    echo "$admin,warmbox-ci-admin,warmbox-ci-admin,\"system:masters\""
    echo "$kubelet,system:node:$NODE,kubelet,\"system:nodes\""
    echo "$cm,system:kube-controller-manager,kube-controller-manager"
    echo "$sched,system:kube-scheduler,kube-scheduler"
  } >"$p/tokens.csv"
  chmod 600 "$p"/*.key "$p/tokens.csv"
  kubeconfig "$KUBECONFIG_ADMIN" "$admin"
  kubeconfig "$STATE/kubelet.kubeconfig" "$kubelet"
  kubeconfig "$STATE/controller-manager.kubeconfig" "$cm"
  kubeconfig "$STATE/scheduler.kubeconfig" "$sched"
}

containerd_config() {
  cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$STATE/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    # root here may lack CAP_SYS_RESOURCE: pause's oom_score_adj of -998 would make runc fail
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "$(command -v runc)"
          # runc's state here, not in /run/containerd/runc, which a host containerd may use
          Root = "$STATE/runc"
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "$STATE/cni/bin"
      conf_dir = "$STATE/cni/net.d"
      max_conf_num = 1
EOF
}

# cni: the loopback-only network. containerd runs `loopback` on lo itself,
# then cni-loopback, which only reports a result (see cni-loopback/doc.go).
cni() {
  mkdir -p "$STATE/cni/bin" "$STATE/cni/net.d"
  cp "$CACHE/cni/loopback" "$STATE/cni/bin/"
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$STATE/cni/bin/cni-loopback" ./deploy/kubernetes/cni-loopback)
  cat >"$STATE/cni/net.d/10-warmbox.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "warmbox-loopback", "plugins": [{"type": "cni-loopback"}]}
EOF
}

kubelet_config() {
  cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# hybrid cgroups read as v1 here
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
# the node IP cannot be loopback, so the kubelet's API listens there: only
# the apiserver's client certificate and tokens it accepts get in
address: $1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: Webhook}
failSwapOn: false
# Kubernetes has no per-Pod pids limit: a sandbox node sets one for all
# Pods, or a fork bomb is bounded only by the node (docs/KUBERNETES.md).
# 128 holds a sandbox (runner, interpreter, pause) and a warmbox replica.
podPidsLimit: 128
podLogsDir: $STATE/pod-logs
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
EOF
}

up() {
  [ "$(id -u)" = 0 ] || die "up needs root"
  built || die "no binaries for $K8S_VERSION in $BIN: run build first"
  if [ -e "$STATE" ]; then log "a previous testbed is left: down first"; down; fi
  local ip t0=$SECONDS
  ip=$(ip -4 -o addr show scope global | awk '$2 !~ /^(docker|br-|veth|cni|k8s)/ {sub("/.*", "", $4); print $4; exit}')
  [ -n "$ip" ] || die "no global IPv4 address for the node"
  mkdir -p "$STATE"/{log,pid,etcd,kubelet,pod-logs,containerd}
  # host paths the kubelet or containerd may create: down removes those that were not here
  local d
  for d in /var/log/containers /var/lib/kubelet /var/lib/cni /run/netns /run/containerd; do
    [ -e "$d" ] || echo "$d" >>"$STATE/host-dirs"
  done
  pki "$ip"
  containerd_config
  cni
  kubelet_config "$ip"

  log "etcd, containerd"
  start etcd "$BIN/etcd" --name warmbox-ci --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster warmbox-ci=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync
  start containerd containerd --config "$STATE/containerd/config.toml"
  waitfor 30 curl -sf http://127.0.0.1:2379/health

  log "kube-apiserver"
  local p=$STATE/pki
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$ip" \
    --tls-cert-file="$p/apiserver.crt" --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" --token-auth-file="$p/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" --kubelet-client-key="$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$p/sa.pub" --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --allow-privileged=true --profiling=false
  waitfor 30 ctr_ version
  import_pause
  waitfor 60 kubectl_ get --raw /readyz

  log "kubelet, kube-scheduler, kube-controller-manager"
  start kubelet "$BIN/kubelet" --config="$STATE/kubelet-config.yaml" --kubeconfig="$STATE/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet/pki" --hostname-override="$NODE" --node-ip="$ip"
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$STATE/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=10259
  # the controller-manager: garbage collection (ownerReferences), service
  # accounts and their tokens, kube-root-ca.crt in every namespace
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$STATE/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
    --use-service-account-credentials=true --leader-elect=false --bind-address=127.0.0.1 --secure-port=10257 \
    --service-account-private-key-file="$p/sa.key" --root-ca-file="$p/ca.crt"
  waitfor 60 kubectl_ get node "$NODE"
  kubectl_ wait --for=condition=Ready "node/$NODE" --timeout=60s >/dev/null
  waitfor 60 kubectl_ -n default get serviceaccount default
  waitfor 60 kubectl_ -n default get configmap kube-root-ca.crt
  waitfor 60 untainted
  log "up in $((SECONDS - t0))s: eval \"\$($0 env)\""
}

# untainted: the node lifecycle controller has removed the not-ready taint.
untainted() { [ -z "$(kubectl_ get node "$NODE" -o jsonpath='{.spec.taints}')" ]; }

# --- down ------------------------------------------------------------------

# stop [-KILL] NAME...: signal the recorded pids together (TERM unless
# -KILL), KILL those left after 10 s, and wait until they are gone.
stop() {
  local sig=TERM n pids=() p alive
  [ "$1" = -KILL ] && { sig=KILL; shift; }
  for n in "$@"; do
    [ -f "$STATE/pid/$n" ] || continue
    p=$(cat "$STATE/pid/$n")
    kill -"$sig" "$p" 2>/dev/null && pids+=("$p")
    rm -f "$STATE/pid/$n"
  done
  for i in $(seq 75); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    [ "$i" = 50 ] && for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    sleep 0.2
  done
  log "still running: ${pids[*]}"
}

# kubepods: the tops of the kubelet's pod cgroup trees, one per hierarchy
# (hybrid: each v1 controller and the unified one; pure v2: one).
kubepods() { ls -d /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods 2>/dev/null || true; }

# pod_pids: every process in the pods' cgroups.
pod_pids() {
  local top
  for top in $(kubepods); do find "$top" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u
}

# kill_pods: SIGKILL everything in the pods' cgroups. CPU limits are lifted
# first (a throttled fork bomb takes minutes to die of SIGKILL), and
# cgroup.kill (v2) or the freezer (v1) stops forks racing the kill.
kill_pods() {
  local top d pids
  for top in $(kubepods); do
    # top-down: a v1 child may not have a larger quota than its parent
    find "$top" -type d | while read -r d; do
      [ -f "$d/cpu.cfs_quota_us" ] && echo -1 >"$d/cpu.cfs_quota_us"
      [ -f "$d/cpu.max" ] && echo max >"$d/cpu.max"
    done
  done 2>/dev/null
  for _ in $(seq 50); do
    pids=$(pod_pids)
    [ -z "$pids" ] && return 0
    for top in $(kubepods); do
      [ -f "$top/cgroup.kill" ] && echo 1 >"$top/cgroup.kill"
      [ -f "$top/freezer.state" ] && echo FROZEN >"$top/freezer.state"
    done 2>/dev/null
    # shellcheck disable=SC2086 # one pid a word
    kill -9 $pids 2>/dev/null
    for top in $(kubepods); do [ -f "$top/freezer.state" ] && echo THAWED >"$top/freezer.state"; done 2>/dev/null
    sleep 0.2
  done
  log "processes left in the pods' cgroups: $(pod_pids | tr '\n' ' ')"
}

# mounts_under DIR: mount points at or below DIR, deepest first.
mounts_under() { awk -v d="$1" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/self/mounts | sort -ru; }

down() {
  set +e # best effort: this runs on a half-up testbed too
  [ "$(id -u)" = 0 ] || die "down needs root"
  [ -d "$STATE" ] || { log "nothing up"; return 0; }
  stop kube-controller-manager kube-scheduler kubelet

  # Pods: note their network namespaces (bind mounts in /run/netns that
  # containerd's CRI made) while containerd answers, kill them, and delete
  # their tasks so that the shims exit and clean up after themselves.
  local netns="" ids="" id
  if ctr_ version >/dev/null 2>&1; then
    ids=$(ctr_ containers ls -q 2>/dev/null)
    for id in $ids; do
      netns+=" $(ctr_ containers info "$id" 2>/dev/null | jq -r '.Spec.linux.namespaces[]? | select(.type == "network") | .path // empty' 2>/dev/null)"
      ctr_ tasks kill --all --signal SIGKILL "$id" >/dev/null 2>&1
    done
    kill_pods
    for id in $ids; do ctr_ tasks delete --force "$id" >/dev/null 2>&1; done
  fi
  stop containerd
  # shims that outlived containerd: each wrote its pid in the state dir; its
  # socket is in containerd 1.6's fixed /run/containerd/s, named by a hash
  local f
  for f in "$STATE"/containerd/state/io.containerd.runtime.v2.task/k8s.io/*/shim.pid; do
    [ -f "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null
    id=$(basename "$(dirname "$f")")
    rm -f "/run/containerd/s/$(printf '%s' "$SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
    rm -f /var/lib/cni/results/*-"$id"-* 2>/dev/null
  done
  kill_pods # whatever started meanwhile
  stop -KILL kube-apiserver etcd # their state goes: no need to wait for a graceful exit

  # mounts: container root filesystems, volumes, shm, the kubelet's own
  # bind mount, then the pods' network namespaces
  local m
  for _ in 1 2 3; do
    for m in $(mounts_under "$STATE"); do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  done
  for m in $netns; do
    case $m in /var/run/netns/* | /run/netns/*) umount "$m" 2>/dev/null; rm -f "$m" ;; esac
  done
  # the pods' cgroups, deepest first
  local top
  for _ in 1 2 3; do
    for top in $(kubepods); do find "$top" -depth -type d -exec rmdir {} + 2>/dev/null; done
    [ -z "$(kubepods)" ] && break
    sleep 0.5
  done
  [ -z "$(kubepods)" ] || log "cgroups left: $(kubepods | tr '\n' ' ')"

  # iptables: the kubelet's KUBE-* chains (and CNI-* ones, though cni-loopback makes none)
  local ipt tbl c
  for ipt in iptables ip6tables; do
    for tbl in filter nat mangle raw; do
      $ipt -t "$tbl" -S 2>/dev/null | grep -E '^-A .*-j (KUBE|CNI)-' | sed 's/^-A/-D/' |
        while read -r rule; do eval "$ipt -t $tbl $rule" 2>/dev/null; done
      for c in $($ipt -t "$tbl" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do $ipt -t "$tbl" -F "$c" 2>/dev/null; done
      for c in $($ipt -t "$tbl" -S 2>/dev/null | awk '/^-N (KUBE|CNI)-/ {print $2}'); do $ipt -t "$tbl" -X "$c" 2>/dev/null; done
    done
  done

  # the kubelet's /var/log/containers links into our pod logs; the host dirs up found absent
  find /var/log/containers -maxdepth 1 -type l -lname "$STATE/*" -delete 2>/dev/null
  if [ -f "$STATE/host-dirs" ]; then
    while read -r d; do
      [ -n "$(mounts_under "$d")" ] && { log "left $d: mounts below it"; continue; }
      rm -rf --one-file-system "$d"
    done <"$STATE/host-dirs"
  fi
  if [ -n "$(mounts_under "$STATE")" ]; then
    log "mounts left under $STATE, not removing it:"; mounts_under "$STATE" >&2; return 1
  fi
  rm -rf --one-file-system "$STATE"
  log "down"
}

case ${1:-} in
build) build ;;
up) up ;;
images) images ;;
down) down ;;
env) echo "export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$BIN:\$PATH" ;;
*) echo "usage: $0 build|up|down|env|images" >&2; exit 2 ;;
esac
