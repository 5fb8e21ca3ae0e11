#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A one-node Kubernetes cluster of plain processes, built from the upstream sources pinned
# in cluster/*/go.mod, for lameduck's end-to-end tests and the demo (as root, Debian 12):
#
#   scripts/cluster.sh build [NAME...]     # build into the cache (a no-op when there)
#   scripts/cluster.sh up                  # build, start everything, wait for a Ready node
#   eval "$(scripts/cluster.sh env)"       # KUBECONFIG, PATH (kubectl, ctr), addresses
#   scripts/cluster.sh status              # what runs, and the node
#   scripts/cluster.sh import IMAGE.tar    # a `docker save` archive into containerd
#   scripts/cluster.sh down                # stop all; nothing is left running or mounted
#
# The node lives in network namespace ldk-node, with its own mount namespace (so the
# kubelet's and containerd's mounts vanish with it). A veth joins it to namespace
# ldk-client, which plays "outside the node" and routes the Pod and Service ranges through
# it. The API server is also on the host's loopback (127.0.0.1:$LAMEDUCK_CLUSTER_API_PORT,
# a socat relay). The host's own routes and iptables are not touched. cluster/README.md
# lists the names, addresses and paths that tests rely on.
#
# Environment: LAMEDUCK_CLUSTER_CACHE (binaries, default /var/cache/lameduck-cluster),
# LAMEDUCK_CLUSTER_DIR (state, logs; default /var/lib/lameduck-cluster: wiped by `up`, kept
# by `down` for the logs), LAMEDUCK_CLUSTER_API_PORT (default 16443),
# LAMEDUCK_CLUSTER_PROXY_MODE (iptables, the default, or nftables),
# LAMEDUCK_CLUSTER_TIMEOUT (seconds `up` waits for the node, default 300).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LAMEDUCK_CLUSTER_CACHE:-/var/cache/lameduck-cluster}
# LAMEDUCK_CLUSTER_INSTANCE=N (1-9) runs a second cluster beside the default one: its
# namespaces, directories, cgroup root and host port get the suffix -N (port 16443+N).
INSTANCE=${LAMEDUCK_CLUSTER_INSTANCE:-}
[[ -z $INSTANCE || $INSTANCE =~ ^[1-9]$ ]] || { echo "LAMEDUCK_CLUSTER_INSTANCE: 1-9" >&2; exit 2; }
SUFFIX=${INSTANCE:+-$INSTANCE}
STATE=${LAMEDUCK_CLUSTER_DIR:-/var/lib/lameduck-cluster$SUFFIX}
RUN=/run/lameduck-cluster$SUFFIX
API_PORT=${LAMEDUCK_CLUSTER_API_PORT:-$((16443 + ${INSTANCE:-0}))}
PROXY_MODE=${LAMEDUCK_CLUSTER_PROXY_MODE:-iptables}
TIMEOUT=${LAMEDUCK_CLUSTER_TIMEOUT:-300}

NODE_NS=ldk-node$SUFFIX
CLIENT_NS=ldk-client$SUFFIX
NODE_NAME=ldk-node
NODE_IP=10.201.0.1
CLIENT_IP=10.201.0.2
POD_CIDR=10.202.0.0/24
SERVICE_CIDR=10.203.0.0/24
API_SERVICE_IP=10.203.0.1
PAUSE_IMAGE=lameduck.local/pause:3.10
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
ISSUER=https://kubernetes.default.svc.cluster.local
# ctr warns at every call that containerd deprecates cgroup v1 (still supported until 2029).
export CONTAINERD_SUPPRESS_DEPRECATION_WARNINGS=1
# Everything the node starts; `down` stops them in the reverse order.
COMPONENTS=(etcd kube-apiserver api-relay kube-controller-manager kube-scheduler containerd
            kubelet kube-proxy)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# --- versions and binaries ---------------------------------------------------------------

