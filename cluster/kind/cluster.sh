#!/usr/bin/env bash
# The learners' cluster: kind (Kubernetes in Docker), one node, pinned.
#
#   cluster/up [COMPONENT ...]   create the cluster if it is not there (or start it), then install components
#   cluster/down                 delete the cluster (safe when there is none)
#   cluster/status               the cluster, its node and the components installed
#
# Components: metrics-server, cert-manager, kfp, katib, kserve, training-operator
# (`cluster/up kserve` also installs cert-manager, which it needs). Each is pinned,
# waited for with a timeout, and checked against the node's memory first.
# All three commands are idempotent: run them as often as you like.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

KIND_VERSION=v0.32.0
# Kubernetes 1.34, the node image kind v0.32.0 was released with for that minor
# version, by digest (see cluster/README.md for where the digest comes from).
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node@sha256:02722c2dedddcfc00febf5d27fbeb9b7b2c14294c82109ff4a85d89ac9ba3256}"
CLUSTER_NAME=mlops-course
NODE_CONTAINER="$CLUSTER_NAME-control-plane"
HOST_PORTS=(30080 30081)
MIN_DOCKER_MEMORY_GIB=6
KIND_BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/mlops-course/bin"

say() { printf '\033[1m[cluster]\033[0m %s\n' "$*" >&2; }
die() {
    printf '\033[1;31m[cluster] error:\033[0m %s\n' "$*" >&2
    exit 1
}

find_kind() {
    local kind
    for kind in "$(command -v kind || true)" "$KIND_BIN_DIR/kind"; do
        if [ -n "$kind" ] && [ -x "$kind" ] && "$kind" version 2>/dev/null | grep -q "kind $KIND_VERSION "; then
            echo "$kind"
            return
        fi
    done
    if command -v go >/dev/null; then
        say "installing kind $KIND_VERSION into $KIND_BIN_DIR (go install)"
        GOBIN="$KIND_BIN_DIR" go install "sigs.k8s.io/kind@$KIND_VERSION" >&2 || die "go install sigs.k8s.io/kind@$KIND_VERSION failed (above)"
        echo "$KIND_BIN_DIR/kind"
        return
    fi
    die "kind $KIND_VERSION is needed: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (macOS: brew install kind; or, with Go: go install sigs.k8s.io/kind@$KIND_VERSION)"
}

preflight_docker() {
    command -v docker >/dev/null || die "kind runs Kubernetes in Docker, and docker is not installed: install Docker Desktop or Docker Engine"
    local err
    if ! err="$(docker info --format '{{.ServerVersion}}' 2>&1)"; then
        case "$err" in
            *"permission denied"*) die "Docker answers, but not to you: add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again)" ;;
            *) die "no Docker daemon answers: start Docker Desktop, or 'sudo systemctl start docker' ($(echo $err))" ;;
        esac
    fi
    local mem_gib
    mem_gib="$(($(docker info --format '{{.MemTotal}}') / 1024 / 1024 / 1024))"
    if [ "$mem_gib" -lt "$MIN_DOCKER_MEMORY_GIB" ]; then
        say "warning: Docker has ${mem_gib} GiB of memory; the cluster tier needs $MIN_DOCKER_MEMORY_GIB GiB and the Kubeflow components more (Docker Desktop: Settings > Resources)"
    fi
}

port_user() { # port: who listens there on this machine, if anyone
    if command -v ss >/dev/null; then
        ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)".*/\1/p' | head -1
    elif command -v lsof >/dev/null; then
        lsof -nP -iTCP:"$1" -sTCP:LISTEN 2>/dev/null | awk 'NR==2 {print $1}'
    fi
}

cluster_exists() { "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; }

components() { # the component installer, from the course's Python environment
    "$ROOT/scripts/course" setup >/dev/null
    "$ROOT/.venv/bin/python" -m mlops_course.components "$@"
}

load_lab_images() {
    # The smoke test's server; labs that build images load them the same way.
    say "building and loading mlops-course/hello:1"
    docker build --quiet -t mlops-course/hello:1 "$ROOT/cluster/offline/images/hello" >/dev/null ||
        die "could not build mlops-course/hello:1 (above): it needs golang:1.25-bookworm from Docker Hub"
    "$KIND" load docker-image mlops-course/hello:1 --name "$CLUSTER_NAME" >&2
}

up() {
    preflight_docker
    KIND="$(find_kind)"
    command -v kubectl >/dev/null || die "kubectl is needed: https://kubernetes.io/docs/tasks/tools/"
    if cluster_exists; then
        if [ "$(docker inspect -f '{{.State.Running}}' "$NODE_CONTAINER" 2>/dev/null)" != true ]; then
            say "starting the stopped node $NODE_CONTAINER"
            docker start "$NODE_CONTAINER" >/dev/null
        else
            say "the $CLUSTER_NAME cluster is already up"
        fi
        "$KIND" export kubeconfig --name "$CLUSTER_NAME" >&2
    else
        local port user
        for port in "${HOST_PORTS[@]}"; do
            user="$(port_user "$port")"
            [ -z "$user" ] || die "port $port on this machine is in use by ${user}: the cluster publishes its NodePorts there; stop ${user} and run cluster/up again"
        done
        say "creating the $CLUSTER_NAME cluster (kind $KIND_VERSION, $KIND_NODE_IMAGE)"
        if ! "$KIND" create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
            --config "$HERE/kind-config.yaml" --wait 180s; then
            "$KIND" delete cluster --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
            die "kind could not create the cluster (above); what was half made is deleted. Run 'cluster/up' again; if it fails the same way, see https://kind.sigs.k8s.io/docs/user/known-issues/"
        fi
    fi
    kubectl wait --for=condition=Ready node --all --timeout=180s >&2 ||
        die "the node is not Ready after 180 s: 'kubectl describe node' says why; 'cluster/down' then 'cluster/up' starts afresh"
    load_lab_images
    if [ $# -gt 0 ]; then
        components install "$@"
    fi
    say "ready: kubectl talks to context kind-$CLUSTER_NAME"
}

down() {
    KIND="$(find_kind)"
    if cluster_exists; then
        say "deleting the $CLUSTER_NAME cluster"
        "$KIND" delete cluster --name "$CLUSTER_NAME" >&2
    else
        say "there is no $CLUSTER_NAME cluster: nothing to do"
    fi
}

status() {
    KIND="$(find_kind)"
    if ! cluster_exists; then
        say "no $CLUSTER_NAME cluster: cluster/up creates it"
        return 1
    fi
    say "kind $KIND_VERSION cluster $CLUSTER_NAME, node container: $(docker inspect -f '{{.State.Status}}' "$NODE_CONTAINER" 2>/dev/null || echo missing)"
    kubectl --context "kind-$CLUSTER_NAME" get nodes -o wide >&2 || die "the cluster does not answer: 'cluster/down' then 'cluster/up'"
    components status
}

cmd="${1:-help}"
[ $# -gt 0 ] && shift
case "$cmd" in
    up) up "$@" ;;
    down) down ;;
    status) status ;;
    kind) find_kind ;; # where kind v0.32.0 is, installing it with Go if it is missing
    install)
        [ $# -gt 0 ] || die "name the components to install: $(components list)"
        components install "$@"
        ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
esac
