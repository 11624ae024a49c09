#!/usr/bin/env bash
# The offline cluster: a real single-node Kubernetes built from source, for
# machines that cannot pull kind's node image (CI here). Needs root on Linux.
#
#   cluster/offline/cluster.sh up       build what is missing, start, wait for a Ready node
#   cluster/offline/cluster.sh down     stop everything and clean up (safe after a failed up)
#   cluster/offline/cluster.sh status   what runs, and the node's state
#   cluster/offline/cluster.sh env      print `export KUBECONFIG=... PATH=...` for a shell
#   cluster/offline/cluster.sh preflight   only the checks `up` starts with (root, packages, memory, ports)
#   cluster/offline/cluster.sh import IMAGE ...   Docker images into the node (kind load docker-image, here)
#   cluster/offline/cluster.sh images   pack and import the components built since `up` (build-components.sh)
#
# Components: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy as host processes; containerd + runc as the runtime;
# the CNI bridge plugin for pod networking; CoreDNS as a Deployment. Images
# the cluster needs (pause, CoreDNS) are built here and imported into containerd.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="${K8S_VERSION:-v1.33.13}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.21}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.1}"
CLUSTER_CACHE="${CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-course/cluster}"
STATE="${CLUSTER_STATE:-/var/lib/mlops-course-cluster}"
BIN="$CLUSTER_CACHE/kubernetes-$K8S_VERSION/bin"
TOOLS="$CLUSTER_CACHE/tools"

# Addresses: the node gets its own address on the loopback interface, so the
# cluster neither depends on nor listens on the machine's real network, while
# pods (in their own network namespaces) can still reach the API server.
NODE_IP=10.200.0.1
NODE_NAME=mlops-course
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1
DNS_SERVICE_IP=10.96.0.10
BRIDGE=mlops-cni0
PORTS=(6443 2379 2380 10250 10248 10257 10259 10256 10249)
COMPONENTS=(etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)

say() { printf '\033[1m[cluster]\033[0m %s\n' "$*" >&2; }
die() {
    printf '\033[1;31m[cluster] error:\033[0m %s\n' "$*" >&2
    exit 1
}

kubectl() { "$BIN/kubectl" --kubeconfig "$STATE/pki/admin.kubeconfig" "$@"; }

# --- preflight -------------------------------------------------------------------

preflight() {
    [ "$(uname -s)" = Linux ] || die "the offline cluster runs on Linux only; on macOS and Windows use kind (cluster/up)"
    [ "$(id -u)" = 0 ] || die "the offline cluster needs root (it runs containerd, kubelet and iptables): use sudo"
    local need
    for need in containerd runc iptables openssl ip; do
        command -v "$need" >/dev/null || die "$need is missing: apt-get install containerd runc containernetworking-plugins iptables conntrack openssl iproute2"
    done
    [ -x /usr/lib/cni/bridge ] || die "the CNI plugins are missing: apt-get install containernetworking-plugins"
    # ldd exits 1 on a static binary, so its output is matched, not piped (pipefail).
    case "$(ldd /bin/busybox 2>&1 || true)" in *"not a dynamic"*) ;; *) false ;; esac ||
        die "a static busybox is missing (the storage helper pods' shell): apt-get install busybox-static"
    local avail_kb need_mib="${CLUSTER_MIN_MEMORY_MIB:-2048}"
    avail_kb="$(awk '/MemAvailable/ {print $2}' /proc/meminfo)"
    [ "$avail_kb" -ge $((need_mib * 1024)) ] ||
        die "only $((avail_kb / 1024)) MiB of memory available; the cluster needs $need_mib MiB: close other programs"
    local port
    for port in "${PORTS[@]}"; do
        if ss -ltnH "sport = :$port" | grep -q .; then
            die "port $port is in use ($(ss -ltnpH "sport = :$port" | sed -n 's/.*users:((\"\([^\"]*\)\".*/\1/p' | head -1)); stop it, or run '$0 down' if it is a leftover cluster"
        fi
    done
}

# --- binaries and images ------------------------------------------------------------

