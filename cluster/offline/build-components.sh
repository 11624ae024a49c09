#!/usr/bin/env bash
# Build the Kubeflow components' Go binaries from the Go module proxy, for the
# offline cluster (which can pull no image): cluster/offline/build-components.sh [NAME ...]
#
# Each component is built from a small wrapper module that requires the pinned
# module and copies its `replace` directives: `go install PKG@VERSION` refuses
# modules that have them (KServe), and Katib's commands all end in `v1beta1`,
# which `go install` would give one name. The pins are read from
# mlops_course/components.py (`python -m mlops_course.components builds`), so the
# version built is the version `cluster/up NAME` installs on kind.
#
# Output: $CLUSTER_CACHE/components/NAME-VERSION/BINARY; a binary that is there is
# not built again.
# The Go build cache makes a rebuild after a pin change fast.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CLUSTER_CACHE="${CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-course/cluster}"
PYTHON="${PYTHON:-python3}"

say() { printf '\033[1m[build]\033[0m %s\n' "$*" >&2; }
die() {
    printf '\033[1;31m[build] error:\033[0m %s\n' "$*" >&2
    exit 1
}

command -v go >/dev/null || die "Go is needed to build the components (Debian: apt-get install golang, or https://go.dev/dl)"

# name version module package=binary ..., one component per line
builds="$(cd "$ROOT" && PYTHONPATH="$ROOT" "$PYTHON" -m mlops_course.components builds "$@")" ||
    die "could not read the component pins from mlops_course/components.py (above)"

wrapper_module() { # dir module version: a module that requires MODULE@VERSION with its replace directives
    local dir="$1" module="$2" version="$3" modfile
    mkdir -p "$dir"
    modfile="$(go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$modfile" ] || die "the Go module proxy does not serve $module@$version"
    {
        echo "module course.local/build"
        echo
        awk '$1 == "go" {print; exit}' "$modfile"
        echo
        echo "require $module $version"
        echo
        # Replacements by another module version, not by a local folder (which the zip does not hold).
        awk '/^replace \($/ {r=1; next} r && /^\)$/ {r=0; next}
             r && $2 == "=>" && $3 !~ /^\.\.?\// {print "replace " $0}
             !r && $1 == "replace" && $3 == "=>" && $4 !~ /^\.\.?\// {print}' "$modfile"
    } >"$dir/go.mod"
}

while read -r name version module targets; do
    [ -n "$name" ] || continue
    out="$CLUSTER_CACHE/components/$name-$version"
    # Binary by binary: a command added to a component at the same version is built, the rest kept.
    missing=""
    for target in $targets; do [ -x "$out/${target#*=}" ] || missing+=" $target"; done
    if [ -z "$missing" ]; then
        say "$name $version already built in $out"
        continue
    fi
    work="$CLUSTER_CACHE/components/build/$name-$version"
    wrapper_module "$work" "$module" "$version"
    mkdir -p "$out"
    for target in $missing; do
        pkg="${target%=*}" binary="${target#*=}"
        start=$SECONDS
        # Built beside its final name and moved there: an interrupted build leaves no binary to trust.
        (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$out/$binary.partial" "$pkg") ||
            die "building $pkg ($name $version) failed (above)"
        mv "$out/$binary.partial" "$out/$binary"
        say "built $name $version: $binary in $((SECONDS - start)) s ($(du -m "$out/$binary" | cut -f1) MB)"
    done
done <<<"$builds"
