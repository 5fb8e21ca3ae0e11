#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A local `debian:bookworm` Docker image, for building Dockerfile.static where no registry
# can be reached: debootstrap (minbase) from the Debian archive that apt on this machine
# uses, then `docker import`. Then, optionally, the build of Dockerfile.static itself.
#
#   scripts/debian-base.sh                 make debian:bookworm (cached)
#   scripts/debian-base.sh --build-static  also `docker build -f Dockerfile.static -t lameduck:static .`
#
# Cached twice: the root filesystem as a tarball under $LAMEDUCK_DEBIAN_CACHE (default
# ~/.cache/lameduck-debian), and the image itself (skipped when debian:bookworm already
# carries this script's label). The image's apt sources are the machine's own Debian
# entries (/etc/apt/sources.list.d/debian.sources), so apt inside it reaches the same
# archive; the builds run with the host's network and its name for that archive.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${LAMEDUCK_DEBIAN_CACHE:-$HOME/.cache/lameduck-debian}
SUITE=bookworm
ARCH=$(dpkg --print-architecture)
IMAGE=debian:$SUITE
LABEL=lameduck.debian-base=$SUITE-$ARCH-minbase-1
SOURCES=/etc/apt/sources.list.d/debian.sources

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'debian-base: error: %s\n' "$*" >&2; exit 1; }

[[ -r $SOURCES ]] || die "no $SOURCES (Debian's deb822 sources) on this machine"
# The first URI of the first stanza (the main archive, not -security).
MIRROR=$(awk '/^URIs:/ {print $2; exit}' "$SOURCES")
[[ -n $MIRROR ]] || die "no URIs: line in $SOURCES"
# docker --add-host for every archive host, as this machine resolves it
ADD_HOSTS=()
for h in $(awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' "$SOURCES" | sed -E 's|^[a-z]+://([^/:]+).*|\1|' | sort -u); do
  ip=$(getent hosts "$h" | awk '{print $1; exit}') || true
  [[ -n $ip ]] && ADD_HOSTS+=(--add-host "$h:$ip")
done

if [[ $(docker image inspect -f '{{ index .Config.Labels "lameduck.debian-base" }}' "$IMAGE" 2>/dev/null) == "${LABEL#*=}" ]]; then
  log "$IMAGE: up to date"
else
  tarball=$CACHE/$SUITE-$ARCH-minbase.tar
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || {
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
    }
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    log "debootstrap $SUITE ($ARCH, minbase) into $root"
    start=$SECONDS
    debootstrap --variant=minbase --arch "$ARCH" "$SUITE" "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
    # apt inside the image: the same Debian entries and Acquire::Check-* settings as here
    rm -f "$root/etc/apt/sources.list"
    cp "$SOURCES" "$root/etc/apt/sources.list.d/debian.sources"
    apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' >"$root/etc/apt/apt.conf.d/90lameduck" || true
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
    trap - EXIT
    log "debootstrap took $((SECONDS - start)) s"
  fi
  log "docker import $tarball as $IMAGE"
  docker import --change "LABEL $LABEL" --change 'CMD ["bash"]' \
    --change 'ENV LANG=C.UTF-8' "$tarball" "$IMAGE" >/dev/null
fi

if [[ ${1:-} == --build-static ]]; then
  log "docker build -f Dockerfile.static -t lameduck:static ."
  start=$SECONDS
  # The classic builder (no buildx here) has no automatic platform arguments: give them.
  DOCKER_BUILDKIT=0 docker build --network host "${ADD_HOSTS[@]}" \
    --build-arg BUILDPLATFORM="linux/$ARCH" --build-arg TARGETARCH="$ARCH" \
    -f Dockerfile.static -t lameduck:static . >&2
  log "Dockerfile.static built in $((SECONDS - start)) s"
  # the binary out of the image, checked like the host's static build
  out=build-e2e/dockerfile-static
  mkdir -p "$out"
  docker rm -f lameduck-static-check >/dev/null 2>&1 || true
  docker create --name lameduck-static-check lameduck:static >/dev/null
  docker cp lameduck-static-check:/lameduck "$out/lameduck"
  docker rm lameduck-static-check >/dev/null
  bash scripts/check-static.sh "$out/lameduck"
  log "$out/lameduck: $("$out/lameduck" version)"
fi