build() {
    command -v go >/dev/null || die "Go is needed to build the cluster (the image has it; Debian: apt-get install golang)"
    # Progress goes to stderr: stdout carries only what `up` prints for eval.
    K8S_VERSION="$K8S_VERSION" CLUSTER_CACHE="$CLUSTER_CACHE" "$HERE/build-kubernetes.sh" >&2
    mkdir -p "$TOOLS"
    if [ ! -x "$TOOLS/etcd-$ETCD_VERSION" ]; then
        say "building etcd $ETCD_VERSION"
        build_go_main "$TOOLS/etcd-$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
            'import ("os"; "go.etcd.io/etcd/server/v3/etcdmain")' 'etcdmain.Main(os.Args)'
    fi
    if [ ! -x "$TOOLS/coredns-$COREDNS_VERSION" ]; then
        say "building CoreDNS $COREDNS_VERSION"
        CGO_ENABLED=0 GOBIN="$TOOLS/gobin" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
        mv "$TOOLS/gobin/coredns" "$TOOLS/coredns-$COREDNS_VERSION"
    fi
    if [ ! -x "$TOOLS/hello" ] || [ "$HERE/images/hello/main.go" -nt "$TOOLS/hello" ]; then
        say "building the smoke test's hello server"
        (cd "$HERE/images/hello" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$TOOLS/hello" .)
    fi
    if [ ! -x "$TOOLS/pause" ]; then
        say "building pause"
        gcc -static -O2 -o "$TOOLS/pause" "$HERE/images/pause.c"
    fi
}

# A main package around a library entry point, in its own throwaway module.
build_go_main() {
    local out="$1" module="$2" imports="$3" body="$4" dir
    dir="$(mktemp -d)"
    (
        cd "$dir"
        printf 'module course.local/build\n\ngo 1.24\n' >go.mod
        printf 'package main\n\n%s\n\nfunc main() { %s }\n' "$imports" "$body" >main.go
        GOFLAGS=-mod=mod go get "$module" >/dev/null 2>&1
        CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out" .
    )
    rm -rf "$dir"
}

images() {
    local tar="$STATE/images"
    mkdir -p "$tar"
    python3 "$HERE/images/make_image.py" registry.k8s.io/pause:3.10 "$tar/pause.tar" \
        --add "$TOOLS/pause:/pause" --entrypoint /pause >/dev/null
    python3 "$HERE/images/make_image.py" "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" "$tar/coredns.tar" \
        --add "$TOOLS/coredns-$COREDNS_VERSION:/coredns" --entrypoint /coredns >/dev/null
    python3 "$HERE/images/make_image.py" mlops-course/hello:1 "$tar/hello.tar" \
        --add "$TOOLS/hello:/hello" --entrypoint /hello --cmd serve >/dev/null
    # local-path-provisioner's helper pods run `/bin/sh /script/setup|teardown` (mkdir, rm): Debian's
    # static busybox runs those applets from its shell without symlinks, so one file is the image.
    python3 "$HERE/images/make_image.py" mlops-course/busybox:1 "$tar/busybox.tar" \
        --add /bin/busybox:/bin/sh --entrypoint /bin/sh >/dev/null
    component_images "$tar"
    local t
    for t in "$tar"/*.tar "$CLUSTER_CACHE"/images/*.tar; do
        [ -f "$t" ] || continue
        ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import "$t" >/dev/null ||
            die "containerd could not import $t: delete it and build it again"
    done
}

# The Kubeflow components' binaries (cluster/offline/build-components.sh), each packed
# as the upstream image it replaces; those not built are left out.
component_images() {
    local tar="$1" file image entrypoint workdir user
    while read -r file image entrypoint workdir user; do
        [ -x "$CLUSTER_CACHE/components/$file" ] || continue
        python3 "$HERE/images/make_image.py" "$image" "$tar/component-${file//\//-}.tar" \
            --add "$CLUSTER_CACHE/components/$file:$entrypoint" --entrypoint "$entrypoint" \
            --workdir "$workdir" ${user:+--user "$user"} >/dev/null
    done < <(cd "$HERE/../.." && python3 -m mlops_course.components images)
}

# `import IMAGE ...`: Docker images into the running node (what `kind load docker-image` does on kind).
import_images() {
    [ -S "$STATE/containerd/containerd.sock" ] || die "the offline cluster is not up: $0 up"
    [ $# -gt 0 ] || die "name the Docker images to import"
    docker save "$@" | ctr --address "$STATE/containerd/containerd.sock" -n k8s.io images import - >/dev/null ||
        die "could not import $* into the node (above): are they built? docker images $*"
    say "imported $* into the node"
}

# --- certificates -------------------------------------------------------------------

cert() { # name, subject, [extensions]
    local name="$1" subject="$2" ext="${3:-}"
    local pki="$STATE/pki"
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n%s\n' "$ext" >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
        -days 365 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}

kubeconfig() { # name, user cert
    local name="$1" user="$2" pki="$STATE/pki"
    "$BIN/kubectl" config set-cluster course --server "https://$NODE_IP:6443" --certificate-authority "$pki/ca.crt" \
        --embed-certs --kubeconfig "$pki/$name.kubeconfig" >/dev/null
    "$BIN/kubectl" config set-credentials "$user" --client-certificate "$pki/$user.crt" --client-key "$pki/$user.key" \
        --embed-certs --kubeconfig "$pki/$name.kubeconfig" >/dev/null
    "$BIN/kubectl" config set-context course --cluster course --user "$user" --kubeconfig "$pki/$name.kubeconfig" >/dev/null
    "$BIN/kubectl" config use-context course --kubeconfig "$pki/$name.kubeconfig" >/dev/null
}

certificates() {
    local pki="$STATE/pki"
    [ -f "$pki/admin.kubeconfig" ] && return
    mkdir -p "$pki"
    chmod 700 "$pki"
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -subj "/CN=mlops-course-ca" -days 365 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out "$pki/ca.crt" 2>/dev/null
    cert apiserver "/CN=kube-apiserver" \
        "subjectAltName=IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
    cert admin "/O=system:masters/CN=course-admin"
    cert controller-manager "/CN=system:kube-controller-manager"
    cert scheduler "/CN=system:kube-scheduler"
    cert kube-proxy "/CN=system:kube-proxy"
    cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "subjectAltName=IP:$NODE_IP,DNS:$NODE_NAME"
    # The aggregation layer (metrics-server's metrics.k8s.io) authenticates the API server's
    # proxied requests with a client certificate from a CA of its own, as kubeadm sets it up.
    openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/front-proxy-ca.key" -subj "/CN=front-proxy-ca" -days 365 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -out "$pki/front-proxy-ca.crt" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/front-proxy-client.key" -subj "/CN=front-proxy-client" \
        -out "$pki/front-proxy-client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$pki/front-proxy-client.ext"
    openssl x509 -req -in "$pki/front-proxy-client.csr" -CA "$pki/front-proxy-ca.crt" -CAkey "$pki/front-proxy-ca.key" \
        -CAcreateserial -days 365 -extfile "$pki/front-proxy-client.ext" -out "$pki/front-proxy-client.crt" 2>/dev/null
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    kubeconfig admin admin
    kubeconfig controller-manager controller-manager
    kubeconfig scheduler scheduler
    kubeconfig kube-proxy kube-proxy
    kubeconfig kubelet kubelet
}

# --- network ------------------------------------------------------------------------

network() {
    # Marks this state folder as the owner of the node address, the bridge and
    # the packet-filter chains, which down removes only then.
    touch "$STATE/owns-network"
    ip addr show dev lo | grep -q " $NODE_IP/" || ip addr add "$NODE_IP/32" dev lo
    sysctl -qw net.ipv4.ip_forward=1
    # Docker sets the FORWARD policy to DROP; pod traffic must pass whatever it is.
    local dir
    for dir in -s -d; do
        iptables -C FORWARD "$dir" "$POD_CIDR" -m comment --comment mlops-course-pods -j ACCEPT 2>/dev/null ||
            iptables -I FORWARD 1 "$dir" "$POD_CIDR" -m comment --comment mlops-course-pods -j ACCEPT
    done
    sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
    mkdir -p "$STATE/cni/net.d"
    cat >"$STATE/cni/net.d/10-mlops-course.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "mlops-course",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "$STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

# --- processes ----------------------------------------------------------------------

start() { # name, command...
    local name="$1"
    shift
    mkdir -p "$STATE/logs" "$STATE/run"
    if [ -f "$STATE/run/$name.pid" ] && kill -0 "$(cat "$STATE/run/$name.pid")" 2>/dev/null; then
        return
    fi
    setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/run/$name.pid"
}

wait_for() { # what, seconds, command...
    local what="$1" seconds="$2"
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            say "$what did not become ready in $seconds s; the last log lines:"
            local log
            for log in "$STATE"/logs/*.log; do
                echo "--- $(basename "$log")" >&2
                tail -5 "$log" >&2
            done
            die "$what never became ready: run '$0 down', check the logs in $STATE/logs, then try again"
        fi
        sleep 1
    done
}

https_ok() { curl -sf --cacert "$STATE/pki/ca.crt" --cert "$STATE/pki/admin.crt" --key "$STATE/pki/admin.key" "$1"; }

start_control_plane() {
    local pki="$STATE/pki"
    start etcd "$TOOLS/etcd-$ETCD_VERSION" --name course --data-dir "$STATE/etcd" \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster course=http://127.0.0.1:2380 --listen-metrics-urls "" --quota-backend-bytes 1073741824
    wait_for etcd 60 curl -sf http://127.0.0.1:2379/health

    start kube-apiserver "$BIN/kube-apiserver" \
        --etcd-servers http://127.0.0.1:2379 \
        --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
        --service-cluster-ip-range "$SERVICE_CIDR" \
        --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
        --allow-privileged=true --profiling=false \
        --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
        --enable-aggregator-routing=true
    wait_for kube-apiserver 120 https_ok "https://$NODE_IP:6443/readyz"

    start kube-controller-manager "$BIN/kube-controller-manager" \
        --kubeconfig "$pki/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$pki/controller-manager.kubeconfig" --authorization-kubeconfig "$pki/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
        --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
        --use-service-account-credentials --service-cluster-ip-range "$SERVICE_CIDR" --leader-elect=false --profiling=false
    start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$pki/scheduler.kubeconfig" \
        --authentication-kubeconfig "$pki/scheduler.kubeconfig" --authorization-kubeconfig "$pki/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

start_node() {
    local pki="$STATE/pki"
    mkdir -p "$STATE/containerd" "$STATE/kubelet"
    cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$STATE/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # Without CAP_SYS_RESOURCE no process may lower an oom_score_adj: clamp
  # the values the kubelet asks for instead of failing every container.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
EOF
    start containerd containerd --config "$STATE/containerd/config.toml"
    wait_for containerd 30 ctr --address "$STATE/containerd/containerd.sock" version
    images

    cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet.crt
tlsPrivateKeyFile: $pki/kubelet.key
containerRuntimeEndpoint: unix://$STATE/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDomain: cluster.local
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: /etc/resolv.conf
podCIDR: $POD_CIDR
maxPods: 60
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
featureGates:
  # The machine lacks CAP_SYS_RESOURCE: let the kubelet tolerate the
  # oom_score_adj and sysctl writes it cannot make, as in rootless clusters.
  KubeletInUserNamespace: true
EOF
    # The label tells the component installer which cluster this is (kind's node has none).
    start kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" --kubeconfig "$pki/kubelet.kubeconfig" \
        --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$STATE/kubelet/root" \
        --node-labels mlops-course/cluster=offline

    start kube-proxy "$BIN/kube-proxy" --kubeconfig "$pki/kube-proxy.kubeconfig" --proxy-mode iptables \
        --cluster-cidr "$POD_CIDR" --hostname-override "$NODE_NAME" --bind-address "$NODE_IP" \
        --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 \
        --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0
    wait_for "the node" 120 node_ready
}

node_ready() { kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True; }

addons() {
    sed -e "s/@DNS_SERVICE_IP@/$DNS_SERVICE_IP/" -e "s/@COREDNS_VERSION@/$COREDNS_VERSION/" "$HERE/manifests/coredns.yaml" |
        kubectl apply -f - >/dev/null
    wait_for CoreDNS 120 kubectl -n kube-system rollout status deployment/coredns --timeout 5s
}

# --- teardown -----------------------------------------------------------------------

down() {
    [ "$(id -u)" = 0 ] || die "tearing down the offline cluster needs root: use sudo"
    local name pid
    # The kubelet first, so it does not restart what is being stopped.
    for name in kubelet kube-proxy; do stop_process "$name"; done
    if [ -S "$STATE/containerd/containerd.sock" ]; then
        local c
        for c in $(ctr --address "$STATE/containerd/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr --address "$STATE/containerd/containerd.sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
        done
        sleep 1
    fi
    for name in containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_process "$name"; done
    # Stray shims and pod processes whose parent is gone.
    pkill -f "containerd-shim-runc-v2 -namespace k8s.io -address $STATE/" 2>/dev/null || true
    # Mounts: pod volumes, sandbox network namespaces, overlay snapshots.
    awk -v s="$STATE" '$2 ~ "^"s {print $2}' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    [ -f "$STATE/owns-network" ] && clean_network
    rm -rf "$STATE"
    say "the offline cluster is down and cleaned up"
}

clean_network() {
    # Packet-filter rules: kube-proxy removes its own; then drop every KUBE-
    # and CNI- chain left (the kubelet's canaries, the bridge plugin's masquerade),
    # for IPv4 and IPv6, keeping everything else (Docker's rules, say).
    [ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
    local family table rules
    for family in iptables ip6tables; do
        for table in filter nat mangle; do
            rules="$("$family-save" -t "$table" 2>/dev/null)" || continue
            grep -q -E 'KUBE-|CNI-' <<<"$rules" || continue
            grep -v -E -- '-j (KUBE-|CNI-)|^:(KUBE-|CNI-)|-A (KUBE-|CNI-)' <<<"$rules" | "$family-restore" -T "$table" 2>/dev/null || true
        done
    done
    local dir
    for dir in -s -d; do
        while iptables -D FORWARD "$dir" "$POD_CIDR" -m comment --comment mlops-course-pods -j ACCEPT 2>/dev/null; do :; done
    done
    # Network: the pod bridge, veths left on it, the node's address.
    local name
    for name in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//'); do
        ip link delete "$name" 2>/dev/null || true
    done
    ip link delete "$BRIDGE" 2>/dev/null || true
    ip addr del "$NODE_IP/32" dev lo 2>/dev/null || true
}

stop_process() {
    local name="$1" pidfile="$STATE/run/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

status() {
    local name
    for name in "${COMPONENTS[@]}"; do
        if [ -f "$STATE/run/$name.pid" ] && kill -0 "$(cat "$STATE/run/$name.pid")" 2>/dev/null; then
            printf '%-24s running (pid %s)\n' "$name" "$(cat "$STATE/run/$name.pid")"
        else
            printf '%-24s not running\n' "$name"
        fi
    done
    [ -f "$STATE/pki/admin.kubeconfig" ] && kubectl get nodes -o wide 2>/dev/null || true
}

up() {
    preflight
    if [ -d "$STATE" ]; then
        say "found a previous cluster's state in $STATE: cleaning it up first"
        down
    fi
    local start_time=$SECONDS
    build
    mkdir -p "$STATE"
    network
    certificates
    start_control_plane
    start_node
    addons
    say "cluster ready in $((SECONDS - start_time)) s"
    env_lines
}

env_lines() {
    echo "export KUBECONFIG=$STATE/pki/admin.kubeconfig"
    echo "export PATH=$BIN:\$PATH"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) env_lines ;;
    preflight) preflight ;;
    build) build ;;
    import) shift; import_images "$@" ;;
    images) # pack and import what has been built since up (build-components.sh, then this)
        [ -S "$STATE/containerd/containerd.sock" ] || die "the offline cluster is not up: $0 up"
        images ;;
    *) die "usage: $0 up|down|status|env|preflight|build|import IMAGE..." ;;
esac