modver() {  # module dir, module path: the version go.mod pins
  awk -v m="$2" '$1 == "require" { $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' \
    "$ROOT/cluster/$1/go.mod"
}
KUBE_VERSION=$(modver kube k8s.io/kubernetes)
ETCD_VERSION=$(modver etcd go.etcd.io/etcd/server/v3)
CONTAINERD_VERSION=$(modver containerd github.com/containerd/containerd/v2)
RUNC_VERSION=$(modver runc github.com/opencontainers/runc)
CNI_VERSION=$(modver cni github.com/containernetworking/plugins)
KUBE_BIN=$CACHE/kubernetes-$KUBE_VERSION/bin
ETCD_BIN=$CACHE/etcd-$ETCD_VERSION/bin
CONTAINERD_BIN=$CACHE/containerd-$CONTAINERD_VERSION/bin
RUNC_BIN=$CACHE/runc-$RUNC_VERSION/bin
CNI_BIN=$CACHE/cni-plugins-$CNI_VERSION/bin

# go_build NAME VERSION MODULE-DIR CGO TAGS LDFLAGS PACKAGE...: builds into
# $CACHE/NAME-VERSION/bin, or does nothing when that is there. GOCACHE and GOMODCACHE
# come from the environment (a cold build: point both at empty directories).
go_build() {
  local name=$1 version=$2 dir=$3 cgo=$4 tags=$5 ldflags=$6
  shift 6
  [[ -n $version ]] || die "no version of $name in cluster/$dir/go.mod"
  [[ $only == *" $name "* ]] || return 0
  # The directory is keyed by version; a change of recipe (flags, tags, go.sum, Go) in the
  # same version builds again.
  local out=$CACHE/$name-$version recipe
  recipe=$({ printf '%s\n' "$cgo" "$tags" "$ldflags" "$@" "$(go version)"
             cat "$ROOT/cluster/$dir/go.sum"; } | sha256sum | cut -c1-16)
  if [[ -f $out/.complete && $(head -n 1 "$out/.complete") == "recipe $recipe" ]]; then
    return 0
  fi
  log "building $name $version"
  local tmp=$out.tmp.$$ start=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  (cd "$ROOT/cluster/$dir" &&
    CGO_ENABLED=$cgo GOFLAGS=-buildvcs=false go build -trimpath -tags "$tags" \
      -ldflags "$ldflags" -o "$tmp/bin/" "$@")
  # etcd's main package is go.etcd.io/etcd/server/v3: go build names it "server".
  if [[ -f $tmp/bin/server ]]; then mv "$tmp/bin/server" "$tmp/bin/etcd"; fi
  printf 'recipe %s\n%s %s built in %s s with %s\n' "$recipe" "$name" "$version" \
    "$((SECONDS - start))" "$(go version)" >"$tmp/.complete"
  rm -rf "$out"
  mv "$tmp" "$out"
  log "$name $version: $((SECONDS - start)) s"
}

