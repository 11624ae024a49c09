"""Make a single-layer container image from files on this machine, as a
docker-archive tarball that `ctr images import` (and `docker load`) accept.

    python3 make_image.py NAME:TAG OUTPUT.tar --entrypoint /pause --add /tmp/pause:/pause [--add SRC:DEST ...]

The offline cluster cannot pull images, so the few it needs itself (the pod
sandbox's pause, CoreDNS) are static binaries packed this way. The archive is
reproducible: the same files give the same image digest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def _layer(files: list[tuple[Path, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(p) for _, dest in files for p in Path(dest.lstrip("/")).parents} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        # Controllers write their webhook certificates and caches under /tmp, as in their distroless images.
        info = tarfile.TarInfo("tmp")
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777, 0
        tar.addfile(info)
        for src, dest in sorted(files, key=lambda f: f[1]):
            data = src.read_bytes()
            _add_bytes(tar, dest.lstrip("/"), data, 0o755 if src.stat().st_mode & 0o111 else 0o644)
    return buf.getvalue()


def make_image(name: str, output: Path, files: list[tuple[Path, str]], entrypoint: list[str], cmd: list[str],
               workdir: str = "/", user: str = "") -> str:
    layer = _layer(files)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": ARCH,
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd or None, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                   "WorkingDir": workdir, **({"User": user} if user else {})},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cluster/offline/images/make_image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]
    output.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(output, "w") as tar:
        _add_bytes(tar, config_name, config_bytes)
        _add_bytes(tar, layer_name, layer)
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    return "sha256:" + config_name[:-5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("output", type=Path)
    parser.add_argument("--add", action="append", default=[], metavar="SRC:DEST", required=True)
    parser.add_argument("--entrypoint", nargs="+", required=True)
    parser.add_argument("--cmd", nargs="*", default=[])
    parser.add_argument("--workdir", default="/")
    parser.add_argument("--user", default="", help="the numeric user the image runs as (a distroless image's 65532)")
    args = parser.parse_args()
    files = [(Path(a.split(":", 1)[0]), a.split(":", 1)[1]) for a in args.add]
    print(make_image(args.name, args.output, files, args.entrypoint, args.cmd, args.workdir, args.user))


if __name__ == "__main__":
    main()
