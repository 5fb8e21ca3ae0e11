#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lameduck benchmarks: one command that builds, installs the peers, measures and reports.
#
#   bench/run.sh                 full run (~4 min of measuring on 2 cores + builds), writes bench/RESULTS.md
#   BENCH_QUICK=1 bench/run.sh   smoke run (~1-2 min; fewer rounds, smaller counts)
#
# It builds lameduck twice from the committed HEAD (exported to build-bench/source, so
# half-done edits in the working tree neither break nor distort the run) -- the
# development build (CMake Release, dynamically linked, in build-bench/dev) and, when
# scripts/build-static.sh is there and works, the static release binary (in
# build-bench-static/) -- compiles the native helper
# (bench/helpers/ldbench.c), installs tini (tini + tini-static), dumb-init, catatonit and
# hyperfine from Debian when missing, then runs bench/bench.py. Needs root (PID
# namespaces). See bench/README.md for what is measured and the knobs
# (BENCH_QUICK, BENCH_ONLY, BENCH_*_ROUNDS, ...).
#
# Environment:
#   BENCH_SOURCE=head|worktree  build from the committed HEAD (default) or the working tree
#   BENCH_LAMEDUCK_DEV=PATH     use this binary as the development build (skip building)
#   BENCH_LAMEDUCK_STATIC=PATH  use this binary as the static build (skip building)
#   BENCH_SKIP_STATIC=1         do not try to build the static binary
#   BENCH_SKIP_DEV=1            no development build (the static binary is the release)
#   BENCH_SKIP_APT=1            never call apt-get (peers must be installed)
#   BENCH_OUT=FILE              report path (default bench/RESULTS.md)
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
WORK=$REPO/build-bench
DEV_BUILD=$WORK/dev
STATIC_BUILD=$REPO/build-bench-static
LOGS=$WORK/logs
JOBS=$(nproc 2>/dev/null || echo 2)

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (the bench starts every init as PID 1 of a new PID namespace)"
START=$(date +%s)
mkdir -p "$WORK" "$LOGS"

# ---- the source to measure ------------------------------------------------------------------
case ${BENCH_SOURCE:-head} in
  head)
    SRC=$WORK/source
    COMMIT=$(git -C "$REPO" rev-parse HEAD) || die "not a git checkout (use BENCH_SOURCE=worktree)"
    if [[ $(cat "$SRC/.bench-commit" 2>/dev/null) != "$COMMIT" ]]; then
      log "exporting HEAD ${COMMIT:0:10} to $SRC"
      # Only files whose content changed are replaced (their mtime moves), so the builds
      # stay incremental from one commit to the next.
      NEW=$WORK/source.new
      rm -rf "$NEW" && mkdir -p "$NEW" "$SRC"
      git -C "$REPO" archive "$COMMIT" | tar -x -C "$NEW"
      (cd "$NEW" && find . -type f -print0) | while IFS= read -r -d '' f; do
        cmp -s "$NEW/$f" "$SRC/$f" || { mkdir -p "$(dirname "$SRC/$f")"; cp -p "$NEW/$f" "$SRC/$f"; touch "$SRC/$f"; }
      done
      (cd "$SRC" && find . -type f ! -name .bench-commit -print0) | while IFS= read -r -d '' f; do
        [[ -e $NEW/$f ]] || rm -f "$SRC/$f"
      done
      rm -rf "$NEW"
      echo "$COMMIT" >"$SRC/.bench-commit"
    fi
    SOURCE_DESC="commit ${COMMIT:0:10}"
    ;;
  worktree)
    SRC=$REPO
    SOURCE_DESC="working tree at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(
      [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] && echo ' with uncommitted changes' || true)"
    ;;
  *) die "BENCH_SOURCE must be head or worktree" ;;
esac

# ---- peers ------------------------------------------------------------------------------
PKGS=(tini dumb-init catatonit hyperfine strace)
missing=()
for p in "${PKGS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ ${BENCH_SKIP_APT:-0} == 1 ]] && die "missing packages: ${missing[*]} (BENCH_SKIP_APT=1)"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || die "apt-get install ${missing[*]} failed"
fi
for b in /usr/bin/tini /usr/bin/tini-static /usr/bin/dumb-init /usr/bin/catatonit; do
  [[ -x $b ]] || die "$b missing after installing the Debian packages"