# cmd_build [COMPONENT...]: all of them by default (kubernetes etcd containerd runc cni-plugins).
cmd_build() {
  local only=" ${*:-kubernetes etcd containerd runc cni-plugins} "
  command -v go >/dev/null || die "go is not installed (the Go toolchain is needed to build the cluster)"
  mkdir -p "$CACHE"
  local kminor=${KUBE_VERSION#v1.}
  kminor=${kminor%%.*}
  local kv=k8s.io/component-base/version
  go_build kubernetes "$KUBE_VERSION" kube 0 "" \
    "-s -w -X $kv.gitVersion=$KUBE_VERSION -X $kv.gitMajor=1 -X $kv.gitMinor=$kminor \
     -X $kv.gitTreeState=clean -X $kv.buildDate=1970-01-01T00:00:00Z" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl
  go_build etcd "$ETCD_VERSION" etcd 0 "" \
    "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3
  local cv=github.com/containerd/containerd/v2/version
  go_build containerd "$CONTAINERD_VERSION" containerd 0 \
    "no_btrfs no_devmapper no_zfs no_systemd urfave_cli_no_docs" \
    "-s -w -X $cv.Version=$CONTAINERD_VERSION -X $cv.Revision=$CONTAINERD_VERSION \
     -X $cv.Package=github.com/containerd/containerd" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  # runc's nsenter is C: cgo, linked statically (glibc, libseccomp: containerd gives the
  # pause container its default seccomp profile, so runc needs seccomp).
  go_build runc "$RUNC_VERSION" runc 1 "seccomp urfave_cli_no_docs netgo osusergo" \
    "-s -w -X main.version=${RUNC_VERSION#v} -X main.gitCommit=$RUNC_VERSION -extldflags -static" \
    github.com/opencontainers/runc
  go_build cni-plugins "$CNI_VERSION" cni 0 "" \
    "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
    github.com/containernetworking/plugins/plugins/main/bridge \
    github.com/containernetworking/plugins/plugins/ipam/host-local \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/meta/portmap
}

# --- host packages -------------------------------------------------------------------------

PACKAGES=(iptables nftables conntrack openssl socat iproute2 util-linux curl gcc libc6-dev
          libseccomp-dev pkg-config)

install_packages() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# --- running inside the node ---------------------------------------------------------------

# in_node CMD...: runs CMD in the node's network and mount namespaces.
in_node() {
  nsenter --mount="$RUN/ns/mnt" --net="/run/netns/$NODE_NS" -- "$@"
}

# start NAME CMD...: starts a component in the node, its output in $STATE/log/NAME.log.
start() {
  local name=$1
  shift
  # nsenter and setsid exec (no fork), so $! is the component's own pid. setsid: its own
  # session, so it outlives this script and no terminal signal reaches it.
  nsenter --mount="$RUN/ns/mnt" --net="/run/netns/$NODE_NS" -- setsid "$@" \
    >>"$STATE/log/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/pid/$name"
  log "started $name (pid $!)"
}

running() {  # NAME: true when the component's recorded process is alive
  local pid
  pid=$(cat "$RUN/pid/$1" 2>/dev/null) || return 1
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# wait_for WHAT SECONDS NAME CMD...: polls CMD until it succeeds; fails (with the end of
# NAME's log) after SECONDS or when NAME's process has exited.
wait_for() {
  local what=$1 secs=$2 name=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 30 "$STATE/log/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $STATE/log/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$STATE/log/$name.log" >&2 || true
      die "timed out after $secs s waiting for $what (log: $STATE/log/$name.log)"
    fi
    sleep 1
  done
}

kc() {  # kubectl as cluster-admin, from inside the node
  in_node "$KUBE_BIN/kubectl" --kubeconfig "$STATE/pki/admin-node.kubeconfig" "$@"
}

# --- certificates and configuration --------------------------------------------------------

pki() {
  local d=$STATE/pki
  mkdir -p "$d"
  cd "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=lameduck-cluster-ca" -days 3650 -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  # cert NAME SUBJECT EXTENDED-KEY-USAGE [SUBJECT-ALT-NAMES]
  cert() {
    openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null
    {
      echo "basicConstraints=critical,CA:FALSE"
      echo "keyUsage=critical,digitalSignature,keyEncipherment"
      echo "extendedKeyUsage=$3"
      if [[ -n ${4:-} ]]; then echo "subjectAltName=$4"; fi
    } >"$1.ext"
    openssl req -new -key "$1.key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.ext"
  }
  cert apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$API_SERVICE_IP,IP:$NODE_IP,IP:127.0.0.1"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=lameduck-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  cert kube-proxy "/CN=system:kube-proxy" clientAuth
  cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  cert kubelet "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  # kubeconfig NAME CERT SERVER
  kubeconfig() {
    cat >"$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lameduck
  cluster:
    certificate-authority: $d/ca.crt
    server: $3
users:
- name: $2
  user:
    client-certificate: $d/$2.crt
    client-key: $d/$2.key
contexts:
- name: lameduck
  context: {cluster: lameduck, user: $2}
current-context: lameduck
EOF
  }
  local api=https://$NODE_IP:6443
  kubeconfig admin admin "https://127.0.0.1:$API_PORT"
  kubeconfig admin-node admin "$api"
  kubeconfig controller-manager controller-manager "$api"
  kubeconfig scheduler scheduler "$api"
  kubeconfig kube-proxy kube-proxy "$api"
  kubeconfig kubelet kubelet-client "$api"
  chmod 600 ./*.key
  cd - >/dev/null
}

configs() {
  mkdir -p "$STATE/cni/net.d" "$STATE/config"
  cat >"$STATE/cni/net.d/10-lameduck.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "lameduck",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "ldk-br0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$STATE/config/containerd.toml" <<EOF
version = 3
root = "$STATE/containerd"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # No process here may lower its oom_score_adj (CAP_SYS_RESOURCE is not in the bounding
  # set), so the kubelet's -998 for the pause container and -997 for Guaranteed Pods fail
  # in runc ("failed to update /proc/self/oom_score_adj: Permission denied"): keep them at
  # or above containerd's own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC_BIN/runc"
        Root = "$RUN/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN"]
    conf_dir = "$STATE/cni/net.d"
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
EOF
  cat >"$STATE/config/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization:
  mode: Webhook
tlsCertFile: $STATE/pki/kubelet.crt
tlsPrivateKeyFile: $STATE/pki/kubelet.key
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
resolvConf: $STATE/config/resolv.conf
enforceNodeAllocatable: [pods]
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
shutdownGracePeriod: 0s
EOF
  # Pods have no cluster DNS (no DNS add-on): an empty resolv.conf keeps the host's
  # resolvers out of them.
  : >"$STATE/config/resolv.conf"
  cat >"$STATE/config/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $STATE/pki/kube-proxy.kubeconfig
mode: $PROXY_MODE
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
EOF
}

# --- cgroups ----------------------------------------------------------------------------------

# The kubelet's cgroup root (cgroup v1, cgroupfs driver), the same path in every hierarchy,
# beside Docker's /docker. It holds kubepods and the Pods; `down` removes it.
CGROUP_ROOT=/lameduck-cluster$SUFFIX

# The hierarchies where the kubelet and runc make cgroups (the v1 ones mounted here, and
# the hybrid layout's cgroup2 "unified", where runc mirrors each container).
cgroup_dirs() {
  local c
  for c in cpu cpuacct cpuset memory pids blkio devices freezer hugetlb systemd unified; do
    if [[ -d /sys/fs/cgroup/$c ]]; then echo "/sys/fs/cgroup/$c"; fi
  done
}

make_cgroup_root() {
  local h
  for h in $(cgroup_dirs); do
    mkdir -p "$h$CGROUP_ROOT"
    if [[ $h == */cpuset ]]; then  # a v1 cpuset starts empty: copy the parent's
      cat "$h/cpuset.cpus" >"$h$CGROUP_ROOT/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h$CGROUP_ROOT/cpuset.mems"
    fi
  done
}

