#!/usr/bin/env bash
# Build mlops-course/postgres:15 (PostgreSQL 15 from Debian, Dockerfile beside this script)
# and import it into the offline cluster's node, where Katib's overlay for that cluster
# (cluster/components/offline/katib) uses it instead of postgres:14.5-alpine.
# Needs the base image python:3.11-slim (scripts/build_base_image.sh) and the cluster up.
# Run it before `python -m mlops_course.components install katib`; safe to repeat
# (Docker's build cache makes a second build take a second).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
TAG="${POSTGRES_IMAGE_TAG:-mlops-course/postgres:15}"

docker image inspect python:3.11-slim >/dev/null 2>&1 ||
    { echo "error: the base image python:3.11-slim is missing: run sudo scripts/build_base_image.sh" >&2; exit 1; }
start=$SECONDS
# --network host: apt inside the build reaches Debian's mirror the way the host does.
docker build --network host -q -t "$TAG" "$here" >/dev/null
echo "built $TAG in $((SECONDS - start)) s"
[ "${1:-}" = --no-import ] && exit 0
"$repo/cluster/offline/cluster.sh" import "$TAG"