done

# ---- lameduck: development build ---------------------------------------------------------
LD_DEV=
if [[ ${BENCH_SKIP_DEV:-0} == 1 ]]; then
  log "BENCH_SKIP_DEV=1: no development build in this run"
elif [[ -n ${BENCH_LAMEDUCK_DEV:-} ]]; then
  LD_DEV=$BENCH_LAMEDUCK_DEV
else
  log "building lameduck (development build, Release) in $DEV_BUILD"
  cmake -S "$SRC" -B "$DEV_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PY" -DLAMEDUCK_TESTS=OFF >"$LOGS/build-dev.log" 2>&1 \
    || { tail -30 "$LOGS/build-dev.log" >&2; die "cmake (development build) failed"; }
  ninja -C "$DEV_BUILD" lameduck >>"$LOGS/build-dev.log" 2>&1 \
    || { tail -30 "$LOGS/build-dev.log" >&2; die "building lameduck failed (see $LOGS/build-dev.log)"; }
  LD_DEV=$DEV_BUILD/lameduck
fi
[[ -z $LD_DEV || -x $LD_DEV ]] || die "no development binary at $LD_DEV"

# ---- lameduck: static build (optional: reported as "not built" when it cannot be made) ----
LD_STATIC=
STATIC_WHY=
if [[ -n ${BENCH_LAMEDUCK_STATIC:-} ]]; then
  LD_STATIC=$BENCH_LAMEDUCK_STATIC
elif [[ ${BENCH_SKIP_STATIC:-0} == 1 ]]; then
  STATIC_WHY="skipped (BENCH_SKIP_STATIC=1)"
elif [[ ! -f $SRC/scripts/build-static.sh ]]; then
  STATIC_WHY="scripts/build-static.sh does not exist yet"
else
  SLOG=$LOGS/build-static.log
  log "building the static lameduck (scripts/build-static.sh -> $STATIC_BUILD; log: $SLOG)"
  rm -f "$STATIC_BUILD/lameduck"
  if LAMEDUCK_STATIC_BUILD_DIR=$STATIC_BUILD bash "$SRC/scripts/build-static.sh" >"$SLOG" 2>&1 \
     && [[ -x $STATIC_BUILD/lameduck ]]; then
    LD_STATIC=$STATIC_BUILD/lameduck
  else
    STATIC_WHY="scripts/build-static.sh failed: $(grep -m1 -iE 'error' "$SLOG" | cut -c1-160 || true)"
    [[ $STATIC_WHY == *": " ]] && STATIC_WHY+="$(tail -1 "$SLOG" | cut -c1-160)"
    log "static build failed; the table reports it as not built (see $SLOG)"
  fi
fi

# ---- native helper ------------------------------------------------------------------------
LDBENCH=$WORK/ldbench
log "compiling bench/helpers/ldbench.c"
if ! gcc -O2 -Wall -Wextra -static -o "$LDBENCH" "$BENCH/helpers/ldbench.c" 2>"$LOGS/ldbench.log"; then
  log "static link of the helper failed; linking it dynamically"
  gcc -O2 -Wall -Wextra -o "$LDBENCH" "$BENCH/helpers/ldbench.c" || die "cannot compile the helper"
fi

# ---- measure --------------------------------------------------------------------------------
args=(--ldbench "$LDBENCH" --source "$SRC" --source-desc "$SOURCE_DESC")
if [[ -n $LD_STATIC ]]; then
  args+=(--init "lameduck (static)=$LD_STATIC")
else
  args+=(--missing "lameduck (static)=$STATIC_WHY")
fi
[[ -n $LD_DEV ]] && args+=(--init "lameduck (dev)=$LD_DEV")
args+=(--init "tini-static=/usr/bin/tini-static" --init "tini=/usr/bin/tini"
       --init "dumb-init=/usr/bin/dumb-init" --init "catatonit=/usr/bin/catatonit")
[[ -n ${BENCH_OUT:-} ]] && args+=(--out "$BENCH_OUT")

# Same niceness for the bench and every init (they inherit it): less disturbance from
# whatever else runs on the machine, equally for all.
nice -n "${BENCH_NICE:--10}" "$PY" "$BENCH/bench.py" "${args[@]}"
log "total time including builds: $(( $(date +%s) - START )) s"