# Every process in the cgroup root's subtree (the Pods' containers).
cgroup_pids() {
  local h
  for h in $(cgroup_dirs); do
    if [[ -d $h$CGROUP_ROOT ]]; then
      find "$h$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
    fi
  done | sort -u
}

remove_cgroup_root() {
  local h
  for h in $(cgroup_dirs); do
    if [[ -d $h$CGROUP_ROOT ]]; then
      find "$h$CGROUP_ROOT" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    fi
  done
}


# --- namespaces ----------------------------------------------------------------------------

netns_up() {
  ip netns add "$NODE_NS"
  ip netns add "$CLIENT_NS"
  ip link add ldk-n0 netns "$NODE_NS" type veth peer name ldk-c0 netns "$CLIENT_NS"
  ip -n "$NODE_NS" link set lo up
  ip -n "$NODE_NS" addr add "$NODE_IP/24" dev ldk-n0
  ip -n "$NODE_NS" link set ldk-n0 up
  # A default route, so components that look for "the host's interface" find one.
  ip -n "$NODE_NS" route add default via "$CLIENT_IP"
  ip -n "$CLIENT_NS" link set lo up
  ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev ldk-c0
  ip -n "$CLIENT_NS" link set ldk-c0 up
  ip -n "$CLIENT_NS" route add "$POD_CIDR" via "$NODE_IP"
  ip -n "$CLIENT_NS" route add "$SERVICE_CIDR" via "$NODE_IP"
  ip netns exec "$NODE_NS" sysctl -q -w net.ipv4.ip_forward=1 \
    net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
}

