#!/usr/bin/env bash
# Build the course's base image locally and tag it python:3.11-slim, the name a
# learner's Docker would pull, so the same Dockerfiles work online and offline.
#
# Machines that cannot reach a container registry (the course's CI machine) still reach
# Debian's package mirror: debootstrap makes a minimal Debian bookworm with its
# Python 3.11 and pip, and `docker import` turns it into a one-layer image.
# Needs root and a running Docker daemon. Skips the build if the tag exists
# (FORCE=1 rebuilds).
set -euo pipefail

TAG="${BASE_IMAGE_TAG:-python:3.11-slim}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "$TAG already exists locally"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "error: building the base image needs root (debootstrap): use sudo" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "error: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >/dev/null
# Trust the same extra certificate authorities as this machine (a proxy's CA),
# so that `pip install` and `uv pip install` (with UV_NATIVE_TLS) inside a build work where they work on the host.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
fi
# Debian marks its Python "externally managed"; images use venvs or --break-system-packages knowingly.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'CMD ["python3"]' \
    -m "Debian bookworm minbase + python3, built by scripts/build_base_image.sh" - "$TAG" >/dev/null
echo "built $TAG in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}'))"
