#!/usr/bin/env bash
# Build the course's KServe predictor image: ./build.sh [TAG]   (default mlops-course/kserve-predictor:1)
#
# The build context is this folder plus the course modules the model is trained with
# (mlops_course/data.py, split.py, model.py), copied into a scratch folder: the
# repository itself is far too big to send to the daemon. Put it on the cluster's node
# afterwards: kind load docker-image TAG --name mlops-course (python -m mlops_course.cluster
# load_images does the same on either cluster). BUILD_LABEL=key=value labels the image
# (the tests use it to remove what they built).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../../.." && pwd)"
tag="${1:-mlops-course/kserve-predictor:1}"

command -v docker >/dev/null || { echo "error: docker is not installed: the predictor image is built with Docker" >&2; exit 1; }
docker image inspect python:3.11-slim >/dev/null 2>&1 || {
    echo "error: the base image python:3.11-slim is missing: docker pull python:3.11-slim (or scripts/build_base_image.sh offline)" >&2; exit 1; }

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$here"/Dockerfile "$here"/requirements.txt "$here"/train.py "$here"/server.py "$context"/
mkdir "$context/mlops_course"
for module in __init__ data split model; do
    cp "$repo/mlops_course/$module.py" "$context/mlops_course/"
done

labels=()
[ -n "${BUILD_LABEL:-}" ] && labels=(--label "$BUILD_LABEL")
start=$SECONDS
docker build -q "${labels[@]}" -t "$tag" "$context" >/dev/null
echo "built $tag in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))"