# The node's mount namespace, kept by a bind mount of its file: its /sys is one that shows
# the node's network devices (the cgroup mounts carried over), /run/containerd is a tmpfs
# (the shims' sockets; the host's containerd keeps its own), /var/log is $STATE/varlog
# (the kubelet writes /var/log/pods and /var/log/containers there) and /var/lib/cni is
# $STATE/cni/var (libcni's cache; on the host an empty directory, made if missing and then
# removed by down).
#
# The kubelet sets six kernel tunables at start (vm.overcommit_memory=1, vm.panic_on_oom=0,
# kernel.panic=10, kernel.panic_on_oops=1, kernel.keys.root_maxkeys=1000000,
# kernel.keys.root_maxbytes=25000000): these are the host's, not the namespace's, and a
# panic on oops would be a poor thing to leave on a shared machine. So in the node's mount
# namespace a file holding the kubelet's value is bind-mounted over each one that differs:
# the kubelet reads its value and leaves the host's as it is.
KUBELET_SYSCTLS=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10
                 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000
                 kernel/keys/root_maxbytes=25000000)

mountns_up() {
  mkdir -p "$RUN/ns" "$STATE/varlog" "$STATE/cni/var" "$STATE/sysctl"
  local kv key file masks=""
  : >"$STATE/sysctl/host"  # the host's values at up (tests check that they stay)
  for kv in "${KUBELET_SYSCTLS[@]}"; do
    key=${kv%%=*}
    file=$STATE/sysctl/${key//\//.}
    echo "$key $(cat "/proc/sys/$key")" >>"$STATE/sysctl/host"
    if [[ $(cat "/proc/sys/$key") != "${kv#*=}" ]]; then
      echo "${kv#*=}" >"$file"
      masks+="mount --bind '$file' '/proc/sys/$key'; "
    fi
  done
  if ! mountpoint -q "$RUN/ns"; then
    mount --bind "$RUN/ns" "$RUN/ns"
    mount --make-private "$RUN/ns"
  fi
  # libcni's cache is /var/lib/cni, fixed: a mount point for it, removed by down if made here.
  if [[ ! -d /var/lib/cni ]]; then
    mkdir /var/lib/cni
    touch "$RUN/made-var-lib-cni"
  fi
  touch "$RUN/ns/mnt"
  unshare --mount="$RUN/ns/mnt" --propagation slave true
  mkdir -p "$RUN/ns-cgroup"
  nsenter --mount="$RUN/ns/mnt" --net="/run/netns/$NODE_NS" -- /bin/sh -euc "
    mount --rbind /sys/fs/cgroup '$RUN/ns-cgroup'
    umount -l /sys
    mount -t sysfs sysfs /sys
    mount --move '$RUN/ns-cgroup' /sys/fs/cgroup
    mount -t tmpfs -o mode=0711 tmpfs /run/containerd 2>/dev/null ||
      { mkdir -p /run/containerd && mount -t tmpfs -o mode=0711 tmpfs /run/containerd; }
    mount --bind '$STATE/varlog' /var/log
    mount --bind '$STATE/cni/var' /var/lib/cni
    $masks
    mount --make-rshared /
  "
}

# --- up ------------------------------------------------------------------------------------

cmd_up() {
  if running kube-apiserver && running kubelet && [[ -e /run/netns/$NODE_NS ]]; then
    log "already up"
    cmd_env
    return 0
  fi
  if [[ -e $RUN || -e /run/netns/$NODE_NS || -e /run/netns/$CLIENT_NS ]]; then
    log "a previous cluster is partly there: taking it down first"
    cmd_down
  fi
  install_packages
  cmd_build
  local t0=$SECONDS
  rm -rf "$STATE"
  mkdir -p "$STATE/log" "$RUN/pid" "$RUN/containerd"
  pki
  configs
  netns_up
  mountns_up
  make_cgroup_root

  start etcd "$ETCD_BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:2380" --log-level warn \
    --quota-backend-bytes 2147483648 --unsafe-no-fsync
  wait_for "etcd" 60 etcd in_node curl -fsS http://127.0.0.1:2379/health

  local p=$STATE/pki
  start kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$NODE_IP" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=true \
    --client-ca-file "$p/ca.crt" --tls-cert-file "$p/apiserver.crt" \
    --tls-private-key-file "$p/apiserver.key" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$p/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer "$ISSUER" --service-account-key-file "$p/sa.pub" \
    --service-account-signing-key-file "$p/sa.key" \
    --profiling=false
  wait_for "the API server" 180 kube-apiserver kc get --raw /readyz

  # The host's way in: 127.0.0.1:$API_PORT -> a unix socket -> the API server in the node.
  start api-relay socat "UNIX-LISTEN:$RUN/api.sock,fork,unlink-early,mode=600" \
    "TCP:$NODE_IP:6443"
  # setsid, as start() does: the relay must outlive the shell that ran `up`.
  setsid socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$RUN/api.sock" \
    >>"$STATE/log/api-relay-host.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN/pid/api-relay-host"

  start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig "$p/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$p/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$p/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false
  start kube-scheduler "$KUBE_BIN/kube-scheduler" \
    --kubeconfig "$p/scheduler.kubeconfig" \
    --authentication-kubeconfig "$p/scheduler.kubeconfig" \
    --authorization-kubeconfig "$p/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

  start containerd env PATH="$CONTAINERD_BIN:$RUNC_BIN:$PATH" \
    "$CONTAINERD_BIN/containerd" --config "$STATE/config/containerd.toml"
  wait_for "containerd" 60 containerd \
    "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" version

  start kubelet "$KUBE_BIN/kubelet" --config "$STATE/config/kubelet.yaml" \
    --kubeconfig "$p/kubelet.kubeconfig" --root-dir "$STATE/kubelet" \
    --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
  start kube-proxy "$KUBE_BIN/kube-proxy" --config "$STATE/config/kube-proxy.yaml"

  wait_for "node $NODE_NAME to be Ready" "$TIMEOUT" kubelet node_ready
  wait_for "the default ServiceAccount" 60 kube-controller-manager \
    kc get serviceaccount default -n default
  log "up in $((SECONDS - t0)) s: node $NODE_NAME Ready (kubernetes $KUBE_VERSION)"
  cmd_env
}

node_ready() {
  [[ $(kc get node "$NODE_NAME" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# --- down ------------------------------------------------------------------------------------

stop_pid() {  # PID: SIGTERM, then SIGKILL after 10 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# Processes in the node's mount namespace (the components and containerd's shims).
node_pids() {
  local ino pid
  [[ -e $RUN/ns/mnt ]] || return 0
  ino=$(stat -L -c %i "$RUN/ns/mnt" 2>/dev/null) || return 0
  for pid in /proc/[0-9]*; do
    if [[ $(stat -L -c %i "$pid/ns/mnt" 2>/dev/null) == "$ino" ]]; then echo "${pid#/proc/}"; fi
  done
}

cmd_down() {
  local i name pid
  # The kubelet first (so it does not restart what goes away), then the rest in reverse.
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    name=${COMPONENTS[i]}
    if [[ $name == kubelet || $name == kube-proxy ]]; then
      pid=$(cat "$RUN/pid/$name" 2>/dev/null) && stop_pid "$pid"
    fi
  done
  # The Pods' processes (below the kubelet's cgroup root), then everything left in the
  # node's mount namespace (containerd, its shims, the control plane).
  for pid in $(cgroup_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    pid=$(cat "$RUN/pid/${COMPONENTS[i]}" 2>/dev/null) && stop_pid "$pid"
  done
  pid=$(cat "$RUN/pid/api-relay-host" 2>/dev/null) && stop_pid "$pid"
  for i in 1 2 3; do
    pid=$(node_pids)
    [[ -n $pid ]] || break
    # shellcheck disable=SC2086
    kill -KILL $pid 2>/dev/null || true
    sleep 0.5
  done
  for i in 1 2 3 4 5; do
    [[ -n $(cgroup_pids) ]] || break
    for pid in $(cgroup_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.5
  done
  remove_cgroup_root
  if [[ -e $RUN/ns/mnt ]]; then umount "$RUN/ns/mnt" 2>/dev/null || true; fi
  if mountpoint -q "$RUN/ns" 2>/dev/null; then umount "$RUN/ns" 2>/dev/null || true; fi
  ip netns del "$NODE_NS" 2>/dev/null || true
  ip netns del "$CLIENT_NS" 2>/dev/null || true
  # Mounts that escaped to the host (none should): anything under the state directories.
  local m
  for m in $(awk -v s="$STATE" -v r="$RUN" 'index($5, s) == 1 || index($5, r) == 1 { print $5 }' \
    /proc/self/mountinfo | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  if [[ -e $RUN/made-var-lib-cni ]]; then rmdir /var/lib/cni 2>/dev/null || true; fi
  rm -rf "$RUN"
  local left h
  left=$(awk -v s="$STATE" -v r="$RUN" 'index($5, s) == 1 || index($5, r) == 1' /proc/self/mountinfo)
  [[ -z $left ]] || die "mounts left behind: $left"
  for h in $(cgroup_dirs); do
    [[ ! -d $h$CGROUP_ROOT ]] || die "cgroup left behind: $h$CGROUP_ROOT"
  done
  log "down"
}

# --- status, env, import ---------------------------------------------------------------------

cmd_status() {
  local name rc=0
  for name in "${COMPONENTS[@]}"; do
    if running "$name"; then
      printf '%-24s running (pid %s)\n' "$name" "$(cat "$RUN/pid/$name")"
    else
      printf '%-24s not running\n' "$name"
      rc=1
    fi
  done
  if running kube-apiserver; then
    kc get nodes -o wide || rc=1
  fi
  return $rc
}

cmd_env() {
  # PATH is written out whole (not "...:$PATH"), so a reader that does not expand
  # variables (tests/e2e parses these lines) gets a working one too.
  local path=$PATH
  if [[ :$path: != *":$KUBE_BIN:"* ]]; then path=$KUBE_BIN:$CONTAINERD_BIN:$path; fi
  path=$(printf %q "$path")
  cat <<EOF
export KUBECONFIG=$STATE/pki/admin.kubeconfig
export PATH=$path
export LAMEDUCK_CLUSTER_NODE_NETNS=$NODE_NS
export LAMEDUCK_CLUSTER_OUTSIDE_NETNS=$CLIENT_NS
export LAMEDUCK_CLUSTER_NODE_IP=$NODE_IP
export LAMEDUCK_CLUSTER_POD_CIDR=$POD_CIDR
export LAMEDUCK_CLUSTER_SERVICE_CIDR=$SERVICE_CIDR
export CONTAINERD_ADDRESS=$CONTAINERD_SOCK
export LAMEDUCK_CLUSTER_CTR=$CONTAINERD_BIN/ctr
export LAMEDUCK_CLUSTER_LOGS=$STATE/varlog
export LAMEDUCK_CLUSTER_DIR=$STATE
export LAMEDUCK_CLUSTER_KUBELET_DIR=$STATE/kubelet
export LAMEDUCK_CLUSTER_MOUNT_NS=$RUN/ns/mnt
export CONTAINERD_SUPPRESS_DEPRECATION_WARNINGS=1
EOF
}

cmd_import() {
  (($#)) || die "usage: scripts/cluster.sh import IMAGE.tar..."
  local f
  for f in "$@"; do
    "$CONTAINERD_BIN/ctr" --address "$CONTAINERD_SOCK" -n k8s.io images import \
      --platform linux/amd64 "$f"
  done
}

usage() {
  sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then return 0; fi  # sourced (for debugging): functions only
[[ $(id -u) == 0 ]] || die "run as root"
case "${1:-}" in
  up | down | build)  # one at a time (several work trees share the one cluster and cache)
    exec 9>"/run/lameduck-cluster$SUFFIX.lock"
    flock 9 ;;
esac
case "${1:-}" in
  build) shift; cmd_build "$@" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  import) shift; cmd_import "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
