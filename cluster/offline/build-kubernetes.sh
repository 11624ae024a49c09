#!/usr/bin/env bash
# Build the Kubernetes binaries for the offline cluster from the Go module proxy.
#
# k8s.io/kubernetes publishes a go.mod that requires its staging modules
# (k8s.io/api, client-go, ...) at v0.0.0 with replace directives into its own
# source tree, so `go install k8s.io/kubernetes/cmd/...@v1.33.x` fails. A small
# wrapper module requires k8s.io/kubernetes and replaces every staging module
# with its published v0.33.x release instead; the list of staging modules is
# read from the kubernetes go.mod itself, not written here.
#
# Output: $CLUSTER_CACHE/kubernetes-$K8S_VERSION/bin/{kube-apiserver,...}
# The Go build cache makes a second build fast; a finished build is reused.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.33.13}"
CLUSTER_CACHE="${CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-course/cluster}"
OUT="$CLUSTER_CACHE/kubernetes-$K8S_VERSION"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

if [ -f "$OUT/.complete" ]; then
    echo "kubernetes $K8S_VERSION already built in $OUT"
    exit 0
fi
command -v go >/dev/null || { echo "error: Go is needed to build Kubernetes (Debian: apt-get install golang, or https://go.dev/dl)" >&2; exit 1; }

staging_version="v0.${K8S_VERSION#v1.}"
work="$OUT/module"
mkdir -p "$work" "$OUT/bin"
cd "$work"

modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
[ -f "$modfile" ] || { echo "error: could not download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy" >&2; exit 1; }
go_directive="$(awk '$1 == "go" {print $2; exit}' "$modfile")"

{
    echo "module course.local/kubernetes-build"
    echo
    echo "go $go_directive"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print "\t" $1 " => " $1 " '"$staging_version"'"}' "$modfile"
    echo ")"
} >go.mod
# Keep every other dependency at the version Kubernetes itself pins.
awk '/^require \($/ {r=1; print "require ("; next} r && /^\)$/ {r=0; print; next}
     r && $2 != "v0.0.0" {print}' "$modfile" >>go.mod
awk '/^replace \($/ {r=1; next} r && /^\)$/ {r=0; next} r && $2 == "=>" && $3 !~ /^\.\// {print "replace " $0}' "$modfile" >>go.mod
# Blank imports of what each command needs, so that `go mod tidy` records it all.
{
    echo "package main"
    echo
    echo "import ("
    for p in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
        echo "	_ \"k8s.io/kubernetes/cmd/$p/app\""
    done
    echo "	_ \"k8s.io/kubectl/pkg/cmd\""
    echo ")"
    echo
    echo "func main() {}"
} >main.go

GOFLAGS=-mod=mod go mod tidy >/dev/null

major="${K8S_VERSION#v}"; major="${major%%.*}"
minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

for b in "${BINARIES[@]}"; do
    start=$SECONDS
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$OUT/bin/$b" "k8s.io/kubernetes/cmd/$b"
    echo "built $b in $((SECONDS - start)) s"
done
"$OUT/bin/kubectl" version --client
touch "$OUT/.complete"
