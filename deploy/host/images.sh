#!/usr/bin/env bash
# images.sh [LANG...|all]: build warmbox runtime images offline, without a
# registry. Each image is a Debian bookworm root filesystem made by
# mmdebstrap from Debian's apt repositories, imported with `docker import`.
# Images carry the toolchain only; the runner is bind-mounted at run time.
# Without arguments it builds the default languages' images (python node
# bash); `all` builds every language's (docs/LANGUAGES.md lists them with
# their sizes). Several languages share an image (c, cpp, d and fortran:
# warmbox/gcc).
#
# An image is labelled with the hash of its recipe (its packages and the
# files written into it): an image whose label matches is kept, any other
# is rebuilt. FORCE=1 rebuilds regardless. WARMBOX_IMAGE_CACHE=dir keeps
# each built root filesystem there, keyed by that hash, so a later build
# (a CI run) imports it instead of downloading again. Dockerfiles for
# hosts that can pull official images live in deploy/images/.
set -euo pipefail
log() { echo "[images] $*" >&2; }

MIRROR=${WARMBOX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${WARMBOX_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
SUITE=bookworm
DEFAULT_LANGS=(python node bash)
ALL_LANGS=(python node typescript bash c cpp go rust java csharp ruby php perl lua r sqlite ocaml d fortran elixir nim)

# image LANG: the image (warmbox/<name>:bookworm) a language runs in.
image() {
  case $1 in
    python | node | typescript | bash | go | rust | java | csharp | ruby | php | perl | lua | r | sqlite | ocaml | elixir | nim) echo "$1" ;;
    c | cpp | d | fortran) echo gcc ;;
    *) log "unknown language: $1 (known: ${ALL_LANGS[*]})"; return 1 ;;
  esac
}

# packages IMAGE: the Debian packages an image holds.
packages() {
  case $1 in
    # numpy, pandas, matplotlib (Agg: no display), scipy and sympy come
    # with it: the most asked-for imports of data and agent users. Debian's
    # scipy depends on pythran, which depends on a C++ toolchain and
    # Boost: 1 GB of the image's 1.16.
    python) echo python3-minimal,libpython3.11-stdlib,python3,python3-numpy,python3-pandas,python3-matplotlib,python3-scipy,python3-sympy ;;
    node) echo nodejs ;;
    typescript) echo nodejs,node-typescript ;;
    bash) echo bash,coreutils ;;
    gcc) echo gcc,g++,gdc,gfortran,libc6-dev ;;
    go) echo golang-go ;;
    rust) echo rustc ;;
    java) echo openjdk-17-jdk-headless ;;
    csharp) echo mono-mcs,mono-runtime ;;
    ruby) echo ruby ;;
    php) echo php-cli ;;
    perl) echo perl ;;
    lua) echo lua5.4 ;;
    r) echo r-base-core ;;
    sqlite) echo sqlite3 ;;
    ocaml) echo ocaml-nox ;;
    elixir) echo elixir ;;
    nim) echo nim,gcc,libc6-dev ;;
  esac
}

# files IMAGE: files of deploy/images/files written into an image, as
# "source target" lines.
files() {
  case $1 in
    typescript) echo "node-globals.d.ts /usr/local/share/warmbox/node-globals.d.ts" ;;
  esac
}
FILES_DIR=$(cd "$(dirname "$0")/../images/files" && pwd)

# customize IMAGE: a command mmdebstrap runs on the root filesystem
# ("$1") after the packages are installed, for a reason of its own:
#   python: remove matplotlib's *-nspkg.pth, a setuptools shim for
#     Pythons before 3.3 that site.py runs at every interpreter start (it
#     imports importlib.util and searches sys.path): about a quarter of
#     a hello world's CPU time. Debian's mpl_toolkits has an __init__.py,
#     so it imports the same without it (TestPlotReturned).
customize() {
  case $1 in
    python) echo 'rm -f "$1"/usr/lib/python3/dist-packages/*-nspkg.pth' ;;
  esac
}

RECIPE_VERSION=3 # bump when what mmdebstrap builds changes
IMPORT_VERSION=2 # bump when the import (labels, files added) changes

# base IMAGE: the hash of what mmdebstrap builds (the cache key);
# recipe IMAGE: the image's label, that and the files added to it.
# (An image without a customize hook keeps the key it had before hooks
# existed, so its cached root filesystem stays valid.)
base() {
  {
    printf '%s\n%s\n%s\n' "$RECIPE_VERSION" "$SUITE" "$(packages "$1")"
    [ -z "$(customize "$1")" ] || customize "$1"
  } | sha256sum | cut -c1-16
}
recipe() {
  {
    base "$1"
    echo "$IMPORT_VERSION"
    # "added": files are appended, no longer written over (an image with
    # files got a new recipe when that changed; the others kept theirs).
    files "$1" | while read -r src dst; do echo "added $dst"; cat "$FILES_DIR/$src"; done
  } | sha256sum | cut -c1-16
}

