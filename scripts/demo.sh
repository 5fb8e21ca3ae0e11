#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# lameduck's zero-downtime demo, from a fresh Debian 12 (bookworm) machine:
#
#   sudo scripts/demo.sh                 # install packages, build, run (a few minutes)
#   sudo scripts/demo.sh --sweep         # the lag sweep instead (30 min; with --jobs 3 about 11)
#   scripts/demo.sh --pods 5 --lag 3s    # options go to demo/run.py (see --help)
#   scripts/demo.sh --cluster [--json F] [--lag 8s]   # the same rollouts on the real
#                                        # one-node cluster (scripts/cluster.sh up first):
#                                        # demo/k8s.py, see its --help
#
# 1. installs what is missing with apt-get (build tools, lameduck's dev packages,
#    haproxy, gnuplot, python3, openssl for the fake API's certificates);
# 2. builds build/lameduck (cmake + ninja; an existing build directory is reused);
# 3. runs demo/run.py: a rolling update of a naive app behind HAProxy, without lameduck,
#    with a fixed 15 s delay, waiting on the EndpointSlices with a fixed settle time, and
#    with lameduck's defaults (EndpointSlices + traffic wait); prints the table and
#    writes demo/results/results.md and demo/results/rollout.png. With --sweep: every
#    configuration over several load balancer lags and traffic modes, written to
#    demo/results/sweep.md, sweep.png and sweep.json.
#
# Own options (before the demo's): --no-install, --no-build. Environment: BUILD_DIR
# (default build). Everything runs in network namespaces made for the run (Pods, the
# "node"), with addresses inside them only; nothing is left running or behind.
set -eu

cd "$(dirname "$0")/.."
install=1
build=1
cluster=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cluster) cluster=1; build=0; shift ;;
        --no-install) install=0; shift ;;
        --no-build) build=0; shift ;;
        *) break ;;
    esac
done
BUILD_DIR=${BUILD_DIR:-build}

PACKAGES="cmake ninja-build g++ pkg-config libspdlog-dev libcurl4-openssl-dev
nlohmann-json3-dev doctest-dev haproxy gnuplot-nox python3 openssl util-linux iproute2
ca-certificates"

if [ "$install" = 1 ]; then
    missing=""
    for p in $PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then sudo=""
        elif command -v sudo >/dev/null; then sudo="sudo"
        else echo "demo.sh: missing packages:$missing (run as root, or install them)" >&2; exit 1
        fi
        echo "demo.sh: installing$missing" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
    fi
fi

if [ "$build" = 1 ]; then
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
        cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DPython3_EXECUTABLE=/usr/bin/python3
    fi
    cmake --build "$BUILD_DIR" --target lameduck
fi

if [ "$cluster" = 1 ]; then
    export DEMO_CMDLINE="scripts/demo.sh --cluster${*:+ $*}"
    exec /usr/bin/python3 demo/k8s.py "$@"
fi
export DEMO_CMDLINE="scripts/demo.sh${*:+ $*}"
exec /usr/bin/python3 demo/run.py --lameduck "$BUILD_DIR/lameduck" "$@"
