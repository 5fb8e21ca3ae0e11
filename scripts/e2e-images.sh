#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The end-to-end tests' images, built FROM scratch with Docker (no registry, no base image)
# and imported into the cluster's containerd under pinned names:
#
#   lameduck.local/lameduck:e2e   the static lameduck at /lameduck (ENTRYPOINT /lameduck)
#   lameduck.local/app:e2e        the test app at /app (tests/e2e/images/app.c), no lameduck
#   lameduck.local/web:e2e        both: ENTRYPOINT ["/lameduck", "--", "/app"]
#   lameduck.local/pause:3.10     the sandbox image (tests/e2e/images/pause.c)
# The first three run as user 65532 (like distroless's nonroot), the pause image as 65535.
#
#   scripts/e2e-images.sh                 build (cached), then import when containerd is up
#   scripts/e2e-images.sh --no-import     build only
#
# Cached: each image carries a label with the hash of its build context; a build with the
# same hash is skipped, and so is an import when containerd's image has the same label.
# Pods use these names with imagePullPolicy: Never.
#
# Environment:
#   LAMEDUCK_E2E_LAMEDUCK_BIN  the static lameduck to use (default: build it with
#                              scripts/build-static.sh, build-static/lameduck)
#   CONTAINERD_ADDRESS         the cluster's containerd socket (default: what
#                              `scripts/cluster.sh env` exports, else
#                              /run/lameduck-cluster/containerd/containerd.sock)
#   LAMEDUCK_CLUSTER_CTR       the cluster's ctr (default: ctr on PATH)
#   LAMEDUCK_E2E_SNAPSHOTTER   containerd snapshotter to unpack into (default: containerd's)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build-e2e
IMPORT=1
[[ ${1:-} == --no-import ]] && IMPORT=0

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'e2e-images: error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "docker not found"
mkdir -p "$OUT"

# ---- binaries ----
LD_BIN=${LAMEDUCK_E2E_LAMEDUCK_BIN:-}
if [[ -z $LD_BIN ]]; then
  bash scripts/build-static.sh >&2
  LD_BIN=$ROOT/build-static/lameduck
fi
[[ -x $LD_BIN ]] || die "no static lameduck at $LD_BIN"
for p in app pause; do
  src=tests/e2e/images/$p.c
  if [[ ! -x $OUT/$p || $src -nt $OUT/$p ]]; then
    gcc -static -O2 -Wall -Wextra -Werror -o "$OUT/$p.tmp" "$src"
    strip "$OUT/$p.tmp"
    mv "$OUT/$p.tmp" "$OUT/$p"
  fi
done

# ---- images ----
# build NAME DOCKERFILE-TEXT NAME=FILE...: the context holds the Dockerfile and the files
build() {
  local name=$1 dockerfile=$2
  shift 2
  local ctx=$OUT/ctx-${name//[^a-z0-9]/-}
  rm -rf "$ctx" && mkdir -p "$ctx"
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  local f
  for f in "$@"; do cp "${f#*=}" "$ctx/${f%%=*}"; done
  local hash
  hash=$(cd "$ctx" && sha256sum Dockerfile "${@%%=*}" | sha256sum | cut -c1-16)
  if [[ $(docker image inspect -f '{{ index .Config.Labels "lameduck.e2e.hash" }}' "$name" 2>/dev/null) == "$hash" ]]; then
    log "$name: up to date ($hash)"
  else
    log "$name: building ($hash)"
    docker build --label "lameduck.e2e.hash=$hash" -t "$name" "$ctx" >"$ctx.log" 2>&1 \
      || { cat "$ctx.log" >&2; die "docker build of $name failed"; }
  fi
  echo "$name $hash" >>"$OUT/images.txt.tmp"
}
rm -f "$OUT/images.txt.tmp"
build lameduck.local/lameduck:e2e 'FROM scratch
COPY lameduck /lameduck
USER 65532:65532
ENTRYPOINT ["/lameduck"]' lameduck="$LD_BIN"
build lameduck.local/app:e2e 'FROM scratch
COPY app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/app"]' app="$OUT/app"
build lameduck.local/web:e2e 'FROM scratch
COPY lameduck /lameduck
COPY app /app
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/lameduck", "--", "/app"]' lameduck="$LD_BIN" app="$OUT/app"
build lameduck.local/pause:3.10 'FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]' pause="$OUT/pause"
mv "$OUT/images.txt.tmp" "$OUT/images.txt"

((IMPORT)) || exit 0

# ---- import into the cluster's containerd ----
if [[ -z ${CONTAINERD_ADDRESS:-} && -x scripts/cluster.sh ]]; then
  eval "$(bash scripts/cluster.sh env 2>/dev/null || true)"
fi
ADDR=${CONTAINERD_ADDRESS:-/run/lameduck-cluster/containerd/containerd.sock}
CTR=(${LAMEDUCK_CLUSTER_CTR:-ctr})
# The cluster's containerd may live in the node's own mount namespace: reach it there.
MNT=${LAMEDUCK_CLUSTER_MOUNT_NS:-/run/lameduck-cluster/ns/mnt}
if [[ ! -S $ADDR && -e $MNT ]] && nsenter --mount="$MNT" test -S "$ADDR"; then
  CTR=(nsenter --mount="$MNT" -- "${CTR[@]}")
fi
"${CTR[@]}" --address "$ADDR" version >/dev/null 2>&1 \
  || die "no containerd at $ADDR (scripts/cluster.sh up first, or --no-import)"
SNAP=()
[[ -n ${LAMEDUCK_E2E_SNAPSHOTTER:-} ]] && SNAP=(--snapshotter "$LAMEDUCK_E2E_SNAPSHOTTER")
PLATFORM=linux/$(dpkg --print-architecture 2>/dev/null || echo amd64)
ctr_() { "${CTR[@]}" --address "$ADDR" -n k8s.io "$@"; }
while read -r name hash; do
  if ctr_ images ls "name==$name" 2>/dev/null | grep -q "lameduck.e2e.hash=$hash"; then
    log "$name: already in containerd"
    continue
  fi
  log "$name: importing into containerd"
  docker save "$name" | ctr_ images import --platform "$PLATFORM" "${SNAP[@]}" - >/dev/null
  ctr_ images label "$name" "lameduck.e2e.hash=$hash" >/dev/null
done <"$OUT/images.txt"