command -v mmdebstrap >/dev/null || {
  [ "$(id -u)" = 0 ] || { log "mmdebstrap is missing; install it (apt-get install mmdebstrap)"; exit 1; }
  log "installing mmdebstrap"; apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q mmdebstrap >/dev/null
}

build() {
  local name=$1 ref="warmbox/$1:bookworm" hash key tmp tar start src dst
  hash=$(recipe "$name")
  key=$(base "$name")
  if [ "${FORCE:-0}" != 1 ] &&
    [ "$(docker image inspect -f '{{index .Config.Labels "io.warmbox.recipe"}}' "$ref" 2>/dev/null)" = "$hash" ]; then
    log "$ref up to date (recipe $hash; FORCE=1 rebuilds)"; return 0
  fi
  start=$SECONDS
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  tar=$tmp/rootfs.tar
  if [ -n "${WARMBOX_IMAGE_CACHE:-}" ] && [ -f "$WARMBOX_IMAGE_CACHE/$name-$key.tar" ]; then
    log "importing $ref from $WARMBOX_IMAGE_CACHE/$name-$key.tar"
    cp "$WARMBOX_IMAGE_CACHE/$name-$key.tar" "$tar"
  else
    log "building $ref ($(packages "$name"))"
    local hook
    hook=$(customize "$name")
    mmdebstrap --quiet --variant=essential --include="$(packages "$name")" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --essential-hook='mkdir -p "$1"/usr/share/man/man1' \
      --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
      ${hook:+--customize-hook="$hook"} \
      "$SUITE" "$tar" "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
      "deb $SECURITY $SUITE-security main"
    if [ -n "${WARMBOX_IMAGE_CACHE:-}" ]; then
      mkdir -p "$WARMBOX_IMAGE_CACHE"
      rm -f "$WARMBOX_IMAGE_CACHE/$name"-*.tar
      cp "$tar" "$WARMBOX_IMAGE_CACHE/$name-$key.tar"
    fi
  fi
  # Files added to the root filesystem (files IMAGE). Each must be new to
  # it: the engine refuses an archive that holds a path twice, and GNU
  # tar's --delete, the only way to replace a member in place, drops the
  # last members of these archives (typescript's image lost /var/run,
  # /var/spool, /var/mail, /var/opt and /var/log/wtmp to it). A file a
  # package installs is changed with a customize hook instead.
  local over=""
  while read -r src dst; do
    [ -n "$src" ] || continue
    mkdir -p "$tmp/over$(dirname "$dst")"
    install -m 0644 "$FILES_DIR/$src" "$tmp/over$dst"
    over+=" .$dst"
  done < <(files "$name")
  if [ -n "$over" ]; then
    local listing
    listing=$(tar -tf "$tar")
    for f in $over; do
      if grep -qxF "$f" <<<"$listing"; then
        log "$ref: $f is in the root filesystem already; change it with a customize hook"
        exit 1
      fi
    done
    (cd "$tmp/over" && tar --append -f "$tar" --owner=0 --group=0 --numeric-owner $over)
    local want got
    want=$(($(wc -l <<<"$listing") + $(wc -w <<<"$over")))
    got=$(tar -tf "$tar" | wc -l)
    if [ "$got" != "$want" ]; then
      log "$ref: the root filesystem has $got entries after adding files, want $want"
      exit 1
    fi
  fi
  # The packages asked for, with the versions dpkg installed: the
  # daemon's /environments reports them (label io.warmbox.packages).
  local versions
  versions=$(tar -xOf "$tar" ./var/lib/dpkg/status | awk -v want=",$(packages "$name")," '
    /^Package: / { p = $2 } /^Version: / { if (index(want, "," p ",")) { printf "%s%s=%s", sep, p, $2; sep = " " } }')
  local old
  old=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)
  docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change "LABEL io.warmbox.runtime=$name" --change "LABEL io.warmbox.recipe=$hash" \
    --change "LABEL io.warmbox.packages=\"$versions\"" \
    --change 'CMD ["/bin/sh"]' "$tar" "$ref" >/dev/null
  # The image it replaced, unless a container still uses it.
  [ -z "$old" ] || [ "$old" = "$(docker image inspect -f '{{.Id}}' "$ref")" ] || docker image rm "$old" >/dev/null 2>&1 || true
  log "built $ref in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%d MB", $1/1e6}'))"
}

langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=("${DEFAULT_LANGS[@]}")
[ "${langs[*]}" != all ] || langs=("${ALL_LANGS[@]}")
declare -A images=()
for l in "${langs[@]}"; do images[$(image "$l")]=1; done

# At most JOBS builds at once: each downloads and unpacks its packages.
JOBS=${JOBS:-4}
pids=()
rc=0
for name in "${!images[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  build "$name" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
